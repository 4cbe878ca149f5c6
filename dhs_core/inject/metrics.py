"""Per-stamp metrics of an injected arc. Definitions (written out in docs/injection.md):

* good pixels of a band: ``invvar > 0`` and none of that band's bad maskbits (``BAD_PIXEL[band]``);
* ``arc_snr_peak``: max over good pixels of ``arc * sqrt(invvar)`` (the original's ``arc_snr``, the S/N the seed's
  target bins are written in, and the default S/N target);
* ``arc_snr_integrated``: ``sqrt(sum over good pixels of arc^2 * invvar)``, the matched-filter S/N of the
  noiseless arc;
* ``arc_snr_sum``: ``sum(arc) / sqrt(sum(1/invvar))`` over all good pixels, as the original defined it
  (diluted by sky pixels; kept for comparison);
* ``bad_pixel_frac``: fraction of pixels that are not good; ``wise_brightmask_frac``: fraction with WISEM1/2;
* ``invvar_median_<b>``, ``invvar_p10_<b>``: over the band's pixels with invvar > 0 (nMgy^-2);
* ``injected_flux_<b>``: sum of the arc (nanomaggies);
* ``magnification``: lensed over unlensed flux of the source on the same grid and PSF;
* ``lensed_hlr_arcsec``: radius about the lens centre enclosing half the arc's flux.

S/N metrics are null, with a reason, when the maskbits are missing or part of the stamp is off the brick.
"""

from __future__ import annotations

import numpy as np

from dhs_core.conventions import BAD_PIXEL, MaskBits

SNR_DEFINITIONS = ("peak", "integrated")  # what an S/N target may be in: arc_snr_peak or arc_snr_integrated


def good_pixels(invvar: np.ndarray, maskbits: np.ndarray, bands: str) -> np.ndarray:
    """Good pixels per band: invvar > 0 and none of that band's bad maskbits.

    ``invvar`` (..., B, ny, nx) with one plane per band of ``bands``, ``maskbits`` (..., ny, nx).
    """
    bad = np.array([int(BAD_PIXEL[b]) for b in bands], dtype=np.int64)[:, None, None]
    return (invvar > 0) & ((maskbits[..., None, :, :] & bad) == 0)


def snr_metrics(arc: np.ndarray, invvar: np.ndarray, good: np.ndarray) -> dict[str, np.ndarray]:
    """Peak, integrated and the original's summed S/N of one band's noiseless arc (nanomaggies).

    Arrays (..., ny, nx); one value per leading index (a float for a single 2-D arc).
    """
    axes = (-2, -1)
    sigma_inverse = np.sqrt(np.where(good, invvar, 0.0))
    weighted = arc * sigma_inverse
    peak = np.where(good.any(axis=axes), np.max(weighted, axis=axes), 0.0)
    integrated = np.sqrt(np.sum(weighted**2, axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = np.sum(np.where(good, 1.0 / np.where(good, invvar, 1.0), 0.0), axis=axes)
        summed = np.where(variance > 0, np.sum(np.where(good, arc, 0.0), axis=axes) / np.sqrt(variance), 0.0)
    return {"arc_snr_peak": peak, "arc_snr_integrated": integrated, "arc_snr_sum": summed}


def mask_fractions(maskbits: np.ndarray, good_r: np.ndarray) -> dict[str, np.ndarray]:
    """``bad_pixel_frac`` (from the r band's good pixels) and ``wise_brightmask_frac``, per (..., ny, nx) stamp."""
    wise = (maskbits & int(MaskBits.WISEM1 | MaskBits.WISEM2)) != 0
    return {
        "bad_pixel_frac": 1 - good_r.mean(axis=(-2, -1)),
        "wise_brightmask_frac": wise.mean(axis=(-2, -1)),
    }


def invvar_summary(invvar: np.ndarray, bands: str) -> dict[str, np.ndarray]:
    """Median and 10th percentile (np.quantile's linear interpolation) of each band's positive invvar.

    ``invvar`` (N, B, ny, nx) in nMgy^-2; one value per stamp, 0 for a band without positive invvar.
    Stamps whose invvar is positive everywhere (the usual case) share one partial sort.
    """
    n, b = invvar.shape[:2]
    planes = invvar.reshape(n * b, -1)
    out = np.zeros((2, n * b))
    full = np.all(planes > 0, axis=1)
    out[:, full] = _quantiles(planes[full])
    for i in np.flatnonzero(~full):
        positive = planes[i][planes[i] > 0]
        if positive.size:
            out[:, i] = _quantiles(positive[None])[:, 0]
    p10, median = out.reshape(2, n, b)
    return {
        **{f"invvar_median_{band}": median[:, i] for i, band in enumerate(bands)},
        **{f"invvar_p10_{band}": p10[:, i] for i, band in enumerate(bands)},
    }


def _quantiles(rows: np.ndarray) -> np.ndarray:
    """10th and 50th percentiles of each row (same length), from one partial sort: shape (2, rows)."""
    position = np.array([0.1, 0.5]) * (rows.shape[1] - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, rows.shape[1] - 1)
    ordered = np.partition(rows, np.unique(np.concatenate([low, high])), axis=1)
    return (ordered[:, low] + (ordered[:, high] - ordered[:, low]) * (position - low)).T


def physics_warnings(theta_e: float, psf_fwhm_r: float, magnification: float) -> list[str]:
    """Warnings that make an injection suspect without making it wrong."""
    warnings = []
    if theta_e / psf_fwhm_r < 0.5:
        warnings.append("unresolved: theta_E / PSF FWHM < 0.5")
    if not np.isfinite(magnification) or magnification <= 0:
        warnings.append("magnification not finite or <= 0")
    elif magnification > 1000:
        warnings.append("magnification > 1000")
    return warnings
