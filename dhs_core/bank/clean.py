"""Separating a galaxy from the sky noise of its HST stamp.

Real HST stamps carry sky noise: drawn naively about half of their pixels are negative, and summed over
the stamp the noise adds a pedestal that inflates every size (the original's bank had a median
half-light radius near what a flat stamp gives). dhs masks: the stamp is smoothed with a Gaussian of
``smoothing_px`` pixels, the smoothed noise is measured (MAD) on the outer ring of the catalogue's own
stamp smoothed the same way (the bank's larger stamp extends beyond the HST data, where the drawn image
is noise-free; the noise is correlated, so it is measured, not computed), and the pixels
above ``detection_sigma`` times that noise, connected to the brightest smoothed pixel near the centre,
form the galaxy's footprint, grown by ``grow_px`` pixels to keep its faint wings. Outside the footprint
the template is zero; inside it the pixels are kept as they are, negative ones included, so the noise
left there is symmetric and biases neither the centroid nor the size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MAD_TO_SIGMA = 1.4826


def ring_noise(image: np.ndarray, inner_fraction: float = 0.4) -> float:
    """Robust noise sigma (MAD) of the pixels farther than ``inner_fraction`` of the side from the centre."""
    ny, nx = image.shape
    r = np.hypot(np.arange(nx)[None, :] - (nx - 1) / 2, np.arange(ny)[:, None] - (ny - 1) / 2)
    ring = image[r > inner_fraction * min(nx, ny)]
    return float(MAD_TO_SIGMA * np.median(np.abs(ring - np.median(ring))))


def footprint(
    image: np.ndarray,
    noise_image: np.ndarray,
    detection_sigma: float = 2.0,
    smoothing_px: float = 1.5,
    grow_px: int = 2,
    central_fraction: float = 0.25,
) -> np.ndarray | None:
    """Boolean mask of the galaxy in ``image`` (see the module docstring), its noise measured on
    ``noise_image`` at the same pixel scale; None when nothing is detected near the centre."""
    smooth = ndimage.gaussian_filter(image.astype(np.float64), smoothing_px)
    sigma = ring_noise(ndimage.gaussian_filter(noise_image.astype(np.float64), smoothing_px))
    detected = smooth > detection_sigma * sigma
    labels, _ = ndimage.label(detected)
    ny, nx = image.shape
    r = np.hypot(np.arange(nx)[None, :] - (nx - 1) / 2, np.arange(ny)[:, None] - (ny - 1) / 2)
    central = np.where((r < central_fraction * min(nx, ny)) & detected, smooth, -np.inf)
    if not np.isfinite(central.max()):
        return None
    galaxy = labels == labels.flat[np.argmax(central)]
    return ndimage.binary_dilation(galaxy, iterations=grow_px) if grow_px else galaxy


def clean(image: np.ndarray, mask: np.ndarray, noise_sigma: float) -> tuple[np.ndarray, dict]:
    """The image inside the mask, normalised to unit flux; with the S/N of that flux given the pixel
    noise ``noise_sigma`` (image units), and that noise in unit-flux units."""
    kept = np.where(mask, image, 0.0)
    total = kept.sum()
    snr = float(total / (noise_sigma * np.sqrt(mask.sum()))) if noise_sigma > 0 else float("inf")
    return (kept / total if total > 0 else kept), {
        "noise_sigma": noise_sigma / total if total > 0 else float("nan"),
        "flux_snr": snr,
        "mask_pixels": int(mask.sum()),
    }
