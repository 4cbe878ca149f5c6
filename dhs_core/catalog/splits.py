"""Train/val/test splits, assigned once per brick or per region, before any sampling.

Two modes, one function each:

* ``brick_hash`` — the seed's rule, bit-exact with Spark:
  ``u = pmod(xxhash64(brickname, 1337), 10^6) / 10^6``; train if u < 0.8, val if u < 0.9, else test.
* ``region`` (default) — every bounded region goes whole to one split by a hash of its id, then a
  deterministic rebalancing moves the fewest regions needed to bring the realised fractions (weighted
  by LRG count) within a tolerance of the targets, and makes sure every split has a region.

``legacy_region_split`` reproduces the original's region rule (``abs(xxhash64(region_index, 13)) mod
10^6``, test below 0.2, val below 0.3, else train) for users who must regenerate its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dhs_core.errors import ConfigError
from dhs_core.hashing import spark_xxhash64, unit_interval
from dhs_core.survey.bricks import brick_neighbours

SPLITS = ("train", "val", "test")  # an explicit order: never alphabetical (the original's bug 5)


@dataclass(frozen=True)
class SplitConfig:
    """``mode``: ``region`` (default), ``brick_hash`` or ``legacy_region`` (the original's rule; use it with
    unbounded regions, seed 13); ``seed``: the hash seed (an int literal, 4 bytes);
    ``fractions``: train, val, test; ``tolerance``: allowed |realised - target| per split (fraction of
    LRGs) once there are ``min_regions_for_tolerance`` regions; ``guard_band_arcsec``: drop bricks this
    close to a brick of another split (0 = none)."""

    mode: str = "region"
    seed: int = 1337
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    tolerance: float = 0.02
    min_regions_for_tolerance: int = 100
    guard_band_arcsec: float = 0.0

    def __post_init__(self):
        if self.mode not in ("region", "brick_hash", "legacy_region"):
            raise ConfigError("split.mode", self.mode, "'region', 'brick_hash' or 'legacy_region'")
        if len(self.fractions) != 3 or min(self.fractions) < 0 or abs(sum(self.fractions) - 1) > 1e-9:
            raise ConfigError("split.fractions", self.fractions, "three non-negative fractions summing to 1")
        if self.guard_band_arcsec < 0:
            raise ConfigError("split.guard_band_arcsec", self.guard_band_arcsec, "a distance >= 0 arcsec")


def _by_fractions(u: np.ndarray, fractions) -> np.ndarray:
    edges = np.cumsum(fractions)
    return np.array(SPLITS, dtype=object)[np.minimum(np.searchsorted(edges, u, side="right"), 2)]


def brick_hash_split(bricknames, seed: int = 1337, fractions=(0.8, 0.1, 0.1)) -> np.ndarray:
    """Split of each brick by ``pmod(xxhash64(brickname, seed), 10^6) / 10^6`` (Spark-exact); object array."""
    return _by_fractions(
        unit_interval(spark_xxhash64(pa.array(list(bricknames), pa.string()), int(seed))), fractions
    )


def legacy_region_split(region_index, seed: int = 13) -> np.ndarray:
    """The original's region split: ``u = (abs(xxhash64(region_index, seed)) mod 10^6) / 10^6``;
    test if u < 0.20, val if u < 0.30, else train. ``region_index``: int64 ids (the original enumerated
    components sorted by their smallest brick name, from 0)."""
    h = spark_xxhash64(np.asarray(region_index, dtype=np.int64), int(seed))
    u = np.mod(np.abs(h), 1_000_000) / 1e6  # abs(Long.MIN_VALUE) stays negative; np.mod keeps it in range
    return np.where(u < 0.20, "test", np.where(u < 0.30, "val", "train")).astype(object)


def region_split(
    region_ids, weights, seed: int = 1337, fractions=(0.8, 0.1, 0.1), tolerance: float = 0.02
) -> np.ndarray:
    """Split of each region: by hash of its id, then rebalanced by ``weights`` (e.g. LRG counts).

    Rebalancing is greedy and deterministic: while a split is empty, or off its target by more than
    ``tolerance``, move from the most over-filled split the region whose weight best closes the gap
    (ties by hash order); stop when no move improves the largest deviation. With few, heavy regions the
    tolerance may be out of reach (the asset check enforces it from 100 regions on); every split with a
    positive target still gets a region when there are at least three. Returns an object array.
    """
    ids = pa.array([str(r) for r in region_ids], pa.string())
    weights = np.asarray(weights, dtype=np.float64)
    n = len(weights)
    if n == 0:
        return np.array([], dtype=object)
    u = unit_interval(spark_xxhash64(ids, int(seed)))
    assigned = np.searchsorted(np.cumsum(fractions), u, side="right").clip(0, 2)
    target = np.asarray(fractions, dtype=np.float64)
    total = weights.sum() if weights.sum() > 0 else 1.0
    order = np.argsort(u, kind="stable")

    def deviation(assign):
        return np.bincount(assign, weights=weights, minlength=3) / total - target

    for _ in range(4 * n):
        dev = deviation(assigned)
        counts = np.bincount(assigned, minlength=3)
        empty = [s for s in range(3) if counts[s] == 0 and target[s] > 0]
        if not empty and np.max(np.abs(dev)) <= tolerance:
            break
        receiver = empty[0] if empty else int(np.argmin(dev))
        donors = [s for s in np.argsort(-dev) if s != receiver and counts[s] > 1]
        if not donors:
            break
        donor = donors[0]
        candidates = order[assigned[order] == donor]
        if empty:  # any region will do: give the empty split the lightest one
            best = candidates[np.argmin(weights[candidates])]
        else:  # the region whose weight best closes the smaller of the two gaps
            want = min(-dev[receiver], dev[donor]) * total
            best = candidates[np.argmin(np.abs(weights[candidates] - want))]
        trial = assigned.copy()
        trial[best] = receiver
        if not empty and np.max(np.abs(deviation(trial))) >= np.max(np.abs(dev)):
            break
        assigned = trial
    return np.array(SPLITS, dtype=object)[assigned]


def guard_band(bricks: pa.Table, split: np.ndarray, band_arcsec: float) -> np.ndarray:
    """Bricks to drop so that no two bricks of different splits are closer than ``band_arcsec`` on the sky.

    For each close pair across splits, the brick of the split with the larger target share is dropped
    (train before val before test), so the small evaluation splits keep their sky. Returns a bool mask.
    """
    drop = np.zeros(bricks.num_rows, dtype=bool)
    if band_arcsec <= 0 or bricks.num_rows == 0:
        return drop
    index = {name: i for i, name in enumerate(bricks["brickname"].to_pylist())}
    pairs = brick_neighbours(bricks, tolerance_deg=band_arcsec / 3600.0)
    rank = {name: k for k, name in enumerate(SPLITS)}
    for a_name, b_name in zip(pairs["brickname"].to_pylist(), pairs["neighbour"].to_pylist()):
        a, b = index[a_name], index[b_name]
        if split[a] != split[b]:
            drop[a if rank[split[a]] < rank[split[b]] else b] = True
    return drop
