"""The Dagster definitions of dhs, loaded by ``workspace.yaml`` and by ``dhs demo``."""

from dagster import Definitions, in_process_executor

from dhs_assets.automation import MISSING_ON_TICK, PHASE_JOBS, backfill_missing
from dhs_assets.bank.assets import source_bank
from dhs_assets.bank.checks import BANK_CHECKS
from dhs_assets.catalog.assets import (
    brick_lrg_counts,
    parent_sample,
    region_selections,
    regions,
    survey_bricks,
    sweep_lrgs,
)
from dhs_assets.catalog.checks import (
    bricks_geometry_valid,
    galaxies_have_bricks,
    parent_sample_valid,
    splits_disjoint,
    sweep_lrgs_drops,
    sweep_lrgs_valid,
)
from dhs_assets.catalog.sensors import sweep_file_sensor
from dhs_assets.diagnostics.assets import shortcut_report, stamp_diagnostics
from dhs_assets.diagnostics.checks import DIAGNOSTIC_CHECKS
from dhs_assets.manifest.assets import injection_manifest
from dhs_assets.manifest.checks import MANIFEST_CHECKS
from dhs_assets.resources import default_resources
from dhs_assets.stamps.assets import coverage_gaps, injected_stamps
from dhs_assets.stamps.checks import STAMP_CHECKS

ASSETS = [
    asset.with_attributes(automation_condition=MISSING_ON_TICK)
    for asset in (
        survey_bricks,
        sweep_lrgs,
        brick_lrg_counts,
        regions,
        region_selections,
        parent_sample,
        source_bank,
        injection_manifest,
        injected_stamps,
        coverage_gaps,
        stamp_diagnostics,
        shortcut_report,
    )
]
CHECKS = [
    bricks_geometry_valid,
    sweep_lrgs_valid,
    sweep_lrgs_drops,
    galaxies_have_bricks,
    splits_disjoint,
    parent_sample_valid,
    *MANIFEST_CHECKS,
    *BANK_CHECKS,
    *STAMP_CHECKS,
    *DIAGNOSTIC_CHECKS,
]

defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    sensors=[sweep_file_sensor, backfill_missing],
    jobs=PHASE_JOBS,
    resources=default_resources(),
    # a run's steps in its own process, one after another: on a small machine a process per step costs
    # seconds of imports each; parallelism comes from partitions (two runs at a time, dagster_home/dagster.yaml)
    # and, inside injected_stamps, from its worker processes
    executor=in_process_executor,
)
