"""The diagnostics domain: per-partition stamp QA, the training-set report and the leakage checks."""

from dagster import Definitions

from dhs_assets.diagnostics.assets import shortcut_report, stamp_diagnostics
from dhs_assets.diagnostics.checks import DIAGNOSTIC_CHECKS


def diagnostics_definitions() -> Definitions:
    return Definitions(assets=[stamp_diagnostics, shortcut_report], asset_checks=DIAGNOSTIC_CHECKS)
