"""Phase 3a at full-survey scale: 319,077 real DR10 South bricks, with and without HEALPix bounding.

    python bench/regions.py [--repeats 3]

Brick geometry is the DR10 brick grid (rows of 0.25 deg in Dec, about 1440 cos(dec) bricks per row, names
by the DR10 rule) restricted to the bricks of ``catalogs/dr10_south_brick_lrg_counts_v2cuts.csv``
(their real LRG counts are used as weights); PSF size, depth and EBV are synthetic, drawn like DR10's so
that about 15 % of bricks fail the quality cuts. Prints the time of region building plus metrics, the
number of regions and the share of bricks and LRGs in the largest region, for unbounded components (the
original's mega-region problem) and for nside-16 HEALPix bounding; the ratio of the two times.
"""

import argparse
import csv
import os
import statistics

import numpy as np
import pyarrow as pa
from _common import median_seconds, save

from dhs_core.catalog.regions import RegionConfig, connected_regions, region_metrics
from dhs_core.catalog.splits import SPLITS, region_split
from dhs_core.hashing import spark_xxhash64, unit_interval
from dhs_core.survey.bricks import brick_area_deg2, brickname_from_center

COUNTS = os.path.join(
    os.environ.get(
        "DHS_REFERENCE_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    ),
    "catalogs",
    "dr10_south_brick_lrg_counts_v2cuts.csv",
)


def dr10_brick_grid(names: set[str]) -> pa.Table:
    """The DR10 brick grid: rows of 0.25 deg in Dec, each cut into n equal RA bricks.

    DR10 takes n from its own table; here each row's n is the value near 1440 cos(dec) whose brick
    names (DR10 rule) match the most of ``names``, which reconstructs the real geometry exactly.
    """
    ras1, ras2, decs1, decs2, ras, decs = [], [], [], [], [], []
    for row in range(721):
        dec = (row - 360) * 0.25
        base = 1440 * np.cos(np.radians(max(abs(dec) - 0.125, 0.0)))
        best = None
        for n in range(max(1, int(base) - 3), int(base) + 5):
            centres = (np.arange(n) + 0.5) * 360.0 / n
            hits = sum(name in names for name in brickname_from_center(centres, np.full(n, dec)))
            if best is None or hits > best[0]:
                best = (hits, n)
        n = best[1]
        width = 360.0 / n
        ra1 = np.arange(n) * width
        ras1.append(ra1), ras2.append(ra1 + width), ras.append(ra1 + width / 2)
        (
            decs1.append(np.full(n, max(dec - 0.125, -90))),
            decs2.append(np.full(n, min(dec + 0.125, 90))),
            decs.append(np.full(n, dec)),
        )
    ra, dec = np.concatenate(ras), np.concatenate(decs)
    return pa.table(
        {
            "brickname": brickname_from_center(ra, dec),
            "ra": ra,
            "dec": dec,
            "ra1": np.concatenate(ras1),
            "ra2": np.concatenate(ras2) % 360,
            "dec1": np.concatenate(decs1),
            "dec2": np.concatenate(decs2),
        }
    )


def survey_bricks(rng) -> pa.Table:
    with open(COUNTS, newline="") as fh:
        counts = {row["brickname"]: int(row["lrg_count"]) for row in csv.DictReader(fh)}
    grid = dr10_brick_grid(set(counts))
    names = grid["brickname"].to_pylist()
    keep = np.array([n in counts for n in names])
    bricks = grid.filter(pa.array(keep))
    found = set(bricks["brickname"].to_pylist())
    print(
        f"{len(counts):,} bricks in the counts file, {len(found):,} placed on the DR10 grid "
        f"({len(counts) - len(found)} not found)"
    )
    n = bricks.num_rows
    area = brick_area_deg2(*(bricks[c].to_numpy() for c in ("ra1", "ra2", "dec1", "dec2")))
    lrg = np.array([counts[name] for name in bricks["brickname"].to_pylist()])
    columns = {
        "area_deg2": area,
        "psfsize_r": np.clip(rng.lognormal(np.log(1.3), 0.13, n), 0.7, 2.5),
        "psfdepth_mag5_r": rng.normal(24.45, 0.4, n),
        "ebv": rng.lognormal(np.log(0.04), 0.7, n),
        "n_gal": np.maximum(lrg * 30, 1),
        "n_lrg_v1_pure_massive": lrg // 3,
        "n_lrg_v2_baseline_dr10": lrg,
        "n_lrg_v3_color_relaxed": lrg * 15,
        "n_lrg_v4_mag_relaxed": lrg * 35,
        "n_lrg_v5_very_relaxed": lrg * 60,
    }
    for name, values in columns.items():
        bricks = bricks.append_column(name, pa.array(values))
    return bricks


def _hash_split(region_ids):
    u = unit_interval(spark_xxhash64(pa.array(region_ids, pa.string()), 1337))
    return np.where(u < 0.8, "train", np.where(u < 0.9, "val", "test"))


def run(bricks: pa.Table, nside):
    config = RegionConfig(healpix_nside=nside)
    regions = connected_regions(bricks, config)
    joined = bricks.join(regions, "brickname", join_type="inner").sort_by("brickname")
    return regions, region_metrics(joined, config)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    bricks = survey_bricks(np.random.default_rng(0))
    figures = {"bricks": bricks.num_rows}
    for label, nside in (("unbounded", None), ("healpix16", 16)):
        result = {}
        seconds, runs = median_seconds(
            lambda: result.update(zip(("regions", "metrics"), run(bricks, nside))),  # noqa: B023 (called here)
            args.repeats,
        )
        metrics = result["metrics"]
        n_bricks = metrics["n_bricks"].to_numpy()
        lrgs = metrics["n_lrg_v3_color_relaxed_total"].to_numpy()
        top = np.argsort(-n_bricks)[:4]
        share = n_bricks[top[0]] / n_bricks.sum()
        print(
            f"{label:10s}: {statistics.median(runs):6.1f} s (runs {', '.join(f'{t:.1f}' for t in runs)}); "
            f"{metrics.num_rows:,} regions from {n_bricks.sum():,} quality bricks; largest region {n_bricks[top[0]]:,} bricks "
            f"= {share:.1%} of bricks, {lrgs[top[0]] / lrgs.sum():.1%} of LRGs; four largest {n_bricks[top].sum() / n_bricks.sum():.1%}; "
            f"largest area {metrics['area_deg2'].to_numpy().max():.1f} deg2"
        )
        figures[label] = {
            "seconds": seconds,
            "regions": metrics.num_rows,
            "largest_brick_share": float(share),
            "four_largest_share": float(n_bricks[top].sum() / n_bricks.sum()),
            "largest_area_deg2": float(metrics["area_deg2"].to_numpy().max()),
        }
        if nside:
            weights = metrics["n_lrg_v3_color_relaxed_total"].to_numpy()
            split = region_split(metrics["region_id"].to_pylist(), weights)
            shares = {s: float(weights[split == s].sum() / weights.sum()) for s in SPLITS}
            moved = float(np.mean(split != _hash_split(metrics["region_id"].to_pylist())))
            print(
                f"{'':10s}  region split by LRGs: "
                + ", ".join(f"{s} {v:.1%}" for s, v in shares.items())
                + f" (targets 80/10/10 %; rebalancing moved {moved:.1%} of regions)"
            )
            figures[label].update(split_shares=shares, regions_moved=moved)
    print(
        f"time ratio bounded / unbounded: {figures['healpix16']['seconds'] / figures['unbounded']['seconds']:.2f}"
    )
    print(f"figures saved to {save('regions', figures)}")


if __name__ == "__main__":
    main()
