"""The stamps domain: the injected stamps and the survey files they found missing."""

from dagster import Definitions

from dhs_assets.stamps.assets import coverage_gaps, injected_stamps
from dhs_assets.stamps.checks import STAMP_CHECKS


def stamps_definitions() -> Definitions:
    return Definitions(assets=[injected_stamps, coverage_gaps], asset_checks=STAMP_CHECKS)
