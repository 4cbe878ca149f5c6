"""Per-partition stamp QA (the seed's §12 table): masks, invvar and S/N by class, bandset, PSF fallbacks, status.

The table is tidy: one row per (section, quantity, class, statistic) with its value, so partitions stack
and a query picks what it needs. Classes are ``injection``, ``control`` and ``all``."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
from scipy.stats import ks_2samp

from dhs_core.conventions import BANDS
from dhs_core.figures import png, subplots
from dhs_core.manifest.draws import DEFAULT_SNR_BINS
from dhs_core.stamps.read import read_stamps, stamp_files
from dhs_core.stamps.reasons import failure_counts

BY_CLASS = (
    "bad_pixel_frac",
    "maskbit_frac",
    "wise_brightmask_frac",
    *(f"invvar_{s}_{b}" for s in ("median", "p10") for b in BANDS),
)
PERCENTILES = (5, 25, 50, 75, 95)


QA_COLUMNS = (
    "task_id",
    "is_control",
    "cutout_ok",
    "status",
    "status_reason",
    "arc_snr_peak",
    "arc_snr_integrated",
    "target_snr_definition",
    "psf_fallback_bands",
    "bad_pixel_frac",
    "wise_brightmask_frac",
    *(f"invvar_{s}_{b}" for s in ("median", "p10") for b in BANDS),
)


def pixel_columns(arrays: dict) -> dict:
    """Per stamp, from its pixels: ``maskbit_frac`` (pixels with any maskbit set; the original's "maskbit
    fraction" counted every flag) and ``all_zero_band`` (a band that is zero everywhere)."""
    image, maskbits = arrays["image"], arrays["maskbits"]
    pixels = int(np.prod(maskbits.shape[1:]))  # explicit: a partition may hold no stamp
    return {
        "maskbit_frac": (maskbits.reshape(len(maskbits), pixels) != 0).mean(axis=1),
        "all_zero_band": np.any(
            np.all(image.reshape(len(image), image.shape[1], pixels) == 0, axis=2), axis=1
        ),
    }


def with_pixel_columns(meta: pa.Table, arrays: dict) -> pa.Table:
    """``meta`` with ``n_bands`` and the :func:`pixel_columns` of its stamps' ``arrays`` appended."""
    pixels = pixel_columns(arrays)
    return (
        meta.append_column("n_bands", pa.array(np.full(len(meta), arrays["image"].shape[1], np.int32)))
        .append_column("maskbit_frac", pa.array(pixels["maskbit_frac"]))
        .append_column("all_zero_band", pa.array(pixels["all_zero_band"]))
    )


def read_qa_columns(folder: str) -> pa.Table:
    """``QA_COLUMNS`` and the :func:`pixel_columns` of every stamp of a partition, one Parquet file at a time
    (bounded memory: pixels of one work unit)."""
    parts = []
    for path in stamp_files(folder):
        arrays, meta = read_stamps(path, [*QA_COLUMNS, "image", "maskbits"])
        parts.append(with_pixel_columns(meta, arrays))
    return pa.concat_tables(parts)


def _values(meta: pa.Table, name: str) -> np.ndarray:
    return meta[name].to_numpy(zero_copy_only=False).astype(np.float64)


VISIBILITY = {
    "peak": 1.0,
    "integrated": 5.0,
}  # below both, an arc is invisible to the eye and to most finders


def _ok_injections(meta: pa.Table) -> np.ndarray:
    return (meta["status"].to_numpy(zero_copy_only=False) == "ok") & ~meta["is_control"].to_numpy(
        zero_copy_only=False
    ).astype(bool)


def snr_definition(meta: pa.Table) -> str:
    """The S/N the partition's targets are in (``peak`` or ``integrated``; a manifest has one)."""
    names = set(meta["target_snr_definition"].to_pylist()) - {None}
    return names.pop() if len(names) == 1 else "integrated"


def _achieved_snr(meta: pa.Table) -> np.ndarray:
    """Arc S/N of the ok injections (finite values), in the definition their targets are in."""
    snr = (
        meta[f"arc_snr_{snr_definition(meta)}"]
        .to_numpy(zero_copy_only=False)
        .astype(np.float64)[_ok_injections(meta)]
    )
    return snr[np.isfinite(snr)]


def visibility_shares(peak: np.ndarray, integrated: np.ndarray) -> dict:
    """Shares of arcs (peak and integrated S/N, r band, noiseless) below the visibility thresholds (``VISIBILITY``):
    peak S/N < 1, integrated S/N < 5, and both; with their count (shares None when there is none)."""
    n = len(peak)
    below = {"peak": peak < VISIBILITY["peak"], "integrated": integrated < VISIBILITY["integrated"]}
    shares = {
        f"{kind}_below_{VISIBILITY[kind]:g}": float(np.mean(b)) if n else None for kind, b in below.items()
    }
    shares["below_both"] = float(np.mean(below["peak"] & below["integrated"])) if n else None
    return {**shares, "ok_injections": n}


def visibility(meta: pa.Table) -> dict:
    """:func:`visibility_shares` of a partition's ok injections."""
    chosen = _ok_injections(meta)
    return visibility_shares(*(_values(meta, f"arc_snr_{kind}")[chosen] for kind in ("peak", "integrated")))


def stamp_qa_snr(meta: pa.Table, snr_bins=DEFAULT_SNR_BINS) -> dict:
    """Per target bin ``[low, high)``: its weight (``target``, normalised) and the fraction of ok injections whose
    achieved arc S/N, in the targets' own definition, falls in it (``achieved``)."""
    snr = _achieved_snr(meta)
    weights = np.array([b[2] for b in snr_bins], np.float64)
    weights = weights / weights.sum()
    return {
        f"[{low:g}, {high:g})": {
            "target": round(float(weight), 4),
            "achieved": round(float(np.mean((snr >= low) & (snr < high))), 4) if len(snr) else None,
        }
        for (low, high, _), weight in zip(snr_bins, weights)
    }


def stamp_qa(meta: pa.Table, snr_bins=DEFAULT_SNR_BINS) -> tuple[pa.Table, dict]:
    """QA of one partition's stamps: ``meta`` holds ``QA_COLUMNS``, ``n_bands`` and the ``pixel_columns``.

    Distributions (n, mean, percentiles) by class of ``BY_CLASS`` over complete cutouts (``cutout_ok``), with
    the KS statistic and p-value between injections and controls; bandset (stamps with three bands, stamps
    with an all-zero band); the achieved arc S/N (ok injections, in the targets' definition) per target bin against
    the bin's weight (``snr_bins``: (low, high, weight) rows) and the shares below the visibility thresholds; PSF
    fallbacks per band and source; status counts, reasons and failure categories by class.
    Returns the tidy table and a summary for asset metadata."""
    rows: list[tuple] = []
    control = meta["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    complete = meta["cutout_ok"].to_numpy(zero_copy_only=False).astype(bool)
    ok = meta["status"].to_numpy(zero_copy_only=False) == "ok"
    classes = {"injection": complete & ~control, "control": complete & control, "all": complete}
    summary: dict = {"stamps": meta.num_rows, "complete_cutouts": int(complete.sum())}
    for name in BY_CLASS:
        values = _values(meta, name)
        for label, chosen in classes.items():
            v = values[chosen & np.isfinite(values)]
            stats = {
                "n": len(v),
                "mean": v.mean() if len(v) else np.nan,
                **{f"p{q:02d}": (np.percentile(v, q) if len(v) else np.nan) for q in PERCENTILES},
            }
            rows += [("distribution", name, label, k, float(x)) for k, x in stats.items()]
        a, b = values[classes["injection"]], values[classes["control"]]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) and len(b):
            test = ks_2samp(a, b)
            rows += [
                ("ks", name, "injection_vs_control", "statistic", float(test.statistic)),
                ("ks", name, "injection_vs_control", "p_value", float(test.pvalue)),
            ]
            summary[f"ks_{name}"] = round(float(test.statistic), 4)

    zero_band = meta["all_zero_band"].to_numpy(zero_copy_only=False).astype(bool)
    three_bands = int(np.sum(meta["n_bands"].to_numpy() == len(BANDS)))
    rows += [
        ("bandset", "grz", "all", "stamps_with_three_bands", float(three_bands)),
        ("bandset", "all_zero_band", "all", "stamps", float(zero_band.sum())),
        ("bandset", "all_zero_band", "all", "ok_stamps", float((zero_band & ok).sum())),
    ]
    summary["ok_stamps_with_an_all_zero_band"] = int((zero_band & ok).sum())
    summary["stamps_not_grz"] = meta.num_rows - three_bands

    achieved = stamp_qa_snr(meta, snr_bins)
    for label, values in achieved.items():
        rows += [
            ("arc_snr", label, "injection", "target_fraction", values["target"]),
            (
                "arc_snr",
                label,
                "injection",
                "fraction",
                np.nan if values["achieved"] is None else values["achieved"],
            ),
        ]
    snr = _achieved_snr(meta)
    outside = float(np.mean((snr < snr_bins[0][0]) | (snr >= snr_bins[-1][1]))) if len(snr) else np.nan
    rows += [
        ("arc_snr", "outside_bins", "injection", "fraction", outside),
        ("arc_snr", "all", "injection", "n", float(len(snr))),
    ]
    summary["arc_snr_bins"] = achieved
    summary["arc_snr_definition"] = snr_definition(meta)
    summary["arc_snr_median"] = round(float(np.median(snr)), 3) if len(snr) else None
    seen = visibility(meta)
    rows += [
        ("visibility", name, "injection", "fraction", np.nan if value is None else value)
        for name, value in seen.items()
        if name != "ok_injections"
    ]
    summary["visibility"] = seen

    used = Counter(
        entry for entries in meta["psf_fallback_bands"].to_pylist() for entry in entries.split(",") if entry
    )
    fallbacks = Counter(entry.split(":")[0] for entry in used.elements())
    rows += [("psf", f"fallback_{b}", "all", "stamps", float(fallbacks.get(b, 0))) for b in BANDS]
    rows += [
        ("psf", f"fallback_{entry.replace(':', '_from_')}", "all", "stamps", float(n))
        for entry, n in sorted(used.items())
    ]
    summary["psf_fallbacks"] = {b: fallbacks.get(b, 0) for b in BANDS}
    statuses = Counter(meta["status"].to_pylist())
    reasons = Counter(r for r, good in zip(meta["status_reason"].to_pylist(), ok) if not good)
    rows += [("status", s, "all", "stamps", float(n)) for s, n in sorted(statuses.items())]
    rows += [("status_reason", r, "all", "stamps", float(n)) for r, n in reasons.most_common(20)]
    summary["status"] = dict(statuses)
    categories = failure_counts(
        [r for r, good in zip(meta["status_reason"].to_pylist(), ok) if not good],
        [c for c, good in zip(control, ok) if not good],
    )
    rows += [
        ("failure", category, label, "stamps", float(n))
        for (category, label), n in sorted(categories.items())
    ]
    summary["failures"] = {f"{category} ({label})": n for (category, label), n in sorted(categories.items())}
    summary["top_failure_reasons"] = dict(reasons.most_common(5))
    section, quantity, label, statistic, value = zip(*rows)
    table = pa.table(
        {
            "section": section,
            "quantity": quantity,
            "class": label,
            "statistic": statistic,
            "value": pa.array(value, pa.float64()),
        }
    )
    return table, summary


def qa_png(meta: pa.Table, snr_bins=DEFAULT_SNR_BINS, title: str = "") -> bytes:
    """PNG: bad-pixel fraction and r-band median invvar by class, achieved arc S/N against the target bins."""
    control = meta["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    complete = meta["cutout_ok"].to_numpy(zero_copy_only=False).astype(bool)
    figure, axes = subplots(1, 3, 13, 3.2)
    axes = axes[0]
    for axis, (name, label_x) in zip(
        axes[:2],
        (
            ("bad_pixel_frac", "bad r pixels in the stamp (fraction)"),
            ("invvar_median_r", "median r invvar (nMgy$^{-2}$)"),
        ),
    ):
        values = _values(meta, name)
        for label, chosen, colour in (("injections", ~control, "tab:red"), ("controls", control, "tab:blue")):
            v = values[chosen & complete & np.isfinite(values)]
            if len(v):
                axis.hist(
                    v, bins=30, histtype="step", density=True, color=colour, label=f"{label} ({len(v)})"
                )
        axis.set_xlabel(label_x)
        axis.set_ylabel("density (complete cutouts)")
        axis.legend(fontsize=7)
    achieved = stamp_qa_snr(meta, snr_bins)
    positions = np.arange(len(achieved))
    axes[2].bar(positions - 0.2, [a["target"] for a in achieved.values()], 0.4, color="0.6", label="target")
    axes[2].bar(
        positions + 0.2,
        [a["achieved"] or 0.0 for a in achieved.values()],
        0.4,
        color="tab:red",
        label="achieved",
    )
    axes[2].set_xticks(positions, list(achieved), fontsize=7)
    axes[2].set_xlabel(f"arc S/N bin ({snr_definition(meta)}, r band; ok injections)")
    axes[2].set_ylabel("fraction of ok injections")
    axes[2].legend(fontsize=7)
    figure.suptitle(title)
    return png(figure)
