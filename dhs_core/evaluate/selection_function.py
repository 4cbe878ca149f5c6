"""The selection function of a lens finder on a dataset: from its scores, the thresholds at chosen false-positive
rates on the controls, completeness per stratum with Wilson intervals, ROC AUC overall and per stratum, recall on the
real anchors and the false-positive rate on the hard negatives (formulas: ``docs/evaluation.md``).

Objects counted are those whose stamp is ``ok`` (a failed or zero-padded stamp was never a fair input). An object
the scores leave out, or score NaN, counts **against** the model and stays in every denominator: an injection or an
anchor as missed, a control or a hard negative as a false positive (so a model cannot gain by not scoring what it
gets wrong). Each is counted in ``summary["scores"]``, as are scored ids that name no object.

- **Threshold at FPR alpha** on the n ok controls: the lowest score t with #(control score >= t) <= floor(alpha n),
  i.e. just above the (floor(alpha n) + 1)-th highest control score; the achieved FPR and its Wilson interval are
  recorded. When alpha n < 1 the target is below the controls' resolution (``resolved`` false): t is then above every
  control score.
- **Completeness** C = k / n of the ok injections with score >= t per stratum of θ_E (``theta_e_arcsec``), achieved
  arc S/N bin (``snr_bin``: the lower edge of the bin of ``arc_snr_peak``, peak S/N per pixel in r; 0 below the first
  edge), ``psf_bin`` and ``depth_bin``, and their marginals (``grouping`` names the columns a row is binned by; the
  others are null), with Wilson 95 % intervals (:func:`dhs_core.evaluate.completeness.completeness`).
- **ROC AUC** (Mann-Whitney, ties half) of ok injections against ok controls, overall; per θ_E x S/N stratum against
  all controls; per PSF and per depth bin against the controls of the same bin (a finder that only ranks good-seeing
  stamps above bad ones gains nothing there). Hanley & McNeil 95 % intervals.
- **Anchor recall** per tier and **hard-negative FPR** per class (and all), at each threshold, with Wilson intervals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.diagnostics.probes import auc_of_scores
from dhs_core.errors import ConfigError, MissingColumnError
from dhs_core.evaluate.completeness import completeness, is_control, is_ok, score_lookup, wilson_interval

STRATA = ("theta_e_arcsec", "snr_bin", "psf_bin", "depth_bin")
GROUPINGS = (
    STRATA,
    ("theta_e_arcsec", "snr_bin"),
    ("theta_e_arcsec",),
    ("snr_bin",),
    ("psf_bin",),
    ("depth_bin",),
    (),
)
STRATUM_TYPES = {
    "theta_e_arcsec": pa.float64(),
    "snr_bin": pa.float64(),
    "psf_bin": pa.int64(),
    "depth_bin": pa.int64(),
}
SNR_COLUMN = "arc_snr_peak"  # the achieved S/N the strata use: peak per pixel, r band
META_COLUMNS = (
    "task_id",
    "brickname",
    "objid",
    "is_control",
    "status",
    "theta_e_arcsec",
    SNR_COLUMN,
    "psf_bin",
    "depth_bin",
)


@dataclass(frozen=True)
class SelectionConfig:
    """``splits``: the dataset's splits evaluated; ``control_partitions``: further stamps partitions
    (``<dataset>|<split>``) whose ok controls also set the thresholds (more controls resolve lower FPRs);
    ``fprs``: the false-positive rates the thresholds are set at; ``snr_edges``: edges of the achieved peak-S/N bins
    (empty: the dataset spec's ``snr_bins``); ``ablation_dataset``: a core-masked dataset scored by the same model,
    evaluated the same way beside this one (empty: none)."""

    splits: tuple[str, ...] = ("test",)
    control_partitions: tuple[str, ...] = ()
    fprs: tuple[float, ...] = (0.01, 0.001)
    snr_edges: tuple[float, ...] = ()
    ablation_dataset: str = ""

    def __post_init__(self):
        if not self.splits:
            raise ConfigError("selection.splits", list(self.splits), "at least one split")
        if not self.fprs or any(not 0 < f < 1 for f in self.fprs):
            raise ConfigError("selection.fprs", list(self.fprs), "rates strictly between 0 and 1")
        if self.snr_edges and (len(self.snr_edges) < 2 or np.any(np.diff(self.snr_edges) <= 0)):
            raise ConfigError("selection.snr_edges", list(self.snr_edges), "at least two increasing edges")


@dataclass(frozen=True)
class Threshold:
    """A score threshold set at ``fpr_target`` on ``n_controls`` controls: ``n_false_positive`` at or above it,
    the achieved rate with its Wilson interval, and whether the target is resolved (``fpr_target * n >= 1``)."""

    fpr_target: float
    threshold: float
    n_controls: int
    n_false_positive: int
    fpr: float | None
    ci_low: float | None
    ci_high: float | None
    resolved: bool


@dataclass(frozen=True)
class SelectionFunction:
    """``table``: completeness per stratum and grouping at each threshold (long form: ``variant``, ``fpr_target``,
    ``threshold``, ``grouping``, the strata, ``n, n_detected, completeness, ci_low, ci_high``); ``summary``:
    thresholds, AUCs, anchor recall, hard-negative FPR, the score accounting and the S/N edges (JSON-ready)."""

    table: pa.Table
    summary: dict


def snr_edges(bins) -> tuple[float, ...]:
    """The edges of S/N bins given as rows ``(low, high, weight)`` (``ManifestConfig.snr_bins``), sorted."""
    return tuple(sorted({float(b) for row in bins for b in row[:2]}))


def json_ready(value):
    """``value`` with numpy numbers as Python ones and non-finite floats as None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def snr_bins(snr, edges) -> np.ndarray:
    """The lower edge of the bin [e_i, e_i+1) holding each peak S/N; 0 below the first edge, the last edge at or
    above it, NaN for no S/N."""
    snr, edges = np.asarray(snr, float), np.asarray(edges, float)
    index = np.searchsorted(edges, snr, side="right") - 1
    low = np.where(index >= 0, edges[np.clip(index, 0, len(edges) - 1)], 0.0)
    return np.where(np.isfinite(snr), low, np.nan)


def threshold_at_fpr(control_scores, fpr: float) -> Threshold:
    """The threshold at ``fpr`` on ``control_scores`` (NaN counts as above any threshold); see the module's
    docstring."""
    scores = np.asarray(control_scores, float)
    n = len(scores)
    nan = int(np.isnan(scores).sum())
    finite = np.sort(scores[~np.isnan(scores)])[::-1]
    allowed = int(np.floor(fpr * n + 1e-9)) - nan
    if n == 0 or allowed < 0:
        threshold = np.inf
    elif allowed >= len(finite):
        threshold = -np.inf
    else:
        threshold = float(np.nextafter(finite[allowed], np.inf))
    false_positive = int(np.sum(finite >= threshold)) + nan
    low, high = wilson_interval(np.array([false_positive]), np.array([n]))
    return Threshold(
        fpr_target=float(fpr),
        threshold=float(threshold),
        n_controls=n,
        n_false_positive=false_positive,
        fpr=false_positive / n if n else None,
        ci_low=float(low[0]) if n else None,
        ci_high=float(high[0]) if n else None,
        resolved=bool(fpr * n >= 1),
    )


def _values(ids: list[str], score_of: dict, missing: float) -> np.ndarray:
    """Scores of ``ids``; ``missing`` for an id without a score or with a NaN one (the worst case for the model)."""
    out = np.array([score_of.get(i, np.nan) for i in ids], float)
    return np.where(np.isnan(out), missing, out)


def _auc_record(positive: np.ndarray, negative: np.ndarray) -> dict:
    if len(positive) == 0 or len(negative) == 0:
        return {
            "auc": None,
            "low": None,
            "high": None,
            "n_positive": len(positive),
            "n_negative": len(negative),
        }
    auc = auc_of_scores(
        np.concatenate([positive, negative]), np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    )
    return {k: v for k, v in auc.record().items() if k not in ("null_low", "null_high")}


def _rate_rows(label: str, groups: np.ndarray, hits: np.ndarray, key: str, count: str) -> list[dict]:
    """Per group (and ``all``): n, hits, their fraction and its Wilson interval (null for n = 0)."""
    rows = []
    for group in [*sorted(set(groups.tolist())), "all"]:
        chosen = np.ones(len(groups), bool) if group == "all" else groups == group
        n, k = int(chosen.sum()), int(hits[chosen].sum())
        low, high = wilson_interval(np.array([k]), np.array([n]))
        rows.append(
            {
                label: group,
                "n": n,
                count: k,
                key: k / n if n else None,
                "ci_low": float(low[0]) if n else None,
                "ci_high": float(high[0]) if n else None,
            }
        )
    return rows


def _check_meta(meta: pa.Table, where: str) -> None:
    missing = [c for c in META_COLUMNS if c not in meta.column_names]
    if missing:
        raise MissingColumnError(where, missing, meta.column_names)


def _completeness_rows(
    meta: pa.Table, scores: pa.Table, thresholds: list[Threshold], variant: str
) -> pa.Table:
    tables = []
    for threshold in thresholds:
        for grouping in GROUPINGS:
            table = completeness(meta, scores, by=list(grouping), threshold=threshold.threshold)
            n = table.num_rows
            columns = {
                "variant": pa.array([variant] * n, pa.string()),
                "fpr_target": pa.array([threshold.fpr_target] * n, pa.float64()),
                "threshold": pa.array([threshold.threshold] * n, pa.float64()),
                "grouping": pa.array([",".join(grouping) or "all"] * n, pa.string()),
            }
            for stratum, dtype in STRATUM_TYPES.items():
                columns[stratum] = (
                    pc.cast(table[stratum], dtype) if stratum in grouping else pa.nulls(n, dtype)
                )
            for name in ("n", "n_detected", "completeness", "ci_low", "ci_high"):
                columns[name] = table[name]
            tables.append(pa.table(columns))
    return pa.concat_tables(tables)


def _stratum_aucs(
    injections: pa.Table, positive: np.ndarray, controls: pa.Table, negative: np.ndarray
) -> list[dict]:
    rows = [{"grouping": "all", **_auc_record(positive, negative)}]
    theta = injections["theta_e_arcsec"].to_numpy(zero_copy_only=False).astype(float)
    snr = injections["snr_bin"].to_numpy(zero_copy_only=False).astype(float)
    for t, s in sorted({(float(a), float(b)) for a, b in zip(theta, snr) if np.isfinite(b)}):
        chosen = (theta == t) & (snr == s)
        rows.append(
            {
                "grouping": "theta_e_arcsec,snr_bin",
                "theta_e_arcsec": t,
                "snr_bin": s,
                **_auc_record(positive[chosen], negative),
            }
        )
    for column in ("psf_bin", "depth_bin"):
        on = pc.fill_null(injections[column], -1).to_numpy(zero_copy_only=False)
        off = pc.fill_null(controls[column], -1).to_numpy(zero_copy_only=False)
        for b in sorted(set(on.tolist()) | set(off.tolist())):
            rows.append(
                {"grouping": column, column: int(b), **_auc_record(positive[on == b], negative[off == b])}
            )
    return rows


def evaluate_dataset(
    meta: pa.Table,
    scores: pa.Table,
    controls: pa.Table | None,
    config: SelectionConfig,
    snr_edges,
    variant: str,
) -> tuple[pa.Table, dict]:
    """Thresholds, completeness rows and AUCs of one dataset's stamps ``meta`` (``META_COLUMNS``) under
    ``scores``; ``controls``: further stamps whose ok controls also set the thresholds and the AUCs' negatives."""
    _check_meta(meta, f"{variant} stamps")
    meta = meta.select(list(META_COLUMNS))
    # no S/N (a failed stamp) is a null stratum, not NaN: NaN is no group key and no label
    low = snr_bins(pc.fill_null(meta[SNR_COLUMN], np.nan), snr_edges)
    meta = meta.append_column("snr_bin", pa.array(low, pa.float64(), mask=np.isnan(low)))
    control = is_control(meta)
    injections = meta.filter(pa.array(~control))
    negatives = _control_set(meta.filter(pa.array(control)), controls)
    score_of = score_lookup(scores)
    negative = _values(negatives["task_id"].to_pylist(), score_of, np.nan)
    thresholds = [threshold_at_fpr(negative, fpr) for fpr in config.fprs]
    ok = is_ok(injections)
    shown = injections.filter(pa.array(ok))
    positive = _values(shown["task_id"].cast(pa.string()).to_pylist(), score_of, -np.inf)
    summary = {
        "thresholds": [t.__dict__ for t in thresholds],
        "auc": _stratum_aucs(shown, positive, negatives, np.nan_to_num(negative, nan=np.inf)),
        "n_injections": int(ok.sum()),
        "n_controls": negatives.num_rows,
        "n_injections_not_ok": int((~ok).sum()),
    }
    return _completeness_rows(injections, scores, thresholds, variant), summary


def _control_set(own: pa.Table, extra: pa.Table | None) -> pa.Table:
    """The ok controls of ``own`` and of ``extra`` (stamps of other partitions), each galaxy once: a control is its
    galaxy's cutout, the same stamp whichever selection set or dataset lists it, and counting it again would count
    one false positive many times (the first listed is kept)."""
    tables = [own] + ([extra] if extra is not None and extra.num_rows else [])
    table = pa.concat_tables([t.select(list(META_COLUMNS)) for t in tables])
    table = table.filter(pa.array(is_control(table) & is_ok(table)))
    galaxies = list(zip(table["brickname"].to_pylist(), table["objid"].to_pylist()))
    first = sorted({g: n for n, g in reversed(list(enumerate(galaxies)))}.values())
    return table.take(pa.array(first, pa.int64()))


def selection_function(
    meta: pa.Table,
    scores: pa.Table,
    *,
    config: SelectionConfig = SelectionConfig(),
    snr_edges=(),
    controls: pa.Table | None = None,
    anchors: pa.Table | None = None,
    negatives: pa.Table | None = None,
    ablation: tuple[pa.Table, pa.Table] | None = None,
    other_ids=(),
) -> SelectionFunction:
    """The selection function (see the module's docstring) of the stamps ``meta`` of the evaluated splits
    (``META_COLUMNS``) under ``scores`` (``task_id``, ``score``): ``controls`` further stamps whose controls set the
    thresholds too; ``anchors`` (``task_id``, ``tier``, ``status``) and ``negatives`` (``task_id``, ``class``,
    ``status``) scored in the same table; ``ablation``: (stamps, scores) of the core-masked dataset; ``other_ids``:
    ids of objects not evaluated here (the dataset's other splits), counted apart from unknown ids."""
    edges = tuple(config.snr_edges or snr_edges)
    if len(edges) < 2:
        raise ConfigError("selection.snr_edges", list(edges), "at least two increasing edges")
    table, summary = evaluate_dataset(meta, scores, controls, config, edges, "as_is")
    thresholds = [t["threshold"] for t in summary["thresholds"]]
    score_of = score_lookup(scores)
    summary["anchors"], summary["negatives"] = [], []
    for kind, objects, group, key, count, missing in (
        ("anchors", anchors, "tier", "recall", "n_detected", -np.inf),
        ("negatives", negatives, "class", "fpr", "n_false_positive", np.inf),
    ):
        if objects is None or objects.num_rows == 0:
            continue
        ids = objects["task_id"].cast(pa.string()).to_pylist()
        ok = is_ok(objects)
        value = _values(ids, score_of, missing)[ok]
        groups = np.array(objects[group].to_pylist(), dtype=str)[ok]
        for fpr, t in zip(config.fprs, thresholds):
            for row in _rate_rows(group, groups, value >= t, key, count):
                summary[kind].append({"fpr_target": fpr, "threshold": t, **row})
        summary[f"n_{kind}_not_ok"] = int((~ok).sum())
    summary["scores"] = score_accounting(scores, meta, controls, anchors, negatives, other_ids)
    summary["snr_edges"] = list(edges)
    if ablation is not None:
        masked_table, masked = evaluate_dataset(*ablation, None, config, edges, "core_masked")
        table = pa.concat_tables([table, masked_table])
        summary["ablation"] = {k: masked[k] for k in ("thresholds", "auc", "n_injections", "n_controls")}
        summary["ablation"]["scores"] = score_accounting(ablation[1], ablation[0], None, None, None, ())
    return SelectionFunction(table, summary)


def score_accounting(
    scores: pa.Table,
    meta: pa.Table,
    controls: pa.Table | None,
    anchors: pa.Table | None,
    negatives: pa.Table | None,
    other_ids=(),
) -> dict:
    """How the scores cover the objects: rows, NaN scores, ids of objects not evaluated here (``other_ids``: the
    dataset's other splits, controls of other partitions past the one counted per galaxy), ids that name no object
    (count and the first five), and per kind (injections, controls, anchors, negatives; ok stamps) how many have no
    score."""
    score_of = score_lookup(scores)
    missing = {}
    ok, control = is_ok(meta), is_control(meta)
    ids = np.array(meta["task_id"].cast(pa.string()).to_pylist(), dtype=object)
    known = set(ids.tolist())
    kinds = {"injections": ids[ok & ~control]}
    chosen = _control_set(meta.filter(pa.array(control)).select(list(META_COLUMNS)), controls)
    kinds["controls"] = np.array(chosen["task_id"].to_pylist(), dtype=object)
    if controls is not None:
        known |= set(controls.filter(pa.array(is_control(controls)))["task_id"].cast(pa.string()).to_pylist())
    for kind, objects in (("anchors", anchors), ("negatives", negatives)):
        if objects is not None and objects.num_rows:
            object_ids = np.array(objects["task_id"].cast(pa.string()).to_pylist(), dtype=object)
            kinds[kind] = object_ids[is_ok(objects)]
            known |= set(object_ids.tolist())
    for kind, chosen in kinds.items():
        missing[kind] = int(sum(i not in score_of for i in chosen))
    elsewhere = (set(score_of) - known) & set(other_ids)
    unknown = sorted(set(score_of) - known - elsewhere)
    values = np.array(list(score_of.values()), float)
    return {
        "rows": scores.num_rows,
        "nan": int(np.isnan(values).sum()),
        "not_evaluated_here": len(elsewhere),
        "unknown_ids": len(unknown),
        "unknown_examples": unknown[:5],
        "unscored": missing,
    }
