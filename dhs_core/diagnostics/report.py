"""The training-set report: one self-contained HTML file (figures embedded as PNG) over every stamp partition, written
for the author of a lens finder — what the positives look like, whether anything but the arc tells the classes apart,
what was injected where, and what failed."""

from __future__ import annotations

import html
import json

import numpy as np
import pyarrow as pa

from dhs_core.conventions import PIXEL_SCALE_ARCSEC
from dhs_core.diagnostics.display import lupton_rgb, panel_png, stamp_stretch, viewer_url
from dhs_core.diagnostics.strata import THETA_E_EDGES_ARCSEC, parameters_png
from dhs_core.html_report import STYLE, img
from dhs_core.html_report import table as html_table
from dhs_core.stamps.qa import VISIBILITY, qa_png, snr_definition, visibility_shares

VISIBLE_PEAK_SNR = 3.0  # galleries by theta_E show arcs at least this bright (peak S/N per pixel, r)
GALLERY_PER_BIN = 4
MIN_GATE_GALAXIES = (
    200  # per class: below this, a gate's 95 % interval is wider than +-0.1 and its verdict says little
)


def verdict(passed: bool, warn_only: bool = False) -> str:
    if passed:
        return '<b class="pass">PASS</b>'
    return '<b class="warn">WARN</b>' if warn_only else '<b class="fail">FAIL</b>'


def _interval(record: dict) -> str:
    return f"[{record['low']:.3f}, {record['high']:.3f}]"


def check_rows(gates: dict, checks: dict, core_radius_arcsec: float, max_theta_e: float) -> list[dict]:
    """One row per verdict: the check, its verdict, the galaxies it rests on, the statistic with its interval, and a
    note where the sample or the grid limits what the verdict means."""
    prep = gates["preprocessing"]
    core = gates["core_lr"][prep]
    per_class = min(gates["n_injections"], gates["n_controls"])
    notes = []
    if per_class < MIN_GATE_GALAXIES:
        notes.append(
            f"only {per_class} galaxies per class (under {MIN_GATE_GALAXIES}): the interval is "
            f"{core['high'] - core['low']:.2f} wide, so this verdict says little either way"
        )
    if max_theta_e * 2 > core_radius_arcsec:
        notes.append(
            f'arcs of the grid (theta_E up to {max_theta_e:g}") fall inside the {core_radius_arcsec:.1f}" core: a high '
            "core AUC here measures the arcs themselves, not a shortcut; read the residual column and the arc-suppression probe"
        )
    rows = [
        {
            "check": "shortcut gate (warns)",
            "verdict": verdict(gates["passed"], warn_only=True),
            "galaxies": f"{gates['n_injections']} + {gates['n_controls']}",
            "statistic": f"core-only AUC ({prep}) {gates['gated_auc']:.3f} {_interval(core)}; threshold {gates['threshold']:.2f}",
            "chance": f"[{core['null_low']:.3f}, {core['null_high']:.3f}]",
            "note": "; ".join(notes),
        }
    ]
    audit = checks["column audit"]
    if audit.get("columns"):
        name, worst = max(audit["columns"].items(), key=lambda item: abs(item[1]["auc"] - 0.5))
        rows.append(
            {
                "check": "column audit",
                "verdict": verdict(audit["passed"]),
                "galaxies": f"{worst['n_positive']} + {worst['n_negative']}",
                "statistic": f"worst column {name}: AUC {worst['auc']:.3f}; label-bearing columns: {len(audit['label_bearing'])}",
                "chance": f"[{worst['null_low']:.3f}, {worst['null_high']:.3f}] (family-wise)",
                "note": "",
            }
        )
    null = checks["null injection"]
    probe = null.get("probe")
    if isinstance(probe, dict):
        statistic = f"probe AUC {probe['auc']:.3f}, one-sided p {probe['p_value']:.2f}; {null['bit_identical']} / {null['tasks']} bit-identical"
        galaxies, chance = (
            f"{probe['n_positive']} + {probe['n_negative']}",
            f"[{probe['null_low']:.3f}, {probe['null_high']:.3f}] (permutations)",
        )
    else:
        statistic, galaxies, chance = (
            f"{null.get('bit_identical', 0)} / {null.get('tasks', 0)} bit-identical; probe: {probe}",
            "",
            "",
        )
    rows.append(
        {
            "check": "null injection",
            "verdict": verdict(null["passed"]),
            "galaxies": galaxies,
            "statistic": statistic,
            "chance": chance,
            "note": "",
        }
    )
    leakage = checks["split leakage"]
    rows.append(
        {
            "check": "split leakage",
            "verdict": verdict(leakage["passed"]),
            "galaxies": "every stamp",
            "statistic": "; ".join(
                f"{key}s in two splits: {leakage[key]['in_two_splits']}"
                for key in ("row_id", "brickname", "region_id")
                if key in leakage
            ),
            "chance": "",
            "note": "",
        }
    )
    symmetry = checks.get("class symmetry")
    if symmetry:
        smallest = (
            min((t["p_value"], name) for name, t in symmetry["tests"].items())
            if symmetry["tests"]
            else (1.0, "")
        )
        rows.append(
            {
                "check": "class symmetry (every stamp, partitions pooled)",
                "verdict": verdict(symmetry["passed"]),
                "galaxies": f"{symmetry['galaxies_injection']} + {symmetry['galaxies_control']}",
                "statistic": f"smallest p {smallest[0]:.3g} ({smallest[1]}); separating: {', '.join(symmetry.get('separating', [])) or 'none'}",
                "chance": f"per-test level {symmetry['per_test_level']:.2g}",
                "note": "" if symmetry["judged"] else "too few galaxies to judge",
            }
        )
    return rows


