"""The selection-function report: one self-contained HTML file (figures embedded as PNG) of a model on a dataset —
completeness curves C(θ_E) per arc-S/N bin with Wilson intervals, the θ_E x S/N heat map, thresholds and AUCs, recall
on the real anchors, the false-positive rate on the hard negatives, and the anchors' measured arc S/N beside the
injections' with the S/N bins they suggest. What each figure says: ``docs/evaluation.md``."""

from __future__ import annotations

import html
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.evaluate.anchors import snr_bins_from_anchors
from dhs_core.figures import png, subplots
from dhs_core.html_report import STYLE, img, table

CURVES = "theta_e_arcsec,snr_bin"


def _rows(result: pa.Table, grouping: str, fpr: float, variant: str = "as_is") -> pa.Table:
    chosen = pc.and_(
        pc.and_(pc.equal(result["grouping"], grouping), pc.equal(result["fpr_target"], fpr)),
        pc.equal(result["variant"], variant),
    )
    return result.filter(chosen)


def _snr_label(low: float, edges) -> str:
    edges = list(edges)
    if low < edges[0]:
        return f"S/N < {edges[0]:g}"
    if low >= edges[-1]:
        return f"S/N >= {edges[-1]:g}"
    return f"S/N [{low:g}, {edges[edges.index(low) + 1]:g})"


def completeness_png(result: pa.Table, fpr: float, edges, variant: str = "as_is") -> bytes:
    """C(θ_E) per achieved peak-S/N bin at the threshold of ``fpr``, Wilson 95 % intervals as error bars; the
    marginal over S/N in black."""
    figure, axes = subplots(1, 1, 6.4, 4.2)
    axis = axes[0, 0]
    rows = _rows(result, CURVES, fpr, variant)
    snr = np.array(rows["snr_bin"].to_pylist(), float)
    for k, low in enumerate(sorted(set(snr[np.isfinite(snr)].tolist()))):
        part = rows.filter(pa.array(snr == low))
        _curve(axis, part, _snr_label(low, edges), offset=0.02 * (k - 1.5))
    _curve(axis, _rows(result, "theta_e_arcsec", fpr, variant), "all S/N", colour="k")
    axis.set_xlabel("θ_E (arcsec)")
    axis.set_ylabel("completeness")
    axis.set_ylim(-0.02, 1.02)
    axis.legend(fontsize=7)
    axis.set_title(f"completeness at FPR {fpr:g} on controls ({variant}); bars: Wilson 95 %", fontsize=9)
    return png(figure)


def _curve(axis, rows: pa.Table, label: str, offset: float = 0.0, colour=None) -> None:
    n = np.array(rows["n"].to_pylist(), float)
    theta = np.array(rows["theta_e_arcsec"].to_pylist(), float)[n > 0] + offset
    value = np.array(rows["completeness"].to_pylist(), float)[n > 0]
    low = np.array(rows["ci_low"].to_pylist(), float)[n > 0]
    high = np.array(rows["ci_high"].to_pylist(), float)[n > 0]
    if len(theta):
        axis.errorbar(
            theta,
            value,
            yerr=[np.maximum(value - low, 0), np.maximum(high - value, 0)],  # never below 0 by rounding
            marker="o",
            ms=4,
            capsize=3,
            label=label,
            color=colour,
        )


