"""What the report tells a lens-finder author about every stamp (not a sample): how injections fare per stratum,
what was injected, and why stamps failed, by class. Read through DuckDB from the stamps' metadata columns only."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
from matplotlib.ticker import NullFormatter

from dhs_core.figures import png, subplots
from dhs_core.stamps.reasons import failure_counts

THETA_E_EDGES_ARCSEC = (0.0, 0.75, 1.25, 2.0, 10.0)
PARAMETER_SAMPLE = 100_000  # ok injections drawn (seeded) for the parameter distributions


def _bin_sql(column: str, edges) -> tuple[str, str]:
    """SQL for the label ``[low, high)`` of ``column``'s bin among ``edges`` (null outside them), and for its index."""
    pairs = list(zip(edges[:-1], edges[1:]))
    label = " ".join(
        f"WHEN {column} >= {low!r} AND {column} < {high!r} THEN '[{low:g}, {high:g})'" for low, high in pairs
    )
    index = " ".join(
        f"WHEN {column} >= {low!r} AND {column} < {high!r} THEN {k}" for k, (low, high) in enumerate(pairs)
    )
    return f"CASE {label} END", f"CASE {index} END"


def stratum_table(
    con: duckdb.DuckDBPyConnection,
    source: str,
    snr_edges,
    by=("theta_e_bin_arcsec", "target_snr_bin", "psf_bin", "depth_bin"),
) -> pa.Table:
    """Injections per stratum — by default theta_E bin, target S/N bin, PSF bin and depth bin (the manifest's quartile
    bins), any subset in ``by`` — in bin order: tasks, the share ok, the median achieved arc S/N in the targets' own
    definition and the median magnification of the ok ones."""
    achieved = "CASE WHEN target_snr_definition = 'integrated' THEN arc_snr_integrated ELSE arc_snr_peak END"
    theta_label, theta_index = _bin_sql("theta_e_arcsec", THETA_E_EDGES_ARCSEC)
    snr_label, snr_index = _bin_sql("target_arc_snr", snr_edges)
    keys = {
        "theta_e_bin_arcsec": (theta_label, theta_index),
        "target_snr_bin": (snr_label, snr_index),
        "psf_bin": ("psf_bin", "psf_bin"),
        "depth_bin": ("depth_bin", "depth_bin"),
    }
    groups = ", ".join(f"{keys[k][0]} AS {k}" for k in by)
    order = ", ".join(f"min({keys[k][1]})" for k in by)
    return con.sql(f"""
        SELECT {groups}, count(*) AS tasks, round(avg(CASE WHEN status = 'ok' THEN 1.0 ELSE 0.0 END), 3) AS ok_share,
               round(median(CASE WHEN status = 'ok' THEN {achieved} END), 2) AS median_achieved_snr,
               round(median(CASE WHEN status = 'ok' THEN magnification END), 2) AS median_magnification
        FROM {source} WHERE NOT is_control GROUP BY ALL ORDER BY {order}""").to_arrow_table()


def failure_table(con: duckdb.DuckDBPyConnection, source: str) -> pa.Table:
    """Failed stamps by category (``dhs_core.stamps.reasons``) and class, most frequent first."""
    failed = con.sql(f"SELECT status_reason, is_control FROM {source} WHERE status <> 'ok'").to_arrow_table()
    counts = failure_counts(failed["status_reason"].to_pylist(), failed["is_control"].to_pylist())
    rows = [{"category": category, "class": label, "stamps": n} for (category, label), n in counts.items()]
    return pa.Table.from_pylist(
        sorted(rows, key=lambda r: (-r["stamps"], r["category"], r["class"])),
        schema=pa.schema([("category", pa.string()), ("class", pa.string()), ("stamps", pa.int64())]),
    )


def parameter_sample(
    con: duckdb.DuckDBPyConnection, source: str, seed: int, n: int = PARAMETER_SAMPLE
) -> pa.Table:
    """Up to ``n`` ok injections (a seeded reservoir sample): theta_E, source r magnitude, lensed half-light radius,
    magnification, colours and achieved S/N."""
    return con.sql(f"""
        SELECT theta_e_arcsec, 22.5 - 2.5 * log10(src_flux_r) AS src_rmag, lensed_hlr_arcsec, magnification, src_gr, src_rz,
               arc_snr_peak, arc_snr_integrated
        FROM {source} WHERE status = 'ok' AND NOT is_control AND src_flux_r > 0
        USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})""").to_arrow_table()


PARAMETER_AXES = (
    ("theta_e_arcsec", "Einstein radius θ_E (arcsec)", False),
    ("src_rmag", "source r (AB mag, unlensed)", False),
    ("lensed_hlr_arcsec", "lensed half-light radius (arcsec)", False),
    ("magnification", "magnification μ", True),
    ("src_gr", "source g − r (AB mag)", False),
    ("src_rz", "source r − z (AB mag)", False),
    ("arc_snr_peak", "arc peak S/N (r, per pixel)", True),
    ("arc_snr_integrated", "arc integrated S/N (r)", True),
)


def parameters_png(sample: pa.Table) -> bytes:
    """Histograms of the injected parameters of ok injections, one panel each, axes labelled with units."""
    figure, axes = subplots(2, 4, 13, 5.4)
    for axis, (column, label, logarithmic) in zip(axes.ravel(), PARAMETER_AXES):
        values = sample[column].to_numpy(zero_copy_only=False).astype(np.float64)
        values = values[np.isfinite(values) & ((values > 0) if logarithmic else True)]
        if len(values):
            bins = (
                np.geomspace(values.min(), values.max(), 30)
                if logarithmic and values.min() < values.max()
                else 30
            )
            axis.hist(values, bins=bins, color="tab:red", histtype="stepfilled", alpha=0.7)
            if logarithmic:
                axis.set_xscale("log")
                axis.xaxis.set_minor_formatter(NullFormatter())  # decades only: minor labels overprint
        axis.set_xlabel(label, fontsize=8)
        axis.set_ylabel("ok injections", fontsize=8)
    figure.suptitle(f"injected parameters ({sample.num_rows:,} ok injections)", fontsize=9)
    return png(figure)
