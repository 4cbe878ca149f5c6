"""Column audit: what a training export would hand a model must not carry the label.

``TRAINING_EXPORT`` is the one declaration of those columns. The stamp ``image`` is where the arc is meant
to be, so only the other columns are tested one by one for separating power."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dhs_core.diagnostics.gates import balanced_sample
from dhs_core.diagnostics.probes import separation_auc

TRAINING_EXPORT = (
    "image",
    "invvar",
    "maskbits",
    "psfsize_g",
    "psfsize_r",
    "psfsize_z",
    "psfdepth_mag5_r",
    "ebv",
)
SIGNAL_COLUMNS = ("image",)
# columns that are the label or are computed from it: the task's configuration, its draws, the arc's metrics
LABEL_BEARING = (
    "is_control",
    "task_id",
    "config_id",
    "theta_e_arcsec",
    "src_dmag",
    "src_reff_arcsec",
    "src_e",
    "shear",
    "src_x_arcsec",
    "src_y_arcsec",
    "src_phi_rad",
    "shear_phi_rad",
    "src_gr",
    "src_rz",
    "lens_e",
    "lens_q",
    "lens_e1",
    "lens_e2",
    "lens_phi_rad",
    "gamma1",
    "gamma2",
    "src_q",
    "src_kind",
    "src_n",
    "template_index",
    "src_rmag",
    "target_arc_snr",
    "task_seed64",
    "arc",
    "arc_snr_peak",
    "arc_snr_integrated",
    "arc_snr_sum",
    "injected_flux_g",
    "injected_flux_r",
    "injected_flux_z",
    "src_flux_g",
    "src_flux_r",
    "src_flux_z",
    "magnification",
    "lensed_hlr_arcsec",
    "physics_warnings",
    "snr_null_reason",
    "psf_fwhm_used_g",
    "psf_fwhm_used_r",
    "psf_fwhm_used_z",
    "psf_fallback_bands",
)
AUC_TOLERANCE = 0.05
AUDIT_ALPHA = (
    0.01  # family-wise false-alarm rate of the chance interval: a blocking check must not fail clean data
)


def column_value(table: pa.Table, arrays: dict, name: str) -> np.ndarray:
    """One number per stamp for a column: itself if scalar; the median over pixels of invvar (r band), the
    fraction of flagged pixels of maskbits."""
    if name == "invvar":
        return np.median(arrays["invvar"][:, 1].reshape(len(arrays["invvar"]), -1), axis=1)
    if name == "maskbits":
        return (arrays["maskbits"].reshape(len(arrays["maskbits"]), -1) != 0).mean(axis=1)
    return table[name].to_numpy(zero_copy_only=False).astype(np.float64)


def column_audit(
    table: pa.Table,
    arrays: dict,
    export: tuple[str, ...] = TRAINING_EXPORT,
    seed: int = 0,
    alpha: float = AUDIT_ALPHA,
) -> dict:
    """``label_bearing``: exported columns that carry the label (must be empty); per tested column, the AUC
    with which it alone separates injections from controls, and whether that is harmless: within 0.5 ± 0.05,
    or (small samples) inside the interval of 0.5 that all tested columns stay in by chance with probability
    ``1 - alpha`` (Bonferroni over the columns: testing seven at 95 % each would fail a third of clean runs).
    ``passed`` when both hold for every column. One
    stamp per galaxy and class is used (``gates.balanced_sample``): a galaxy's tasks share its columns."""
    labels = ~table["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    rows = balanced_sample(labels, table["row_id"].to_numpy(), len(labels), seed)
    table, labels = table.take(rows), labels[rows]
    arrays = {name: values[rows] for name, values in arrays.items()}
    leaking = [c for c in export if c in LABEL_BEARING]
    tested = [name for name in export if name not in SIGNAL_COLUMNS and name not in leaking]
    per_column = {}
    for name in tested:
        result = separation_auc(
            np.nan_to_num(column_value(table, arrays, name), nan=-1.0), labels, tests=len(tested), alpha=alpha
        )
        harmless = abs(result.auc - 0.5) <= AUC_TOLERANCE or result.consistent_with_chance
        per_column[name] = {**result.record(), "harmless": harmless}
    return {
        "label_bearing": leaking,
        "columns": per_column,
        "passed": not leaking and all(c["harmless"] for c in per_column.values()),
    }
