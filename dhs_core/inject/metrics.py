"""Per-stamp metrics of an injected arc. Definitions (written out in docs/injection.md):

* good pixels of a band: ``invvar > 0`` and none of that band's bad maskbits (``BAD_PIXEL[band]``);
* ``arc_snr_peak``: max over good pixels of ``arc * sqrt(invvar)`` (the original's ``arc_snr``);
* ``arc_snr_integrated``: ``sqrt(sum over good pixels of arc^2 * invvar)``, the matched-filter S/N of the
  noiseless arc (the default S/N target);
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


def good_pixels(invvar: np.ndarray, maskbits: np.ndarray, band: str) -> np.ndarray:
    """Pixels with invvar > 0 and none of the band's bad maskbits."""
    return (invvar > 0) & ((maskbits & int(BAD_PIXEL[band])) == 0)


def snr_metrics(arc: np.ndarray, invvar: np.ndarray, good: np.ndarray) -> dict[str, float]:
    """Peak, integrated and the original's summed S/N of one band's noiseless arc (nanomaggies)."""
    sigma_inverse = np.sqrt(np.where(good, invvar, 0.0))
    peak = float(np.max(arc * sigma_inverse)) if good.any() else 0.0
    integrated = float(np.sqrt(np.sum((arc * sigma_inverse) ** 2)))
    variance = np.sum(1.0 / invvar[good]) if good.any() else 0.0
    summed = float(np.sum(arc[good]) / np.sqrt(variance)) if variance > 0 else 0.0
    return {"arc_snr_peak": peak, "arc_snr_integrated": integrated, "arc_snr_sum": summed}


def mask_fractions(maskbits: np.ndarray, good_r: np.ndarray) -> dict[str, float]:
    wise = (maskbits & int(MaskBits.WISEM1 | MaskBits.WISEM2)) != 0
    return {"bad_pixel_frac": float(1 - good_r.mean()), "wise_brightmask_frac": float(wise.mean())}


def invvar_summary(invvar: np.ndarray, bands: str) -> dict[str, float]:
    out = {}
    for i, band in enumerate(bands):
        positive = invvar[i][invvar[i] > 0]
        if positive.size:
            # np.quantile's linear interpolation, from one partial sort
            position = np.array([0.1, 0.5]) * (positive.size - 1)
            low = np.floor(position).astype(int)
            high = np.minimum(low + 1, positive.size - 1)
            ordered = np.partition(positive, np.unique(np.concatenate([low, high])))
            p10, median = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
        else:
            p10 = median = 0.0
        out[f"invvar_median_{band}"], out[f"invvar_p10_{band}"] = float(median), float(p10)
    return out


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
