"""Checks of the catalogue phase; the blocking ones stop bad data from flowing on."""

import numpy as np
import pyarrow.compute as pc
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetKey, asset_check

from dhs_assets.catalog.assets import parent_sample, survey_bricks, sweep_lrgs
from dhs_assets.catalog.partitions import partitions_of_run, split_partitions
from dhs_assets.metadata import latest_metadata
from dhs_assets.resources import DataRoot
from dhs_core.catalog.build_regions import realised_fractions
from dhs_core.catalog.lrg import VARIANT_FLAGS
from dhs_core.catalog.splits import SPLITS, SplitConfig
from dhs_core.survey.bricks import brick_neighbours
from dhs_core.tables import materialized_partitions, read_table


def _partition(context: AssetCheckExecutionContext) -> str:
    return context.run.tags.get("dagster/partition", "")


def _splits(context: AssetCheckExecutionContext) -> list[str]:
    return partitions_of_run(context, split_partitions)


@asset_check(asset=survey_bricks, blocking=True, description="Brick names unique, every brick of positive area.")
def bricks_geometry_valid(data_root: DataRoot) -> AssetCheckResult:
    table = read_table(data_root.path, "survey_bricks", columns=["brickname", "area_deg2"])
    duplicates = table.num_rows - len(set(table["brickname"].to_pylist()))
    bad_area = int(np.sum(~(table["area_deg2"].to_numpy() > 0)))
    return AssetCheckResult(passed=duplicates == 0 and bad_area == 0,
                            metadata={"duplicate_names": duplicates, "non_positive_area": bad_area})


@asset_check(asset=sweep_lrgs, blocking=True, description=(
    "No PSF-type object, r/z/W1 fluxes positive, (brickname, objid) unique, variants nested v1 in ... in v5."))
def sweep_lrgs_valid(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    table = read_table(data_root.path, "sweep_lrgs", _partition(context))
    psf = int(pc.sum(pc.equal(table["type"], "PSF")).as_py() or 0)
    bad_flux = sum(int(pc.sum(pc.less_equal(table[f"flux_{b}"], 0)).as_py() or 0) for b in ("r", "z", "w1"))
    duplicates = table.num_rows - len(set(zip(table["brickname"].to_pylist(), table["objid"].to_pylist())))
    flags = [table[f].to_numpy(zero_copy_only=False) for f in VARIANT_FLAGS]
    not_nested = sum(int(np.sum(inner & ~outer)) for inner, outer in zip(flags[:-1], flags[1:]))
    return AssetCheckResult(passed=psf == 0 and bad_flux == 0 and duplicates == 0 and not_nested == 0, metadata={
        "psf_rows": psf, "non_positive_flux": bad_flux, "duplicate_ids": duplicates, "nesting_violations": not_nested})


@asset_check(asset=AssetKey("region_bricks"), blocking=True, description=(
    "Splits are disjoint: no brick and no region in two splits; with a guard band, no two kept bricks of "
    "different splits closer than the band; with region splits, no empty split and realised LRG fractions "
    "within tolerance (from enough regions). Fractions are reported in every mode."))
def splits_disjoint(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    bricks = read_table(data_root.path, "region_bricks")
    meta = latest_metadata(context.instance, AssetKey("region_bricks"))
    names = bricks["brickname"].to_pylist()
    duplicate_bricks = len(names) - len(set(names))
    per_region = {}
    for region, split in zip(bricks["region_id"].to_pylist(), bricks["split"].to_pylist()):
        per_region.setdefault(region, set()).add(split)
    defaults = SplitConfig()
    mode = meta.get("split_mode", defaults.mode)
    regions_in_two = sum(len(s) > 1 for s in per_region.values()) if mode != "brick_hash" else 0
    band = float(meta.get("split_guard_band_arcsec", defaults.guard_band_arcsec))
    close_pairs = 0
    if band > 0:
        kept = bricks.filter(pc.invert(bricks["guard_dropped"]))
        split_of = dict(zip(kept["brickname"].to_pylist(), kept["split"].to_pylist()))
        pairs = brick_neighbours(kept, tolerance_deg=band / 3600.0 * 0.999)
        close_pairs = sum(split_of[a] != split_of[b] for a, b in zip(pairs["brickname"].to_pylist(), pairs["neighbour"].to_pylist()))
    fractions = realised_fractions(bricks)
    targets = [float(x) for x in meta.get("split_fractions", defaults.fractions)]
    tolerance = float(meta.get("split_tolerance", defaults.tolerance))
    enough = len(per_region) >= int(meta.get("split_min_regions_for_tolerance", defaults.min_regions_for_tolerance))
    off = max(abs(fractions[s] - t) for s, t in zip(SPLITS, targets))
    empty = [s for s, t in zip(SPLITS, targets) if t > 0 and fractions[s] == 0]
    balanced = mode != "region" or ((off <= tolerance or not enough) and not empty)  # what region rebalancing promises
    passed = duplicate_bricks == 0 and regions_in_two == 0 and close_pairs == 0 and balanced
    return AssetCheckResult(passed=passed, metadata={
        "duplicate_bricks": duplicate_bricks, "regions_in_two_splits": regions_in_two, "close_pairs_across_splits": close_pairs,
        "empty_splits": ", ".join(empty), "max_fraction_deviation": off, "tolerance_applies": enough,
        **{f"lrg_fraction_{k}": v for k, v in fractions.items()}})


@asset_check(asset=parent_sample, blocking=True, description=(
    "No duplicate (brickname, objid), in this split or across splits; every row's region is selected; "
    "every row carries this partition's split."))
def parent_sample_valid(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    selected = set(read_table(data_root.path, "region_selections", None, columns=["region_id"])["region_id"].to_pylist())
    counts = {"rows": 0, "duplicate_ids": 0, "rows_in_unselected_regions": 0, "rows_with_other_split": 0, "galaxies_also_in_other_splits": 0}
    for split in _splits(context):
        table = read_table(data_root.path, "parent_sample", split, columns=["brickname", "objid", "region_id", "split"])
        keys = set(zip(table["brickname"].to_pylist(), table["objid"].to_pylist()))
        counts["rows"] += table.num_rows
        counts["duplicate_ids"] += table.num_rows - len(keys)
        counts["rows_in_unselected_regions"] += sum(r not in selected for r in table["region_id"].to_pylist())
        counts["rows_with_other_split"] += sum(s != split for s in table["split"].to_pylist())
        for other in materialized_partitions(data_root.path, "parent_sample"):
            if other != split:
                theirs = read_table(data_root.path, "parent_sample", other, columns=["brickname", "objid"])
                counts["galaxies_also_in_other_splits"] += len(keys & set(zip(theirs["brickname"].to_pylist(), theirs["objid"].to_pylist())))
    return AssetCheckResult(passed=all(v == 0 for k, v in counts.items() if k != "rows"), metadata=counts)
