"""The catalogue domain: the bricks table, the LRGs of each sweep, regions, selection sets, the parent sample."""

from dagster import Definitions

from dhs_assets.catalog.assets import (
    brick_lrg_counts,
    parent_sample,
    region_selections,
    regions,
    survey_bricks,
    sweep_lrgs,
)
from dhs_assets.catalog.checks import CATALOG_CHECKS
from dhs_assets.catalog.sensors import sweep_file_sensor


def catalog_definitions() -> Definitions:
    return Definitions(
        assets=[survey_bricks, sweep_lrgs, brick_lrg_counts, regions, region_selections, parent_sample],
        asset_checks=CATALOG_CHECKS,
        sensors=[sweep_file_sensor],
    )
