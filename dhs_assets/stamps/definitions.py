"""The stamps domain: the galaxy cutout cache, the injected stamps and the survey files found missing."""

from dagster import Definitions

from dhs_assets.stamps.assets import coverage_gaps, injected_stamps
from dhs_assets.stamps.checks import STAMP_CHECKS
from dhs_assets.stamps.cutouts import galaxy_cutouts


def stamps_definitions() -> Definitions:
    return Definitions(assets=[galaxy_cutouts, injected_stamps, coverage_gaps], asset_checks=STAMP_CHECKS)
