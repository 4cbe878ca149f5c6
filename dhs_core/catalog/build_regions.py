"""Phase 3a end to end: bricks + per-brick LRG counts -> bricks with regions and splits, region metrics."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.catalog.regions import RegionConfig, connected_regions, region_metrics
from dhs_core.catalog.splits import (
    SplitConfig,
    brick_hash_split,
    guard_band,
    legacy_region_split,
    region_split,
)

BRICK_COLUMNS = (
    "brickname",
    "ra",
    "dec",
    "ra1",
    "ra2",
    "dec1",
    "dec2",
    "area_deg2",
    "ebv",
    "psfsize_g",
    "psfsize_r",
    "psfsize_z",
    "psfdepth_mag5_g",
    "psfdepth_mag5_r",
    "psfdepth_mag5_z",
)


def build_regions(
    bricks: pa.Table, counts: pa.Table, regions: RegionConfig, splits: SplitConfig
) -> tuple[pa.Table, pa.Table]:
    """Regions, splits and metrics.

    ``bricks``: the ``survey_bricks`` table; ``counts``: ``brick_lrg_counts`` (bricks without any galaxy
    are left out, as the original built regions from its Phase 2 bricks). Returns ``(region_bricks,
    metrics)``: one row per quality-passing brick with ``region_id, healpix_cell, brick_degree, split,
    guard_dropped`` and its counts and conditions; one row per region with its metrics, scores and
    ``region_split`` (null in ``brick_hash`` mode, where a region's bricks may fall in several splits).
    """
    present = [c for c in BRICK_COLUMNS if c in bricks.column_names]
    joined = bricks.select(present).join(counts, "brickname", join_type="inner").sort_by("brickname")
    assigned = connected_regions(joined, regions)
    region_bricks = joined.join(assigned, "brickname", join_type="inner").sort_by("brickname")
    metrics = region_metrics(region_bricks, regions)
    region_ids = metrics["region_id"].to_pylist()
    if splits.mode == "brick_hash":
        brick_split = brick_hash_split(region_bricks["brickname"].to_pylist(), splits.seed, splits.fractions)
        metrics = metrics.append_column("region_split", pa.nulls(metrics.num_rows, pa.string()))
    else:
        if splits.mode == "region":
            per_region = region_split(
                region_ids,
                metrics["n_lrg_v3_color_relaxed_total"].to_numpy(),
                splits.seed,
                splits.fractions,
                splits.tolerance,
            )
        else:  # legacy_region: integer ids enumerated in order of the smallest brick name
            per_region = legacy_region_split(np.arange(len(region_ids)), splits.seed)
        metrics = metrics.append_column("region_split", pa.array(per_region.tolist(), pa.string()))
        lookup = dict(zip(region_ids, per_region))
        brick_split = np.array([lookup[r] for r in region_bricks["region_id"].to_pylist()], dtype=object)
    dropped = guard_band(region_bricks, brick_split, splits.guard_band_arcsec)
    region_bricks = region_bricks.append_column("split", pa.array(brick_split.tolist(), pa.string()))
    region_bricks = region_bricks.append_column("guard_dropped", pa.array(dropped))
    return region_bricks, metrics


def galaxies_without_brick(bricks: pa.Table, counts: pa.Table) -> dict:
    """What Phase 3a loses for bricks of the sweeps that the bricks table does not list (an inner join would drop
    them silently): how many such bricks, their galaxies (n_gal) and v3 LRGs, and a few of their names."""
    known = set(bricks["brickname"].to_pylist())
    names = counts["brickname"].to_pylist()
    lost = np.array([n not in known for n in names], bool)
    n_gal = counts["n_gal"].to_numpy()
    lrg = counts["n_lrg_v3_color_relaxed"].to_numpy()
    return {
        "bricks": int(lost.sum()),
        "galaxies": int(n_gal[lost].sum()),
        "v3_lrgs": int(lrg[lost].sum()),
        "galaxy_fraction": float(n_gal[lost].sum() / max(n_gal.sum(), 1)),
        "examples": [n for n, gone in zip(names, lost) if gone][:5],
    }


def realised_fractions(
    region_bricks: pa.Table, weight_column: str = "n_lrg_v3_color_relaxed"
) -> dict[str, float]:
    """Share of ``weight_column`` (LRGs by default) in each split, over bricks not dropped by the guard band."""
    kept = region_bricks.filter(pc.invert(region_bricks["guard_dropped"]))
    weights = kept[weight_column].to_numpy().astype(np.float64)
    split = np.array(kept["split"].to_pylist(), dtype=object)
    total = weights.sum() or 1.0
    return {name: float(weights[split == name].sum() / total) for name in ("train", "val", "test")}