def gate_table(gates: dict) -> str:
    """Every probe of the shortcut gate: AUC [95 % interval], raw and with the radial profile subtracted, and the
    interval an AUC of 0.5 has for these class sizes."""

    def cell(record: dict) -> str:
        return f"{record['auc']:.3f} {_interval(record)}"

    head = "<tr><th>probe</th><th>raw stamps</th><th>residual (radial profile subtracted)</th><th>chance (AUC 0.5)</th></tr>"
    rows = []
    for name, label in (
        ("core_lr", f"core-only LR (pixels within {gates['core_radius_px']:g} px)"),
        ("core_statistics", "core quantiles + mean LR"),
        ("radial_profile", "azimuthal radial-profile LR"),
    ):
        pair = gates[name]
        rows.append(
            f"<tr><td>{label}</td><td>{cell(pair['raw'])}</td><td>{cell(pair['residual_radial_profile'])}</td>"
            f"<td>[{pair['raw']['null_low']:.3f}, {pair['raw']['null_high']:.3f}]</td></tr>"
        )
    suppression = gates["arc_suppression"]
    rows.append(
        f"<tr><td>whole-stamp LR (4 x 4 binned)</td><td>{cell(suppression['stamps'])}</td><td></td><td></td></tr>"
    )
    rows.append(
        f"<tr><td>the same, arc annulus 10-25 px zeroed</td><td>{cell(suppression['annulus_zeroed'])}</td><td></td><td></td></tr>"
    )
    brightness = gates["core_brightness"]
    rows.append(
        f"<tr><td>core brightness (r &lt; 8 px), injections / controls</td><td>mean x{brightness['mean_ratio']:.2f}, "
        f"median x{brightness['median_ratio']:.2f}</td><td></td><td></td></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _check_table(rows: list[dict]) -> str:
    head = "<tr><th>check</th><th>verdict</th><th>galaxies (injected + control)</th><th>statistic [95 % interval]</th><th>chance</th><th>note</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(r['check'])}</td><td>{r['verdict']}</td><td>{html.escape(r['galaxies'])}</td>"
        f"<td>{html.escape(r['statistic'])}</td><td>{html.escape(r['chance'])}</td><td class=note>{html.escape(r['note'])}</td></tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def _figure(stamp: np.ndarray, arc: np.ndarray | None, caption: str, ra: float, dec: float) -> str:
    """A stamp, and beside it its arc model in the same stretch, with a caption and a viewer link."""
    stretch = stamp_stretch(stamp)
    images = img(panel_png(lupton_rgb(stamp, stretch)), "stamp")
    if arc is not None:
        images += img(panel_png(lupton_rgb(arc, stretch, black=True)), "arc model, same stretch")
    return (
        f'<figure>{images}<figcaption>{html.escape(caption)}<br><a href="{html.escape(viewer_url(ra, dec))}">'
        f"viewer {ra:.4f}, {dec:.4f}</a></figcaption></figure>"
    )


def gallery(meta: pa.Table, arrays: dict, rows: np.ndarray, caption) -> str:
    ra, dec = meta["ra"].to_numpy(), meta["dec"].to_numpy()
    return (
        "<div class=gallery>"
        + "".join(
            _figure(
                arrays["image"][i], arrays["arc"][i] if "arc" in arrays else None, caption(i), ra[i], dec[i]
            )
            for i in rows
        )
        + "</div>"
    )


def _distinct(rows: np.ndarray, galaxy: np.ndarray, n: int) -> list[int]:
    """The first ``n`` of ``rows`` on distinct galaxies (replicates and selection sets repeat a galaxy)."""
    seen, kept = set(), []
    for i in rows.tolist():
        if galaxy[i] not in seen and len(kept) < n:
            seen.add(galaxy[i])
            kept.append(i)
    return kept


def _binned(values: np.ndarray, chosen: np.ndarray, galaxy: np.ndarray, edges) -> np.ndarray:
    """Up to ``GALLERY_PER_BIN`` of the chosen rows per bin of ``values``, distinct galaxies, each bin sorted by value."""
    picked = []
    for low, high in zip(edges[:-1], edges[1:]):
        rows = np.flatnonzero(chosen & (values >= low) & (values < high))
        picked += sorted(_distinct(rows, galaxy, GALLERY_PER_BIN), key=lambda i: values[i])
    return np.array(picked, dtype=np.int64)


def _brightness_sentence(config: dict, definition: str) -> str:
    """How the arcs' brightness was set: S/N targets (and in which S/N), or a magnitude offset from the lens."""
    manifest = config.get("manifest_config") or {}
    if manifest.get("brightness_mode") == "dmag":
        return (
            "Arc brightness is set by a magnitude offset from the lens (<b>dmag</b>), not by S/N targets; the S/N "
            f"shown is the achieved <b>{html.escape(definition)}</b> S/N (r band)."
        )
    return f"Arc S/N targets are in <b>{html.escape(definition)}</b> S/N (r band)."


def render_report(
    meta: pa.Table,
    arrays: dict,
    gates: dict,
    checks: dict,
    partitions: pa.Table,
    config: dict,
    snr_bins,
    population: dict,
) -> str:
    """The HTML text. ``meta``/``arrays``: a seeded sample of stamps over every partition (``meta`` with the
    ``stamps.qa.QA_COLUMNS``, ``theta_e_arcsec``, ``row_id``, ``ra``, ``dec``; ``arrays`` with ``image`` and ``arc``);
    ``gates``: ``shortcut_gates`` on them; ``checks``: the other verdicts by name; ``partitions``: per-partition QA
    rows; ``config``: the run's settings; ``population``, over every stamp: ``strata`` and ``strata_theta_snr``
    (``strata.stratum_table`` by every key, and by theta_E and S/N bin),
    ``failures`` (``strata.failure_table``), ``parameters`` (``strata.parameter_sample``)."""
    control = meta["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    ok = meta["status"].to_numpy(zero_copy_only=False) == "ok"
    theta_e = meta["theta_e_arcsec"].to_numpy(zero_copy_only=False).astype(np.float64)
    peak = np.nan_to_num(meta["arc_snr_peak"].to_numpy(zero_copy_only=False).astype(np.float64))
    integrated = np.nan_to_num(meta["arc_snr_integrated"].to_numpy(zero_copy_only=False).astype(np.float64))
    injected = ok & ~control
    definition = snr_definition(meta)
    grid_theta = [float(v) for v in np.unique(theta_e[~control])] or [0.0]
    parameters = population["parameters"]
    seen = visibility_shares(
        *(parameters[c].to_numpy(zero_copy_only=False) for c in ("arc_snr_peak", "arc_snr_integrated"))
    )
    if seen["ok_injections"]:
        shares = (
            f"{seen['peak_below_1']:.1%} have a peak S/N below {VISIBILITY['peak']:g}, "
            f"{seen['integrated_below_5']:.1%} an integrated S/N below {VISIBILITY['integrated']:g}, "
            f"<b>{seen['below_both']:.1%} both</b> (invisible)"
        )
    else:
        shares = "no ok injection"
    rows = check_rows(gates, checks, gates["core_radius_px"] * PIXEL_SCALE_ARCSEC, max(grid_theta))

    def caption(i):
        return f"θ_E {theta_e[i]:.2f}″, peak S/N {peak[i]:.1f}, integrated {integrated[i]:.1f}"

    galaxy = meta["row_id"].to_numpy()
    by_theta = _binned(theta_e, injected & (peak >= VISIBLE_PEAK_SNR), galaxy, THETA_E_EDGES_ARCSEC)
    snr_edges = [b[0] for b in snr_bins] + [snr_bins[-1][1]]
    achieved = peak if definition == "peak" else integrated
    by_snr = _binned(achieved, injected, galaxy, snr_edges)
    controls = np.array(_distinct(np.flatnonzero(control & ok), galaxy, 8), dtype=np.int64)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>dhs training-set report: {html.escape(str(config.get("dataset", "")))}</title><style>{STYLE}</style></head><body>
<h1>dhs training-set report: dataset {html.escape(str(config.get("dataset", "")))}</h1>
<p>spec hash {html.escape(str(config.get("spec_hash", "")))}; selection sets {html.escape(", ".join(config.get("selection_sets", [])))}</p>
<p>{len(partitions)} stamp partition(s). Positives are injections of simulated lensed arcs into the real coadds around LRGs;
negatives are the same kind of galaxy, untouched. {_brightness_sentence(config, definition)}
Of the ok injections, {shares}. The grid's Einstein radii: {", ".join(f"{t:g}" for t in grid_theta)}″
(seeing ~1.3″ resolves θ_E ≳ 0.7″).</p>
<p class=note>{len(meta)} stamps sampled (seeded) over every partition for the galleries and probes: {int(injected.sum())} ok injections,
{int((control & ok).sum())} ok controls. Tables of strata, parameters and failures count every stamp.</p>
<h2>Verdicts</h2>{_check_table(rows)}
<p class=note>Every AUC is cross-validated with folds that keep a galaxy whole, on one stamp per galaxy and class; an AUC of 0.5 is
chance. The gate warns; the other checks block the pipeline.</p>
<h3>The shortcut gate's probes</h3>{gate_table(gates)}
<h2>Injections by Einstein radius (peak S/N ≥ {VISIBLE_PEAK_SNR:g}): stamp, and its noiseless arc model in the same stretch</h2>
{gallery(meta, arrays, by_theta, caption)}
<h2>Injections by achieved arc S/N ({html.escape(definition)}), one row per S/N bin</h2>
{gallery(meta, arrays, by_snr, caption)}
<h2>Controls</h2>{gallery(meta, {"image": arrays["image"]}, controls, lambda i: "control")}
<p class=note>Colours: Lupton et al. (2004) asinh, z red, r green, g blue; black at each band's sky level, the linear range 20 times
the stamp's noise; the arc model is drawn with the stamp's stretch, so its brightness compares with the stamp's. North up, east left,
0.262″ pixels; links open the Legacy Surveys viewer (DR10) at the galaxy.</p>
<h2>Injected parameters</h2>{img(parameters_png(parameters), "injected parameters")}
<h2>Per stratum (every injection)</h2>
<p class=note>θ_E bin × target S/N bin; ok share, and of the ok ones the median achieved S/N and magnification.</p>
{html_table(population["strata_theta_snr"])}
<details><summary>θ_E × S/N × PSF bin × depth bin (the manifest's quartile bins: 0 = best seeing, shallowest)</summary>
{html_table(population["strata"])}</details>
<h2>Failures by reason and class (every stamp)</h2>{html_table(population["failures"])}
<p class=note>Expected reasons: coverage (not_in_survey, no_coadd_files, band_missing, maskbits_for_snr), brick_edge,
non_finite_pixels, masks (masked_near_lens, arc_on_masked_pixels, class_match). Any other fails stamps_valid.</p>
<h2>QA distributions (sampled stamps)</h2>{img(qa_png(meta, snr_bins, "sampled stamps"), "QA distributions")}
<h2>Per partition</h2>{html_table(partitions)}
<h2>Run configuration</h2><pre>{html.escape(json.dumps(config, indent=1, default=str))}</pre>
</body></html>"""
