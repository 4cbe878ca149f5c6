"""Checks of the catalogue phases' outputs, where values enter dhs: counts of rows that break a rule.

Each function returns ``{rule: rows breaking it}`` (all must be 0 for a blocking check to pass) so the check and
its metadata say which rule broke and how often.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.catalog.build_regions import realised_fractions
from dhs_core.catalog.lrg import INVALID_VALUE_REASONS, VARIANT_FLAGS
from dhs_core.catalog.splits import SPLITS, SplitConfig
from dhs_core.conventions import flux_to_mag
from dhs_core.survey.bricks import brick_neighbours

BRIGHTEST_GALAXY_MAG = (
    10.0  # AB: no galaxy of the sweeps is brighter in r or z; a flux x 10^6 of a 20-mag LRG is -5
)
BRICK_EDGE_TOLERANCE_ARCSEC = (
    1.0  # a primary object sits inside its brick's box; Tractor positions may round over
)
MAX_INVALID_VALUE_FRACTION = (
    0.01  # of a sweep's rows removed for invalid values (not physics) before the check fails
)
MAX_GALAXY_FRACTION_WITHOUT_BRICK = 0.0  # of the sweeps' galaxies on bricks the bricks table does not list


def _count(mask) -> int:
    return int(np.sum(np.asarray(mask)))


def sweep_lrgs_problems(table: pa.Table, bricks: pa.Table) -> dict[str, int]:
    """Rows of a ``sweep_lrgs`` partition that break a rule: PSF type; r/z/W1 flux not > 0; (brickname, objid) twice;
    variants not nested; RA not in [0, 360) or Dec not in [-90, 90] (NaN included); a brick name the bricks table
    (``ra1, ra2, dec1, dec2``, deg) does not list, or whose box (within 1") does not hold the position; a g/r/z/W1
    flux not finite; an r or z magnitude brighter than 10 (fluxes scaled by 10^6); negative MASKBITS."""
    ra = table["ra"].to_numpy(zero_copy_only=False).astype(np.float64)
    dec = table["dec"].to_numpy(zero_copy_only=False).astype(np.float64)
    flags = [table[f].to_numpy(zero_copy_only=False) for f in VARIANT_FLAGS]
    problems = {
        "psf_rows": int(pc.sum(pc.equal(table["type"], "PSF")).as_py() or 0),
        "non_positive_flux": sum(
            _count(~(table[f"flux_{b}"].to_numpy(zero_copy_only=False) > 0)) for b in ("r", "z", "w1")
        ),
        "duplicate_ids": table.num_rows
        - len(set(zip(table["brickname"].to_pylist(), table["objid"].to_pylist()))),
        "nesting_violations": sum(_count(inner & ~outer) for inner, outer in zip(flags[:-1], flags[1:])),
        "ra_out_of_range": _count(~((ra >= 0) & (ra < 360))),
        "dec_out_of_range": _count(~((dec >= -90) & (dec <= 90))),
        "non_finite_flux": sum(
            _count(~np.isfinite(table[f"flux_{b}"].to_numpy(zero_copy_only=False).astype(np.float64)))
            for b in ("g", "r", "z", "w1")
        ),
        "too_bright": sum(
            _count(flux_to_mag(table[f"flux_{b}"].to_numpy(zero_copy_only=False)) < BRIGHTEST_GALAXY_MAG)
            for b in ("r", "z")
        ),
        "negative_maskbits": _count(table["maskbits"].to_numpy(zero_copy_only=False) < 0),
    }
    problems.update(_brick_consistency(table["brickname"].to_pylist(), ra, dec, bricks))
    return problems


def _brick_consistency(names: list[str], ra: np.ndarray, dec: np.ndarray, bricks: pa.Table) -> dict[str, int]:
    index = {name: i for i, name in enumerate(bricks["brickname"].to_pylist())}
    rows = np.array([index.get(name, -1) for name in names], dtype=np.int64)
    known = rows >= 0
    box = {
        c: bricks[c].to_numpy().astype(np.float64)[np.where(known, rows, 0)]
        for c in ("ra1", "ra2", "dec1", "dec2")
    }
    tolerance = BRICK_EDGE_TOLERANCE_ARCSEC / 3600.0
    width = np.mod(box["ra2"] - box["ra1"], 360.0)
    offset = np.mod(ra - box["ra1"] + tolerance, 360.0)  # RA wraps at 0/360
    inside = (
        (offset <= width + 2 * tolerance)
        & (dec >= box["dec1"] - tolerance)
        & (dec <= box["dec2"] + tolerance)
    )
    return {
        "brick_not_in_bricks_table": _count(~known),
        "position_outside_its_brick": _count(known & ~inside),
    }


def sweep_drop_problems(sweep_rows: int, drops: dict[str, int]) -> dict[str, int]:
    """What a sweep's base cuts say is wrong with the file (not with its galaxies): no rows at all (its bricks
    would silently get none), or more than ``MAX_INVALID_VALUE_FRACTION`` of its rows removed for invalid values."""
    invalid = sum(drops.get(reason, 0) for reason in INVALID_VALUE_REASONS)
    return {
        "empty_sweep": int(sweep_rows == 0),
        "invalid_value_rows_over_limit": int(invalid > MAX_INVALID_VALUE_FRACTION * max(sweep_rows, 1)),
    }


def split_findings(bricks: pa.Table, config: SplitConfig) -> tuple[bool, dict]:
    """Whether the splits of ``region_bricks`` are disjoint, and the counts behind it: no brick twice, no region in
    two splits (unless bricks are hashed one by one), no two kept bricks of different splits closer than the guard
    band (arcsec), and with region splits no empty split and realised LRG fractions within ``config.tolerance`` of
    the targets (from ``min_regions_for_tolerance`` regions on). The fractions are reported in every mode."""
    names = bricks["brickname"].to_pylist()
    duplicate_bricks = len(names) - len(set(names))
    per_region: dict = {}
    for region, split in zip(bricks["region_id"].to_pylist(), bricks["split"].to_pylist()):
        per_region.setdefault(region, set()).add(split)
    regions_in_two = sum(len(s) > 1 for s in per_region.values()) if config.mode != "brick_hash" else 0
    close_pairs = 0
    if config.guard_band_arcsec > 0:
        kept = bricks.filter(pc.invert(bricks["guard_dropped"]))
        split_of = dict(zip(kept["brickname"].to_pylist(), kept["split"].to_pylist()))
        pairs = brick_neighbours(kept, tolerance_deg=config.guard_band_arcsec / 3600.0 * 0.999)
        close_pairs = sum(
            split_of[a] != split_of[b]
            for a, b in zip(pairs["brickname"].to_pylist(), pairs["neighbour"].to_pylist())
        )
    fractions = realised_fractions(bricks)
    enough = len(per_region) >= config.min_regions_for_tolerance
    off = max(abs(fractions[s] - t) for s, t in zip(SPLITS, config.fractions))
    empty = [s for s, t in zip(SPLITS, config.fractions) if t > 0 and fractions[s] == 0]
    # what region rebalancing promises
    balanced = config.mode != "region" or ((off <= config.tolerance or not enough) and not empty)
    passed = duplicate_bricks == 0 and regions_in_two == 0 and close_pairs == 0 and balanced
    return passed, {
        "duplicate_bricks": duplicate_bricks,
        "regions_in_two_splits": regions_in_two,
        "close_pairs_across_splits": close_pairs,
        "empty_splits": ", ".join(empty),
        "max_fraction_deviation": off,
        "tolerance_applies": enough,
        **{f"lrg_fraction_{k}": v for k, v in fractions.items()},
    }
