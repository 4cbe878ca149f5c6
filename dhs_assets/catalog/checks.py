"""Checks of the catalogue phase; the blocking ones stop bad data from flowing on."""

import numpy as np
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetKey, asset_check

from dhs_assets.catalog.assets import parent_sample, survey_bricks, sweep_lrgs
from dhs_assets.catalog.partitions import partitions_of_run, split_partitions
from dhs_assets.metadata import latest_metadata
from dhs_assets.resources import DataRoot
from dhs_core.asset_names import (
    KNOWN_LENSES,
    PARENT_SAMPLE,
    REGION_BRICKS,
    REGION_SELECTIONS,
    SURVEY_BRICKS,
    SWEEP_LRGS,
)
from dhs_core.catalog.lrg import BASE_CUT_REASONS
from dhs_core.catalog.parent import ParentConfig
from dhs_core.catalog.splits import SplitConfig
from dhs_core.catalog.validation import (
    MAX_GALAXY_FRACTION_WITHOUT_BRICK,
    split_findings,
    sweep_drop_problems,
    sweep_lrgs_problems,
)
from dhs_core.evaluate.known_lenses import nearest_known_lens
from dhs_core.tables import materialized_partitions, read_table


def _partition(context: AssetCheckExecutionContext) -> str:
    return context.run.tags.get("dagster/partition", "")


def _splits(context: AssetCheckExecutionContext) -> list[str]:
    return partitions_of_run(context, split_partitions)


@asset_check(
    asset=survey_bricks, blocking=True, description="Brick names unique, every brick of positive area."
)
def bricks_geometry_valid(data_root: DataRoot) -> AssetCheckResult:
    table = read_table(data_root.path, SURVEY_BRICKS, columns=["brickname", "area_deg2"])
    duplicates = table.num_rows - len(set(table["brickname"].to_pylist()))
    bad_area = int(np.sum(~(table["area_deg2"].to_numpy() > 0)))
    return AssetCheckResult(
        passed=duplicates == 0 and bad_area == 0,
        metadata={"duplicate_names": duplicates, "non_positive_area": bad_area},
    )


