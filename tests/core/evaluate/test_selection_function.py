"""The selection function against exact counts: thresholds at an FPR, a perfect scorer (completeness 1, AUC 1), a
random scorer (completeness = the FPR within its interval), unscored and NaN objects counted against the model and
reported, unknown ids reported, a control galaxy counted once, anchors' recall and hard negatives' FPR per group, an
empty stratum undefined, and the centre-masked ablation beside the dataset."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from statsmodels.stats.proportion import proportion_confint

from dhs_core.errors import ConfigError, InputFileError
from dhs_core.evaluate.selection_function import (
    SelectionConfig,
    json_ready,
    selection_function,
    snr_bins,
    snr_edges,
    threshold_at_fpr,
)

EDGES = (2.0, 8.0, 20.0, 100.0)


def _meta(n_injections: int, n_controls: int, seed: int = 0, theta=(1.0, 2.0), snr=(5.0, 30.0)) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = n_injections + n_controls
    control = np.r_[np.zeros(n_injections, bool), np.ones(n_controls, bool)]
    return pa.table(
        {
            "task_id": [f"t{i}" for i in range(n)],
            "brickname": [f"b{i}" for i in range(n)],
            "objid": np.arange(n, dtype=np.int64),
            "is_control": control,
            "status": ["ok"] * n,
            "theta_e_arcsec": np.where(control, 0.0, rng.choice(theta, n)),
            "arc_snr_peak": np.where(control, np.nan, rng.choice(snr, n)),
            "psf_bin": rng.integers(0, 2, n).astype(np.int8),
            "depth_bin": rng.integers(0, 2, n).astype(np.int8),
        }
    )


def _scores(meta: pa.Table, values) -> pa.Table:
    return pa.table({"task_id": meta["task_id"], "score": pa.array(values, pa.float64())})


def _rows(result, grouping: str, fpr: float = 0.01) -> list[dict]:
    table = result.table.filter(
        pc.and_(pc.equal(result.table["grouping"], grouping), pc.equal(result.table["fpr_target"], fpr))
    )
    return table.to_pylist()


def test_threshold_at_fpr_allows_floor_alpha_n_controls_above_it():
    scores = np.arange(1000, dtype=float)  # 0 ... 999
    t = threshold_at_fpr(scores, 0.01)
    assert t.n_false_positive == 10 and 989 < t.threshold <= 990 and t.resolved
    assert t.fpr == 0.01
    low, high = proportion_confint(10, 1000, alpha=0.05, method="wilson")
    assert t.ci_low == pytest.approx(low, abs=1e-12) and t.ci_high == pytest.approx(high, abs=1e-12)
    # below the controls' resolution: above every control, flagged
    small = threshold_at_fpr(scores[:50], 0.01)
    assert small.n_false_positive == 0 and small.threshold > 49 and not small.resolved
    # ties at the cut are not let through: the FPR stays at or below the target
    tied = threshold_at_fpr(np.r_[np.full(20, 5.0), np.zeros(980)], 0.01)
    assert tied.n_false_positive == 0 and tied.threshold > 5
    # a NaN control counts as above any threshold
    nan = threshold_at_fpr(np.r_[np.full(5, np.nan), np.arange(995.0)], 0.01)
    assert nan.n_false_positive == 10


def test_a_perfect_scorer_detects_every_injection():
    meta = _meta(400, 600)
    perfect = _scores(meta, (~meta["is_control"].to_numpy(zero_copy_only=False)).astype(float))
    result = selection_function(meta, perfect, snr_edges=EDGES)
    overall = _rows(result, "all")[0]
    assert overall["n"] == 400 and overall["completeness"] == 1.0
    assert all(
        r["completeness"] == 1.0 for r in _rows(result, "theta_e_arcsec,snr_bin,psf_bin,depth_bin") if r["n"]
    )
    assert result.summary["auc"][0]["auc"] == 1.0
    assert result.summary["thresholds"][0]["n_false_positive"] == 0


def test_a_random_scorer_detects_the_false_positive_rate():
    meta = _meta(20_000, 20_000, seed=3)
    rng = np.random.default_rng(7)
    result = selection_function(meta, _scores(meta, rng.random(meta.num_rows)), snr_edges=EDGES)
    for fpr in (0.01, 0.001):
        overall = _rows(result, "all", fpr)[0]
        assert overall["ci_low"] <= fpr <= overall["ci_high"], (fpr, overall)
    assert abs(result.summary["auc"][0]["auc"] - 0.5) < 0.01


def test_wilson_bounds_of_each_stratum_match_statsmodels():
    meta = _meta(300, 300, seed=5)
    rng = np.random.default_rng(2)
    values = np.where(
        meta["is_control"].to_numpy(zero_copy_only=False), rng.random(600), rng.random(600) + 0.5
    )
    result = selection_function(meta, _scores(meta, values), snr_edges=EDGES)
    for row in _rows(result, "theta_e_arcsec,snr_bin"):
        low, high = proportion_confint(row["n_detected"], row["n"], alpha=0.05, method="wilson")
        assert row["ci_low"] == pytest.approx(low, abs=1e-12) and row["ci_high"] == pytest.approx(
            high, abs=1e-12
        )


def test_unscored_and_nan_objects_count_against_the_model_and_unknown_ids_are_reported():
    meta = _meta(100, 1000)
    control = meta["is_control"].to_numpy(zero_copy_only=False)
    values = (~control).astype(float)
    values[:10] = np.nan  # ten injections scored NaN
    scores = _scores(meta, values).slice(0, meta.num_rows - 5)  # five controls never scored
    scores = pa.concat_tables([scores, pa.table({"task_id": ["nobody"], "score": [0.3]})])
    result = selection_function(meta, scores, snr_edges=EDGES)
    overall = _rows(result, "all")[0]
    assert overall["n"] == 100 and overall["n_detected"] == 90  # NaN: in the denominator, not detected
    threshold = result.summary["thresholds"][0]
    # the 5 unscored controls are false positives at any threshold; the rest tie at 0 and stay below it
    assert threshold["n_controls"] == 1000 and threshold["n_false_positive"] == 5
    accounting = result.summary["scores"]
    assert (
        accounting["nan"] == 10
        and accounting["unknown_ids"] == 1
        and accounting["unknown_examples"] == ["nobody"]
    )
    assert accounting["unscored"] == {"injections": 0, "controls": 5}


def test_a_duplicate_score_is_an_error_naming_it():
    meta = _meta(10, 10)
    scores = _scores(meta, np.zeros(20))
    with pytest.raises(InputFileError, match="'t3' scored 2 times"):
        selection_function(meta, pa.concat_tables([scores, scores.slice(3, 1)]), snr_edges=EDGES)


def test_a_control_galaxy_listed_by_several_sets_counts_once():
    meta = _meta(10, 100)
    control = meta["is_control"].to_numpy(zero_copy_only=False)
    bricks = np.array(meta["brickname"].to_pylist(), dtype=object)
    bricks[control] = "same-galaxy"  # one galaxy's cutout, listed 100 times
    objid = np.where(control, 7, meta["objid"].to_numpy())
    meta = meta.set_column(1, "brickname", pa.array(bricks.tolist())).set_column(2, "objid", pa.array(objid))
    result = selection_function(meta, _scores(meta, np.zeros(110)), snr_edges=EDGES)
    assert (
        result.summary["thresholds"][0]["n_controls"] == 1 and not result.summary["thresholds"][0]["resolved"]
    )


def test_an_empty_stratum_is_undefined_not_zero():
    meta = _meta(50, 50)
    status = np.array(meta["status"].to_pylist(), dtype=object)
    theta = meta["theta_e_arcsec"].to_numpy()
    status[(theta == 2.0)] = "failed"  # every theta_E = 2" injection failed: a stratum with no object
    meta = meta.set_column(4, "status", pa.array(status.tolist()))
    result = selection_function(meta, _scores(meta, np.ones(100)), snr_edges=EDGES)
    row = next(r for r in _rows(result, "theta_e_arcsec") if r["theta_e_arcsec"] == 2.0)
    assert row["n"] == 0 and row["completeness"] is None and row["ci_low"] is None and row["ci_high"] is None


def test_anchor_recall_and_hard_negative_fpr_per_group():
    meta = _meta(10, 1000)
    rng = np.random.default_rng(1)
    values = np.where(meta["is_control"].to_numpy(zero_copy_only=False), rng.random(1010), 2.0)
    anchors = pa.table(
        {
            "task_id": ["anchor/a", "anchor/b", "anchor/c", "anchor/edge"],
            "tier": ["A", "A", "B", "A"],
            "status": ["ok", "ok", "ok", "partial"],
        }
    )
    negatives = pa.table(
        {
            "task_id": ["negative/r1", "negative/r2", "negative/s1"],
            "class": ["ring", "ring", "spiral"],
            "status": ["ok"] * 3,
        }
    )
    scores = pa.concat_tables(
        [
            _scores(meta, values),
            pa.table(
                {
                    "task_id": ["anchor/a", "anchor/b", "negative/r1", "negative/s1"],
                    "score": [5.0, 0.0, 5.0, np.nan],
                }
            ),
        ]
    )
    result = selection_function(meta, scores, snr_edges=EDGES, anchors=anchors, negatives=negatives)
    recall = {r["tier"]: r for r in result.summary["anchors"] if r["fpr_target"] == 0.01}
    assert (recall["A"]["n"], recall["A"]["n_detected"]) == (2, 1)  # the partial stamp is left out
    assert (recall["B"]["n"], recall["B"]["n_detected"]) == (1, 0)  # unscored: missed
    assert recall["all"]["n"] == 3 and result.summary["n_anchors_not_ok"] == 1
    fpr = {r["class"]: r for r in result.summary["negatives"] if r["fpr_target"] == 0.01}
    assert (fpr["ring"]["n"], fpr["ring"]["n_false_positive"]) == (2, 2)  # r2 unscored: a false positive
    assert (fpr["spiral"]["n"], fpr["spiral"]["n_false_positive"]) == (1, 1)  # NaN: a false positive
    assert result.summary["scores"]["unscored"]["anchors"] == 1


def test_the_core_masked_ablation_is_evaluated_beside_the_dataset():
    meta = _meta(200, 400)
    injection = ~meta["is_control"].to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(0)
    masked_values = np.where(injection, rng.random(600) * 0.5 + 0.4, rng.random(600) * 0.5)
    result = selection_function(
        meta, _scores(meta, injection * 1.0), snr_edges=EDGES, ablation=(meta, _scores(meta, masked_values))
    )
    variants = set(result.table["variant"].to_pylist())
    assert variants == {"as_is", "core_masked"}
    masked = result.summary["ablation"]["auc"][0]["auc"]
    assert 0.5 < masked < 1.0 and result.summary["auc"][0]["auc"] == 1.0


def test_snr_bins_edges_and_config():
    assert snr_edges(((0.8, 2.0, 0.4), (2.0, 8.0, 0.6))) == (0.8, 2.0, 8.0)
    low = snr_bins([0.5, 0.8, 3.0, 8.0, 250.0, np.nan], (0.8, 2.0, 8.0, 100.0))
    assert low[:5].tolist() == [0.0, 0.8, 2.0, 8.0, 100.0] and np.isnan(low[5])
    with pytest.raises(ConfigError, match="selection.fprs"):
        SelectionConfig(fprs=(0.0,))
    with pytest.raises(ConfigError, match="selection.snr_edges"):
        SelectionConfig(snr_edges=(5.0, 2.0))
    assert json_ready({"a": np.float64(np.inf), "b": [np.int64(3)]}) == {"a": None, "b": [3]}


def test_the_report_renders_every_figure_with_zero_and_full_strata():
    """A stratum with k = 0 used to give a lower bound of 1e-17 above its completeness and broke the error bars."""
    from dhs_core.evaluate.completeness import wilson_interval
    from dhs_core.evaluate.report import render_report

    low, high = wilson_interval(np.array([0, 15, 3]), np.array([15, 15, 0]))
    assert low[0] == 0.0 and high[1] == 1.0 and np.isnan(low[2]) and np.isnan(high[2])
    meta = _meta(200, 300)
    injection = ~meta["is_control"].to_numpy(zero_copy_only=False)
    theta = meta["theta_e_arcsec"].to_numpy()
    values = np.where(injection, np.where(theta == 2.0, 2.0, -1.0), np.linspace(0, 1, 500))  # 0 and 1 strata
    anchors = pa.table(
        {
            "task_id": ["anchor/a", "anchor/b", "anchor/c"],
            "name": ["a", "b", "c"],
            "tier": ["A", "A", "B"],
            "status": ["ok"] * 3,
            "arc_snr_peak": [20.0, 30.0, 40.0],
            "theta_e_arcsec": [1.0, 1.5, 2.0],
        }
    )
    # a failed injection has no S/N (the --http demo's selection function failed on its NaN stratum)
    snr = meta["arc_snr_peak"].to_numpy(zero_copy_only=False).copy()
    snr[0] = np.nan
    status = ["failed"] + meta["status"].to_pylist()[1:]
    meta = meta.set_column(6, "arc_snr_peak", pa.array(snr)).set_column(4, "status", pa.array(status))
    result = selection_function(meta, _scores(meta, values), snr_edges=EDGES, anchors=anchors)
    bins = [r["snr_bin"] for r in result.table.to_pylist()]
    assert None in bins and not any(b is not None and np.isnan(b) for b in bins)
    html = render_report(
        result.table,
        json_ready(result.summary),
        title="t",
        anchors=anchors,
        injection_snr=meta["arc_snr_peak"].to_pylist(),
        anchor_scores={},
    )
    assert html.count("<img") == 2 * 2 + 1 and "completeness at FPR 0.01" in html
