"""Phase 4a sampling: PSF/depth strata, stratified galaxy choice, control flags and config assignment.

Every choice is a function of stable ids and a seed through Spark's ``xxhash64`` (``dhs_core.hashing``),
so a manifest is the same whatever the engine, partitioning or retry, and the functions below are
bit-exact with the PySpark golden file (``is_control_spark``, ``is_control_pmod``, ``cfg_idx``).
"""

from __future__ import annotations

import math

import numpy as np

from dhs_core.errors import ConfigError
from dhs_core.hashing import java_rem, pmod, spark_xxhash64, unit_interval

N_STRATUM_BINS = 4  # quartiles of brick PSF size r and of brick 5-sigma depth r: 4 x 4 strata
CONFIG_SALT = 5001
CONTROL_SALT = 7003
CAP_SALT = 1


def control_flags(
    row_id,
    brickname,
    split,
    seed: int = 1337,
    control_frac: float = 0.5,
    legacy_signed_mod: bool = False,
    tier: str = "train",
) -> np.ndarray:
    """Which galaxies are controls: ``u(xxhash64(row_id, brickname, split, tier, seed + 7003)) < control_frac``.

    ``u`` maps the hash to [0, 1) with a non-negative modulus (``pmod(h, 1e6)/1e6``). ``legacy_signed_mod``
    reproduces the seed's text, which wrote a signed ``%``: every negative hash then falls below any
    fraction, so 0.5 comes out as 0.75 (only for regenerating an old manifest). ``split`` is a column or
    one value; ``tier`` is hashed too, so debug/grid/train controls are independent draws.
    """
    if not 0 <= control_frac <= 1:
        raise ConfigError("control_frac", control_frac, "in [0, 1]")
    h = spark_xxhash64(row_id, brickname, split, tier, int(seed) + CONTROL_SALT)
    u = java_rem(h, 1_000_000) / 1e6 if legacy_signed_mod else unit_interval(h)
    return u < control_frac


def config_index(row_id, n_cfg: int, seed: int = 1337) -> np.ndarray:
    """The configuration of each galaxy (train tier): ``pmod(xxhash64(row_id, seed + 5001), n_cfg)``."""
    if n_cfg < 1:
        raise ConfigError("n_cfg", n_cfg, ">= 1")
    return pmod(spark_xxhash64(row_id, int(seed) + CONFIG_SALT), n_cfg)


def stratum_edges(values: np.ndarray, name: str) -> np.ndarray:
    """Quartile edges (0, 25, 50, 75, 100 %) of finite ``values`` (numpy's linear interpolation)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ConfigError(f"stratum edges of {name}", "no finite value", "at least one quality-passing brick")
    return np.quantile(values, np.linspace(0, 1, N_STRATUM_BINS + 1))


def stratum_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: ``[e_i, e_{i+1})``, the last bin closed; values below the first edge go to bin 0
    and above the last to the last bin (the original sent both to the last bin). int8."""
    bins = np.searchsorted(edges[1:-1], np.asarray(values, dtype=np.float64), side="right")
    return bins.astype(np.int8)


def _first_by_hash(groups: np.ndarray, hashes: np.ndarray, row_id: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the first ``keep`` rows of each group in (hash, row_id) order (row_id breaks ties).

    Linear time: a partial sort finds each group's ``keep``-th hash; rows below it are in, rows equal
    to it are taken in row_id order until the group is full.
    """
    chosen = []
    order = np.argsort(groups, kind="stable")
    bounds = np.r_[0, np.flatnonzero(np.diff(groups[order])) + 1, len(order)]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        rows = order[start:stop]
        if len(rows) <= keep:
            chosen.append(rows)
            continue
        h = hashes[rows]
        cut = np.partition(h, keep - 1)[keep - 1]
        below, at = rows[h < cut], rows[h == cut]
        chosen += [below, at[np.argsort(row_id[at], kind="stable")][: keep - len(below)]]
    return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)


def stratified_sample(
    row_id: np.ndarray, psf_bin: np.ndarray, depth_bin: np.ndarray, n_total: int, seed: int = 1337
) -> np.ndarray:
    """Indices (sorted) of the galaxies chosen for one (selection set, split).

    Within each of the 16 PSF x depth strata, order by ``xxhash64(row_id, seed)`` and keep the first
    ``ceil(n_total / 16)``; then order what is kept by ``xxhash64(row_id, seed + 1)`` and cap at ``n_total``.
    """
    if n_total < 0:
        raise ConfigError("n_total", n_total, ">= 0")
    row_id = np.asarray(row_id, dtype=np.int64)
    if row_id.size == 0 or n_total == 0:
        return np.zeros(0, dtype=np.int64)
    per_bin = math.ceil(n_total / N_STRATUM_BINS**2)
    strata = psf_bin.astype(np.int64) * N_STRATUM_BINS + depth_bin.astype(np.int64)
    kept = _first_by_hash(strata, spark_xxhash64(row_id, int(seed)), row_id, per_bin)
    capped = _first_by_hash(
        np.zeros(len(kept), np.int64),
        spark_xxhash64(row_id[kept], int(seed) + CAP_SALT),
        row_id[kept],
        n_total,
    )
    return np.sort(kept[capped])
