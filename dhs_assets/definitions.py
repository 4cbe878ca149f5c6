"""The Dagster definitions of dhs, loaded by ``workspace.yaml`` and by ``dhs demo``."""

from __future__ import annotations

from dagster import Definitions

from dhs_assets.catalog.assets import survey_bricks, sweep_catalog
from dhs_assets.catalog.checks import bricks_geometry_valid, sweep_rows_unique
from dhs_assets.catalog.sensors import sweep_file_sensor
from dhs_assets.resources import default_resources

ASSETS = [survey_bricks, sweep_catalog]
CHECKS = [bricks_geometry_valid, sweep_rows_unique]

defs = Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    sensors=[sweep_file_sensor],
    resources=default_resources(),
)