@asset_check(
    asset=sweep_lrgs,
    blocking=True,
    description=(
        "Values where they enter: no PSF-type object, r/z/W1 fluxes positive, (brickname, objid) unique, variants nested "
        "v1 in ... in v5; RA in [0, 360) and Dec in [-90, 90]; every brick name in the bricks table and every position "
        'inside its brick (1"); g/r/z/W1 fluxes finite and no r or z magnitude brighter than 10; MASKBITS >= 0.'
    ),
)
def sweep_lrgs_valid(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    table = read_table(data_root.path, SWEEP_LRGS, _partition(context))
    bricks = read_table(data_root.path, SURVEY_BRICKS, columns=["brickname", "ra1", "ra2", "dec1", "dec2"])
    problems = sweep_lrgs_problems(table, bricks)
    return AssetCheckResult(passed=not any(problems.values()), metadata=problems)


@asset_check(
    asset=sweep_lrgs,
    blocking=True,
    description=(
        "Every row the base cuts removed is counted by reason (asset metadata dropped_*); the sweep file is not empty (its "
        "bricks would get no galaxy) and at most 1 % of its rows were removed for invalid values (non-finite magnitudes)."
    ),
)
def sweep_lrgs_drops(context: AssetCheckExecutionContext) -> AssetCheckResult:
    meta = latest_metadata(context.instance, sweep_lrgs.key, _partition(context))
    drops = {reason: int(meta.get(f"dropped_{reason}", 0)) for reason in BASE_CUT_REASONS}
    problems = sweep_drop_problems(int(meta["sweep_rows"]), drops)
    return AssetCheckResult(
        passed=not any(problems.values()),
        metadata={
            "sweep_file": str(meta.get("sweep_file", "")),
            "sweep_rows": int(meta["sweep_rows"]),
            **problems,
            **{f"dropped_{k}": v for k, v in drops.items()},
        },
    )


@asset_check(
    asset=AssetKey(REGION_BRICKS),
    blocking=True,
    description=(
        "No galaxy is lost between the sweeps and the regions: bricks of the sweeps that the bricks table does not list "
        "(their galaxies would silently leave every later phase) hold at most 0 % of the galaxies."
    ),
)
def galaxies_have_bricks(context: AssetCheckExecutionContext) -> AssetCheckResult:
    meta = latest_metadata(context.instance, AssetKey(REGION_BRICKS))
    fraction = float(meta.get("galaxy_fraction_without_brick", 0.0))
    return AssetCheckResult(
        passed=fraction <= MAX_GALAXY_FRACTION_WITHOUT_BRICK,
        metadata={
            key: meta.get(key, 0)
            for key in (
                "bricks_not_in_bricks_table",
                "galaxies_without_brick",
                "v3_lrgs_without_brick",
                "galaxy_fraction_without_brick",
                "bricks_not_in_bricks_table_examples",
            )
        },
    )


@asset_check(
    asset=AssetKey(REGION_BRICKS),
    blocking=True,
    description=(
        "Splits are disjoint: no brick and no region in two splits; with a guard band, no two kept bricks of "
        "different splits closer than the band; with region splits, no empty split and realised LRG fractions "
        "within tolerance (from enough regions). Fractions are reported in every mode."
    ),
)
def splits_disjoint(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    meta = latest_metadata(context.instance, AssetKey(REGION_BRICKS))
    defaults = SplitConfig()
    recorded = SplitConfig(  # the settings the table was made with (its metadata), else the defaults
        mode=meta.get("split_mode", defaults.mode),
        fractions=tuple(float(x) for x in meta.get("split_fractions", defaults.fractions)),
        tolerance=float(meta.get("split_tolerance", defaults.tolerance)),
        min_regions_for_tolerance=int(
            meta.get("split_min_regions_for_tolerance", defaults.min_regions_for_tolerance)
        ),
        guard_band_arcsec=float(meta.get("split_guard_band_arcsec", defaults.guard_band_arcsec)),
    )
    passed, findings = split_findings(read_table(data_root.path, REGION_BRICKS), recorded)
    return AssetCheckResult(passed=passed, metadata=findings)


@asset_check(
    asset=parent_sample,
    blocking=True,
    description=(
        "No duplicate (brickname, objid), in this split or across splits; every row's region is selected; "
        "every row carries this partition's split."
    ),
)
def parent_sample_valid(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    selected = set(
        read_table(data_root.path, REGION_SELECTIONS, None, columns=["region_id"])["region_id"].to_pylist()
    )
    counts = {
        "rows": 0,
        "duplicate_ids": 0,
        "rows_in_unselected_regions": 0,
        "rows_with_other_split": 0,
        "galaxies_also_in_other_splits": 0,
    }
    for split in _splits(context):
        table = read_table(
            data_root.path, PARENT_SAMPLE, split, columns=["brickname", "objid", "region_id", "split"]
        )
        keys = set(zip(table["brickname"].to_pylist(), table["objid"].to_pylist()))
        counts["rows"] += table.num_rows
        counts["duplicate_ids"] += table.num_rows - len(keys)
        counts["rows_in_unselected_regions"] += sum(r not in selected for r in table["region_id"].to_pylist())
        counts["rows_with_other_split"] += sum(s != split for s in table["split"].to_pylist())
        for other in materialized_partitions(data_root.path, PARENT_SAMPLE):
            if other != split:
                theirs = read_table(data_root.path, PARENT_SAMPLE, other, columns=["brickname", "objid"])
                counts["galaxies_also_in_other_splits"] += len(
                    keys & set(zip(theirs["brickname"].to_pylist(), theirs["objid"].to_pylist()))
                )
    return AssetCheckResult(passed=all(v == 0 for k, v in counts.items() if k != "rows"), metadata=counts)


@asset_check(
    asset=parent_sample,
    blocking=True,
    description=(
        "Known-lens exclusion: no galaxy of the split lies within the exclusion radius (known_lens_radius_arcsec, "
        "as the parent sample recorded it) of a known lens or candidate of known_lenses, so none can become a host or "
        "a control; the number excluded per split is in the asset's metadata."
    ),
)
def known_lens_exclusion(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    lenses = read_table(data_root.path, KNOWN_LENSES, columns=["name", "ra", "dec"])
    names = lenses["name"].to_pylist()
    found, radius = {}, ParentConfig.known_lens_radius_arcsec
    for split in _splits(context):
        meta = latest_metadata(context.instance, parent_sample.key, split)
        radius = float(meta.get("known_lens_radius_arcsec", ParentConfig.known_lens_radius_arcsec))
        table = read_table(data_root.path, PARENT_SAMPLE, split, columns=["ra", "dec"])
        index, _ = nearest_known_lens(table["ra"].to_numpy(), table["dec"].to_numpy(), lenses, radius)
        found[split] = sorted({names[i] for i in index[index >= 0]})
    return AssetCheckResult(
        passed=not any(found.values()),
        metadata={
            "known_lenses": lenses.num_rows,
            "radius_arcsec": radius,
            **{f"galaxies_near_known_lenses_{s}": len(v) for s, v in found.items()},
            "examples": ", ".join(sorted({n for v in found.values() for n in v})[:10]),
        },
    )


CATALOG_CHECKS = [
    bricks_geometry_valid,
    sweep_lrgs_valid,
    sweep_lrgs_drops,
    galaxies_have_bricks,
    splits_disjoint,
    parent_sample_valid,
    known_lens_exclusion,
]
