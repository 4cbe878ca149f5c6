"""Completeness of a lens finder: the fraction of injected lenses it detects, per stratum, with Wilson intervals.

``completeness(meta, scores, by=[...], threshold=t)``: ``meta`` holds one row per stamp of a dataset split
(``task_id``, the ``by`` columns; optionally ``is_control`` and ``status``), ``scores`` one row per scored object
(``task_id``, ``score``). The injections counted are the rows that are not controls and, when ``status`` is there,
whose stamp is ``ok`` (a failed stamp was never shown to the model). An injection is detected when its score is at
least ``threshold``; one without a score, or with a NaN score, stays in the denominator as not detected, and how many
there were is recorded in the output's schema metadata, as are scores of ids ``meta`` does not have. The same id
scored twice is an error naming it.

Per stratum: ``n`` injections, ``n_detected``, ``completeness = n_detected / n`` and the Wilson score interval at 95 %
(Wilson 1927): with p = k / n and z = 1.959964,

    centre = (p + z^2 / 2n) / (1 + z^2 / n),   half = z sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n).

Unlike the normal approximation it stays inside [0, 1] and is not empty at k = 0 or k = n. A stratum with no
injection has ``n = 0`` and null completeness and bounds: undefined, not 0/0.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.errors import InputFileError, MissingColumnError

Z_95 = 1.959963984540054  # the two-sided 95 % quantile of the standard normal
STATUS_OK = "ok"


def wilson_interval(detected, n, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval (low, high) of ``detected`` successes in ``n`` trials (arrays); NaN where n = 0."""
    k, n = np.asarray(detected, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    # exact at the ends (rounding leaves ~1e-17 there, and a bound above the estimate breaks error bars)
    low = np.where(k == 0, 0.0, np.clip(centre - half, 0, 1))
    high = np.where(k == n, 1.0, np.clip(centre + half, 0, 1))
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def is_ok(table: pa.Table) -> np.ndarray:
    """Rows whose stamp is ``ok`` (a null status is not)."""
    return pc.fill_null(pc.equal(table["status"], STATUS_OK), False).to_numpy(zero_copy_only=False)


def is_control(table: pa.Table) -> np.ndarray:
    """Rows that are controls (a null ``is_control`` is not)."""
    return pc.fill_null(table["is_control"], False).to_numpy(zero_copy_only=False)


def score_lookup(scores: pa.Table) -> dict[str, float | None]:
    """``task_id -> score`` (float; None for a null score) of a scores table."""
    return dict(
        zip(
            scores["task_id"].cast(pa.string()).to_pylist(),
            pc.cast(scores["score"], pa.float64()).to_pylist(),
        )
    )


def completeness(meta: pa.Table, scores: pa.Table, *, by: list[str], threshold: float) -> pa.Table:
    """Completeness of the injections of ``meta`` at ``threshold`` per stratum of the ``by`` columns: columns
    ``*by, n, n_detected, completeness, ci_low, ci_high`` (one row per stratum of ``meta``, its injections counted,
    sorted by ``by``); schema metadata ``dhs.unscored`` (injections without a score), ``dhs.nan_scores`` and
    ``dhs.unknown_ids`` (scored ids not in ``meta``). See the module's docstring."""
    missing = [c for c in ["task_id", *by] if c not in meta.column_names]
    if missing:
        raise MissingColumnError("completeness meta", missing)
    missing = [c for c in ("task_id", "score") if c not in scores.column_names]
    if missing:
        raise MissingColumnError("scores", missing)
    ids = scores["task_id"].cast(pa.string())
    counts = pc.value_counts(ids)
    doubled = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(doubled):
        first = doubled.field("values")[0].as_py()
        raise InputFileError("scores", f"task_id {first!r} scored {doubled.field('counts')[0].as_py()} times")

    injection = np.ones(meta.num_rows, bool)
    if "is_control" in meta.column_names:
        injection &= ~is_control(meta)
    if "status" in meta.column_names:
        injection &= is_ok(meta)
    score_of = score_lookup(scores)
    tasks = meta["task_id"].cast(pa.string()).to_pylist()
    value = np.array([np.nan if score_of.get(t) is None else score_of[t] for t in tasks], float)
    scored = np.array([t in score_of for t in tasks], bool)
    detected = injection & (value >= threshold)  # NaN compares false: not detected, still counted
    unscored = int(np.sum(injection & ~scored))
    nan_scores = int(np.sum(injection & scored & np.isnan(value)))
    unknown = len(set(score_of) - set(tasks))

    # strata from every row of meta, so a stratum whose stamps all failed (or are all controls) shows n = 0
    table = meta.select(by).append_column("injection", pa.array(injection.astype(np.int64)))
    table = table.append_column("detected", pa.array(detected.astype(np.int64)))
    if by:
        grouped = table.group_by(by).aggregate([("injection", "sum"), ("detected", "sum")])
        grouped = grouped.sort_by([(c, "ascending") for c in by])
        n, k = grouped["injection_sum"].to_numpy(), grouped["detected_sum"].to_numpy()
        strata = {c: grouped[c] for c in by}
    else:
        n, k, strata = np.array([injection.sum()]), np.array([detected.sum()]), {}
    low, high = wilson_interval(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = k / n
    undefined = n == 0
    result = pa.table(
        {
            **strata,
            "n": pa.array(n, pa.int64()),
            "n_detected": pa.array(k, pa.int64()),
            "completeness": pa.array(fraction, pa.float64(), mask=undefined),
            "ci_low": pa.array(low, pa.float64(), mask=undefined),
            "ci_high": pa.array(high, pa.float64(), mask=undefined),
        }
    )
    return result.replace_schema_metadata(
        {
            "dhs.unscored": str(unscored),
            "dhs.nan_scores": str(nan_scores),
            "dhs.unknown_ids": str(unknown),
            "dhs.threshold": json.dumps(float(threshold)),
        }
    )
