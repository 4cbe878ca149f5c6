"""The shortcut report: one self-contained HTML file (figures embedded as PNG) over every stamp partition."""

from __future__ import annotations

import base64
import html
import json

import numpy as np
import pyarrow as pa

from dhs_core.figures import png, subplots
from dhs_core.stamps.qa import qa_png

THETA_E_BINS_ARCSEC = (0.0, 0.75, 1.25, 2.0, 10.0)
SNR_BINS = (0.0, 2.0, 8.0, 20.0, np.inf)


def rgb(image: np.ndarray) -> np.ndarray:
    """(S, S, 3) display colours of a (3, S, S) g r z stamp: z red, r green, g blue, an asinh stretch with its
    softening at each band's robust sky sigma (so noise and a faint arc both show)."""
    planes = []
    for band in image[::-1]:
        sigma = 1.4826 * np.median(np.abs(band - np.median(band))) or 1.0
        planes.append(np.arcsinh((band - np.median(band)) / sigma))
    stack = np.stack(planes, axis=-1)
    top = np.percentile(stack, 99.5) or 1.0
    return np.clip(stack / top, 0, 1)


def mosaic_png(panels: list[tuple[str, np.ndarray]], columns: int, title: str) -> bytes:
    """PNG of ``(label, (3, S, S) stamp)`` panels in rows of ``columns``."""
    rows = max(1, -(-len(panels) // columns))
    figure, axes = subplots(rows, columns, 1.6 * columns, 1.75 * rows)
    for axis in axes.ravel():
        axis.set_axis_off()
    for axis, (label, image) in zip(axes.ravel(), panels):
        axis.imshow(rgb(image), origin="lower", interpolation="nearest")
        axis.set_title(label, fontsize=6)
    figure.suptitle(title, fontsize=9)
    return png(figure)


def binned_panels(meta: pa.Table, images: np.ndarray, arcs: np.ndarray, column: str, edges, unit: str, per_bin: int = 3) -> list:
    """For each bin of ``column`` (injections only): up to ``per_bin`` (stamp, arc model) pairs, side by side."""
    values = meta[column].to_numpy(zero_copy_only=False).astype(np.float64)
    injected = ~meta["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    panels = []
    for low, high in zip(edges[:-1], edges[1:]):
        rows = np.flatnonzero(injected & (values >= low) & (values < high))[:per_bin]
        for i in rows:
            panels += [(f"{column} {values[i]:.2f}{unit}", images[i]), ("arc model", arcs[i])]
    return panels


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _auc_cell(result) -> str:
    if not isinstance(result, dict):
        return html.escape(str(result))
    return f"{result['auc']:.3f} [{result['low']:.3f}, {result['high']:.3f}]"


def gate_table(gates: dict) -> str:
    """HTML table: every probe's AUC and 95 % interval, raw and residual, with the chance interval."""
    head = "<tr><th>probe</th><th>raw</th><th>residual radial profile</th><th>AUC 0.5 interval</th></tr>"
    rows = []
    for name, label in (("core_lr", "core-only LR (r &lt; 10 px pixels)"), ("core_statistics", "core quantiles + mean LR"),
                        ("radial_profile", "azimuthal radial-profile LR")):
        pair = gates[name]
        rows.append(f"<tr><td>{label}</td><td>{_auc_cell(pair['raw'])}</td><td>{_auc_cell(pair['residual_radial_profile'])}</td>"
                    f"<td>[{pair['raw']['null_low']:.3f}, {pair['raw']['null_high']:.3f}]</td></tr>")
    sup = gates["arc_suppression"]
    rows.append(f"<tr><td>whole-stamp LR (4x4 binned)</td><td>{_auc_cell(sup['stamps'])}</td><td></td><td></td></tr>")
    rows.append(f"<tr><td>same probe, arc annulus 10-25 px zeroed</td><td>{_auc_cell(sup['annulus_zeroed'])}</td><td></td><td></td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em} table{border-collapse:collapse;margin:.5em 0}"
         "td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px} .pass{color:#070} .fail{color:#b00} pre{background:#f4f4f4;padding:.5em}"
         "img{max-width:100%}")


def verdict(passed: bool) -> str:
    return '<b class="pass">PASS</b>' if passed else '<b class="fail">FAIL</b>'


def render_report(meta: pa.Table, arrays: dict, gates: dict, checks: dict, partitions: pa.Table, config: dict, snr_bins) -> str:
    """The HTML text. ``meta``/``arrays``: a seeded sample of stamps over every partition (``meta`` with the
    ``stamps.qa.QA_COLUMNS``, ``theta_e_arcsec`` and ``row_id``; ``arrays`` with ``image`` and ``arc``); ``gates``: ``shortcut_gates`` on them; ``checks``: other verdicts by name (each a dict with
    ``passed``); ``partitions``: per-partition QA summary rows; ``config``: the run's settings."""
    control = meta["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    ok = meta["status"].to_numpy(zero_copy_only=False) == "ok"
    images, arcs = arrays["image"], arrays["arc"]
    controls = [(f"control {i}", images[i]) for i in np.flatnonzero(control & ok)[:12]]
    chosen = ok & ~control
    sub = meta.filter(pa.array(chosen))
    by_theta = binned_panels(sub, images[chosen], arcs[chosen], "theta_e_arcsec", THETA_E_BINS_ARCSEC, '"')
    by_snr = binned_panels(sub, images[chosen], arcs[chosen], "arc_snr_integrated", SNR_BINS, "")
    gate_line = (f"core-only AUC ({gates['preprocessing']}) = {gates['gated_auc']:.3f}, threshold {gates['threshold']:.2f}: "
                 f"{verdict(gates['passed'])}; core r &lt; 8 px brightness, injections / controls: "
                 f"mean x{gates['core_brightness']['mean_ratio']:.2f}, median x{gates['core_brightness']['median_ratio']:.2f}")
    check_rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{verdict(bool(result.get('passed')))}</td>"
                         f"<td><pre>{html.escape(json.dumps(result, indent=1, default=str)[:3000])}</pre></td></tr>"
                         for name, result in checks.items())
    partition_rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>"
                             for row in partitions.to_pylist())
    partition_head = "".join(f"<th>{html.escape(c)}</th>" for c in partitions.column_names)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>dhs shortcut report</title><style>{STYLE}</style></head><body>
<h1>dhs shortcut report</h1>
<p>{len(meta)} stamps sampled over every materialized partition ({int((~control).sum())} injections, {int(control.sum())} controls).
Positives are injections; every AUC is cross-validated (folds keep a galaxy whole, one stamp per galaxy and class) with its 95 % interval.</p>
<h2>Shortcut gate</h2><p>{gate_line}</p>{gate_table(gates)}
<h2>Checks</h2><table><tr><th>check</th><th>verdict</th><th>details</th></tr>{check_rows}</table>
<h2>Arc S/N against the target, QA distributions</h2>{_img(qa_png(meta, snr_bins, "sampled stamps"), "QA distributions")}
<h2>Per partition</h2><table><tr>{partition_head}</tr>{partition_rows}</table>
<h2>Controls</h2>{_img(mosaic_png(controls, 6, "controls (cutouts, g r z)"), "controls")}
<h2>Injections by Einstein radius (stamp, then its noiseless arc model)</h2>{_img(mosaic_png(by_theta, 6, "by theta_E"), "by theta_E")}
<h2>Injections by achieved arc S/N</h2>{_img(mosaic_png(by_snr, 6, "by arc S/N"), "by arc S/N")}
<h2>Run configuration</h2><pre>{html.escape(json.dumps(config, indent=1, default=str))}</pre>
</body></html>"""
