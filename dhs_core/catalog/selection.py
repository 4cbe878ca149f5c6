"""Phase 3b: region selection sets — 4 ranking modes x {top-K, stratified custom, stratified balanced}.

Top-K takes the K best regions by a mode's score. The stratified strategies split K over three bins of
the v3 LRG density (edges at its 0, 50, 90 and 100 % quantiles over all regions, the original's
choice; the last bin closed) with weights 0.2/0.4/0.4 ("custom") or 1/3 each ("balanced"), taking the
top ``ceil(w_b K)`` of each bin. With region splits the selection runs within each split, so every split
gets regions; with brick-hash splits a region's bricks span splits, so regions are selected once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.errors import ConfigError

RANKING_MODES = {
    "density": "score_density",
    "n_lrg": "score_n_lrg",
    "area_weighted": "score_area_weighted",
    "psf_weighted": "score_psf_weighted",
}
STRATEGIES = ("topk", "strat_custom", "strat_balanced")
STRATEGY_NAMES = {
    "topk": "topk",
    "strat_custom": "stratified_custom",
    "strat_balanced": "stratified_balanced",
}
SELECTION_COLUMNS = (
    "region_id",
    "region_split",
    "area_deg2",
    "n_bricks",
    "n_lrg_v3_color_relaxed_total",
    "lrg_density_v3_color_relaxed_areaweighted",
    "score_density",
    "score_n_lrg",
    "score_area_weighted",
    "score_psf_weighted",
    "psfsize_r_p50",
    "psfdepth_mag5_r_p50",
    "ebv_p50",
    "compactness",
)


@dataclass(frozen=True)
class SelectionConfig:
    """``top_k`` regions per top-K set; ``stratified_k`` per stratified set; density-bin quantile edges;
    bin weights of the two stratified profiles."""

    top_k: int = 100
    stratified_k: int = 75
    density_quantiles: tuple[float, ...] = (0.0, 0.5, 0.9, 1.0)
    custom_weights: tuple[float, ...] = (0.2, 0.4, 0.4)
    balanced_weights: tuple[float, ...] = field(default=(1 / 3, 1 / 3, 1 / 3))

    def __post_init__(self):
        for name in ("top_k", "stratified_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"selection.{name}", getattr(self, name), "an integer >= 1")
        bins = len(self.density_quantiles) - 1
        for name in ("custom_weights", "balanced_weights"):
            weights = getattr(self, name)
            if len(weights) != bins or min(weights) < 0:
                raise ConfigError(
                    f"selection.{name}", weights, f"{bins} non-negative weights, one per density bin"
                )


def selection_partition_keys() -> list[str]:
    """The 12 selection sets as partition keys, ``<strategy>_<mode>`` (K is recorded in the set id)."""
    return [f"{strategy}_{mode}" for strategy in STRATEGIES for mode in RANKING_MODES]


def parse_selection_key(partition_key: str) -> tuple[str, str]:
    """``(strategy, ranking mode)`` of a selection-set partition key ``<strategy>_<mode>``."""
    if partition_key not in selection_partition_keys():
        raise ConfigError("selection_set", partition_key, f"one of {selection_partition_keys()}")
    strategy = next(s for s in STRATEGIES if partition_key.startswith(s + "_"))
    return strategy, partition_key[len(strategy) + 1 :]


def selection_set_id(partition_key: str, config: SelectionConfig) -> str:
    strategy, _ = parse_selection_key(partition_key)
    k = config.top_k if strategy == "topk" else config.stratified_k
    return f"{partition_key}_k{k}"


def density_bins(density: np.ndarray, quantiles) -> np.ndarray:
    """Bin of each region: ``[q_i, q_{i+1})``, the last bin closed, values outside in the last bin."""
    edges = np.quantile(density, quantiles)
    bins = np.searchsorted(edges[1:-1], density, side="right")
    return np.where(density > edges[-1], len(edges) - 2, bins)


def _top(table: pa.Table, score: str, k: int) -> pa.Table:
    # score descending, region_id ascending on ties: deterministic
    return table.sort_by([(score, "descending"), ("region_id", "ascending")]).slice(0, k)


def select_regions(
    metrics: pa.Table, partition_key: str, config: SelectionConfig, within_splits: bool
) -> pa.Table:
    """One selection set from ``region_metrics`` (which carries ``region_split`` when ``within_splits``).

    Returns one row per selected region: the set id, strategy, mode, score column, rank (1 = best within
    its split or overall) and the region's key metrics.
    """
    strategy, mode = parse_selection_key(partition_key)
    score = RANKING_MODES[mode]
    density = metrics["lrg_density_v3_color_relaxed_areaweighted"].to_numpy()
    metrics = metrics.append_column("density_bin", pa.array(density_bins(density, config.density_quantiles)))
    groups = sorted(set(metrics["region_split"].to_pylist())) if within_splits else [None]
    chosen = []
    for split in groups:
        pool = metrics.filter(pc.equal(metrics["region_split"], split)) if within_splits else metrics
        if strategy == "topk":
            picked = _top(pool, score, config.top_k)
        else:
            weights = config.custom_weights if strategy == "strat_custom" else config.balanced_weights
            parts = [
                _top(pool.filter(pc.equal(pool["density_bin"], b)), score, math.ceil(w * config.stratified_k))
                for b, w in enumerate(weights)
            ]
            picked = _top(pa.concat_tables(parts), score, sum(p.num_rows for p in parts))
        chosen.append(
            picked.append_column("region_rank", pa.array(np.arange(1, picked.num_rows + 1, dtype=np.int64)))
        )
    selected = pa.concat_tables(chosen) if chosen else metrics.slice(0, 0)
    out = selected.select([*SELECTION_COLUMNS, "density_bin", "region_rank"])
    n = out.num_rows
    head = {
        "selection_set_id": [selection_set_id(partition_key, config)] * n,
        "selection_strategy": [STRATEGY_NAMES[strategy]] * n,
        "ranking_mode": [mode] * n,
        "ranking_score_col": [score] * n,
    }
    for i, (name, values) in enumerate(head.items()):
        out = out.add_column(i, name, pa.array(values, pa.string()))
    return out