def heatmap_png(result: pa.Table, fpr: float, edges) -> bytes:
    """Completeness over θ_E x achieved peak-S/N bin at the threshold of ``fpr``, each cell with k/n (blank: no
    injection there)."""
    rows = _rows(result, CURVES, fpr)
    theta = sorted({v for v in rows["theta_e_arcsec"].to_pylist() if v is not None and np.isfinite(v)})
    snr = sorted({v for v in rows["snr_bin"].to_pylist() if v is not None and np.isfinite(v)})
    grid = np.full((len(snr), len(theta)), np.nan)
    figure, axes = subplots(1, 1, 6.4, 3.6)
    axis = axes[0, 0]
    for row in rows.to_pylist():
        if row["snr_bin"] not in snr or row["theta_e_arcsec"] not in theta or not row["n"]:
            continue
        i, j = snr.index(row["snr_bin"]), theta.index(row["theta_e_arcsec"])
        grid[i, j] = row["completeness"]
        axis.text(
            j,
            i,
            f"{row['completeness']:.2f}\n{row['n_detected']}/{row['n']}",
            ha="center",
            va="center",
            fontsize=8,
            color="k" if row["completeness"] > 0.5 else "w",  # readable on viridis' light and dark ends
        )
    shown = axis.imshow(grid, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto")
    axis.set_xticks(range(len(theta)), [f"{t:g}" for t in theta])
    axis.set_yticks(range(len(snr)), [_snr_label(s, edges) for s in snr], fontsize=7)
    axis.set_xlabel("θ_E (arcsec)")
    figure.colorbar(shown, ax=axis, label="completeness")
    axis.set_title(f"completeness at FPR {fpr:g}: θ_E x achieved peak S/N (r)", fontsize=9)
    return png(figure)


def snr_distribution_png(anchor_snr, injection_snr, suggested, edges) -> bytes:
    """The anchors' measured peak arc S/N beside the injections' achieved peak S/N (r band), normalised histograms
    on a log axis; the dataset's S/N edges dashed, the bins the anchors suggest dotted."""
    anchor_snr = np.asarray([v for v in anchor_snr if v is not None and v > 0], float)
    injection_snr = np.asarray([v for v in injection_snr if v is not None and v > 0], float)
    figure, axes = subplots(1, 1, 6.4, 3.4)
    axis = axes[0, 0]
    values = np.concatenate([anchor_snr, injection_snr])
    if len(values):
        bins = np.geomspace(max(values.min(), 0.1), max(values.max(), 1.0) * 1.01, 30)
        axis.hist(
            injection_snr, bins=bins, density=True, alpha=0.5, label=f"injections ({len(injection_snr)})"
        )
        axis.hist(anchor_snr, bins=bins, density=True, alpha=0.6, label=f"anchors ({len(anchor_snr)})")
    for k, e in enumerate(edges):
        axis.axvline(e, color="0.3", ls="--", lw=0.8, label="dataset S/N edges" if k == 0 else None)
    for k, e in enumerate(sorted({b for row in suggested for b in row[:2]})):
        axis.axvline(e, color="tab:red", ls=":", lw=1.2, label="suggested by anchors" if k == 0 else None)
    axis.set_xscale("log")
    axis.set_xlabel("arc S/N, peak per pixel (r)")
    axis.set_ylabel("density")
    axis.legend(fontsize=7)
    return png(figure)


def _unresolved(thresholds: list[dict]) -> str:
    low = [t for t in thresholds if not t["resolved"]]
    if not low:
        return ""
    n = low[0]["n_controls"]
    if n == 0:
        return '<p class="fail">No ok control: no threshold could be set, and nothing is detected.</p>'
    rates = ", ".join(f"{t['fpr_target']:g}" for t in low)
    return (
        f'<p class="warn">FPR {rates}: below what {n} independent control galaxies resolve (1/{n} = {1 / max(n, 1):.3g}). '
        "The threshold is then above every control score, and the achieved FPR is only bounded by its interval. "
        "More controls (more held-out galaxies, or control_partitions) resolve it.</p>"
    )


def _records(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        return round(v, 4) if isinstance(v, float) else v

    return table(pa.Table.from_pylist([{c: cell(r.get(c)) for c in columns} for r in rows]))


def render_report(
    result: pa.Table,
    summary: dict,
    *,
    title: str,
    anchors: pa.Table | None,
    injection_snr,
    anchor_scores: dict,
) -> str:
    """The report's HTML of a selection function (``table`` and ``summary`` of
    :func:`dhs_core.evaluate.selection_function.selection_function`)."""
    edges = summary["snr_edges"]
    fprs = [t["fpr_target"] for t in summary["thresholds"]]
    anchor_snr = anchors["arc_snr_peak"].to_pylist() if anchors is not None and anchors.num_rows else []
    suggested = snr_bins_from_anchors(anchor_snr)
    curves = "".join(
        f"<h3>At FPR {f:g}</h3>{img(completeness_png(result, f, edges), f'completeness at FPR {f}')}"
        f"{img(heatmap_png(result, f, edges), f'heat map at FPR {f}')}"
        for f in fprs
    )
    ablation = ""
    if "ablation" in summary:
        ablation = (
            "<h2>Centre-masked ablation</h2><p>The same model on the core-masked dataset (arc light zeroed near the "
            "lens): completeness that falls here came from arc light in the core.</p>"
            + _records(
                summary["ablation"]["thresholds"],
                ["fpr_target", "threshold", "n_controls", "fpr", "resolved"],
            )
            + _records(
                summary["ablation"]["auc"][:1], ["grouping", "auc", "low", "high", "n_positive", "n_negative"]
            )
            + img(completeness_png(result, fprs[0], edges, "core_masked"), "core-masked completeness")
        )
    anchor_rows = ""
    if anchors is not None and anchors.num_rows:
        listed = [
            {
                "name": r["name"],
                "tier": r["tier"],
                "status": r["status"],
                "arc_snr_peak": r["arc_snr_peak"],
                "theta_e_arcsec": r["theta_e_arcsec"],
                "score": anchor_scores.get(r["task_id"]),
            }
            for r in anchors.select(
                ["task_id", "name", "tier", "status", "arc_snr_peak", "theta_e_arcsec"]
            ).to_pylist()
        ]
        anchor_rows = _records(listed, list(listed[0]))
    spec_bins = "\n".join(f"    - [{low}, {high}, {weight}]" for low, high, weight in suggested)
    suggestion = (
        f"<p>The anchors' measured peak arc S/N suggests these injection S/N bins (equal shares of the anchors; "
        f"<code>dhs_core.evaluate.anchors.snr_bins_from_anchors</code>). In a dataset spec:</p>"
        f"<pre>manifest:\n  snr_definition: peak\n  snr_bins:\n{spec_bins}</pre>"
        if suggested
        else "<p>Too few anchors with a measured S/N to suggest bins.</p>"
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class=note>Counted: ok stamps. An object without a score, or with a NaN score, counts against the model (an
injection or anchor missed, a control or hard negative a false positive). Strata use the <b>achieved peak</b> arc S/N
per pixel in r. Definitions: docs/evaluation.md.</p>
<h2>Thresholds on the controls</h2>
{_unresolved(summary["thresholds"])}
{_records(summary["thresholds"], ["fpr_target", "threshold", "n_controls", "n_false_positive", "fpr", "ci_low", "ci_high", "resolved"])}
<h2>Completeness</h2>{curves}
<h2>ROC AUC, injections against controls</h2>
{_records(summary["auc"], ["grouping", "theta_e_arcsec", "snr_bin", "psf_bin", "depth_bin", "auc", "low", "high", "n_positive", "n_negative"])}
<h2>Recall on real anchors (known lenses)</h2>
{_records(summary["anchors"], ["fpr_target", "tier", "n", "n_detected", "recall", "ci_low", "ci_high"]) if summary["anchors"] else "<p>No anchors.</p>"}
{anchor_rows}
<h2>False-positive rate on hard negatives</h2>
{_records(summary["negatives"], ["fpr_target", "class", "n", "n_false_positive", "fpr", "ci_low", "ci_high"]) if summary["negatives"] else "<p>No hard negatives.</p>"}
<h2>Arc S/N: anchors beside injections</h2>
{img(snr_distribution_png(anchor_snr, injection_snr, suggested, edges), "arc S/N distributions")}
{suggestion}
{ablation}
<h2>Scores</h2><pre>{html.escape(json.dumps(summary["scores"], indent=1))}</pre>
</body></html>"""
