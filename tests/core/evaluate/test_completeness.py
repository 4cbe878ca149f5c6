"""Completeness with Wilson intervals: the intervals against statsmodels, a perfect scorer finds everything, a random
scorer's completeness is its false-positive rate, and bad score files are counted or refused, never silently
dropped from a denominator."""

import numpy as np
import pyarrow as pa
import pytest
from statsmodels.stats.proportion import proportion_confint

from dhs_core.errors import InputFileError, MissingColumnError
from dhs_core.evaluate import completeness, wilson_interval


@pytest.mark.parametrize("n", [1, 2, 7, 30, 100, 1000])
def test_wilson_intervals_equal_statsmodels(n):
    k = np.arange(n + 1)
    low, high = wilson_interval(k, np.full(n + 1, n))
    want_low, want_high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert np.allclose(low, want_low, rtol=0, atol=1e-12) and np.allclose(high, want_high, rtol=0, atol=1e-12)


def _meta(n_per_class: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = 2 * n_per_class
    return pa.table(
        {
            "task_id": [f"t{i}" for i in range(n)],
            "is_control": np.arange(n) % 2 == 1,
            "status": ["ok"] * n,
            "theta_bin": rng.integers(0, 3, n),
        }
    )


def test_a_perfect_scorer_finds_every_injection_in_every_stratum():
    meta = _meta(300)
    scores = pa.table(
        {"task_id": meta["task_id"], "score": np.where(meta["is_control"].to_numpy(), 0.0, 1.0)}
    )
    table = completeness(meta, scores, by=["theta_bin"], threshold=0.5)
    assert table.column_names == ["theta_bin", "n", "n_detected", "completeness", "ci_low", "ci_high"]
    assert table["theta_bin"].to_pylist() == [0, 1, 2] and sum(table["n"].to_pylist()) == 300
    assert table["completeness"].to_pylist() == [1.0] * 3
    assert all(
        abs(h - 1.0) < 1e-12 and lo < 0.99
        for lo, h in zip(table["ci_low"].to_pylist(), table["ci_high"].to_pylist())
    )


def test_a_random_scorers_completeness_is_its_false_positive_rate():
    meta = _meta(20_000, seed=1)
    scores = pa.table(
        {"task_id": meta["task_id"], "score": np.random.default_rng(2).uniform(size=meta.num_rows)}
    )
    (row,) = completeness(meta, scores, by=[], threshold=0.99).to_pylist()  # true FPR on controls: 1 %
    assert row["n"] == 20_000 and row["ci_low"] <= 0.01 <= row["ci_high"]
    assert abs(row["completeness"] - 0.01) < 0.003


def test_bad_score_files_are_counted_or_refused_never_dropped():
    meta = _meta(4)  # injections t0, t2, t4, t6
    meta = meta.set_column(3, "theta_bin", pa.array([0, 0, 0, 0, 1, 1, 2, 2]))
    meta = meta.set_column(2, "status", pa.array(["ok"] * 6 + ["failed", "ok"]))  # t6 failed: bin 2 has none
    scores = pa.table({"task_id": ["t0", "t2", "t9", "t1"], "score": [0.9, float("nan"), 0.9, 0.1]})
    table = completeness(meta, scores, by=["theta_bin"], threshold=0.5)
    rows = {r["theta_bin"]: r for r in table.to_pylist()}
    assert (rows[0]["n"], rows[0]["n_detected"]) == (2, 1)  # the NaN score counts, as not detected
    assert (rows[1]["n"], rows[1]["n_detected"]) == (1, 0)  # t4 has no score: still in the denominator
    assert rows[2]["n"] == 0 and rows[2]["completeness"] is None and rows[2]["ci_low"] is None  # undefined
    metadata = table.schema.metadata
    assert (metadata[b"dhs.unscored"], metadata[b"dhs.nan_scores"], metadata[b"dhs.unknown_ids"]) == (
        b"1",
        b"1",
        b"1",
    )
    twice = pa.table({"task_id": ["t0", "t0"], "score": [0.1, 0.2]})
    with pytest.raises(InputFileError, match="task_id 't0' scored 2 times"):
        completeness(meta, twice, by=["theta_bin"], threshold=0.5)
    with pytest.raises(MissingColumnError, match="score"):
        completeness(meta, twice.drop_columns(["score"]), by=["theta_bin"], threshold=0.5)
    with pytest.raises(MissingColumnError, match="psf_bin"):
        completeness(meta, scores, by=["psf_bin"], threshold=0.5)
