"""Checks on the survey inputs: bricks with sane geometry, sweep rows with unique identifiers."""

import numpy as np
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from dhs_assets.catalog.assets import survey_bricks, sweep_catalog
from dhs_assets.resources import DataRoot
from dhs_core.tables import read_table


@asset_check(asset=survey_bricks, blocking=True, description="Brick names unique, every brick of positive area.")
def bricks_geometry_valid(data_root: DataRoot) -> AssetCheckResult:
    table = read_table(data_root.path, "survey_bricks", columns=["brickname", "area_deg2"])
    names = table["brickname"].to_pylist()
    area = table["area_deg2"].to_numpy()
    duplicates = len(names) - len(set(names))
    bad_area = int(np.sum(~(area > 0)))
    return AssetCheckResult(passed=duplicates == 0 and bad_area == 0,
                            metadata={"duplicate_names": duplicates, "non_positive_area": bad_area})


@asset_check(asset=sweep_catalog, blocking=True, description="(brickname, objid) unique within the sweep file.")
def sweep_rows_unique(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    partition = context.run.tags.get("dagster/partition")
    table = read_table(data_root.path, "sweep_catalog", partition, columns=["brickname", "objid"])
    keys = set(zip(table["brickname"].to_pylist(), table["objid"].to_pylist()))
    duplicates = table.num_rows - len(keys)
    return AssetCheckResult(passed=duplicates == 0, severity=AssetCheckSeverity.ERROR,
                            metadata={"rows": table.num_rows, "duplicate_ids": duplicates, "partition": partition or ""})
