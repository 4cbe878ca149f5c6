"""Measurements of one template image: centroid, half-light radius, ellipticity, concentration, S/N.

Everything is measured on the unit-flux image as stored (negative pixels included, so noise inside the
galaxy's mask biases nothing), in pixels of the template unless said otherwise.
"""

from __future__ import annotations

import numpy as np


def centroid(image: np.ndarray) -> tuple[float, float]:
    """Flux-weighted centroid (x, y) in pixel coordinates (NaN for zero total flux)."""
    total = image.sum()
    ny, nx = image.shape
    if total == 0:
        return float("nan"), float("nan")
    return float((image.sum(axis=0) * np.arange(nx)).sum() / total), float(
        (image.sum(axis=1) * np.arange(ny)).sum() / total
    )


def radius_enclosing(image: np.ndarray, fraction: float, center: tuple[float, float]) -> float:
    """Radius (pixels) about ``center`` enclosing ``fraction`` of the total flux, negatives included
    (pixel fluxes summed outwards by distance; NaN if never reached)."""
    ny, nx = image.shape
    r = np.hypot(np.arange(nx)[None, :] - center[0], np.arange(ny)[:, None] - center[1]).ravel()
    order = np.argsort(r, kind="stable")
    cumulative = np.cumsum(image.ravel()[order])
    reached = np.flatnonzero(cumulative >= fraction * image.sum())
    return float(r[order][reached[0]]) if reached.size else float("nan")


def ellipticity(image: np.ndarray, center: tuple[float, float]) -> float:
    """``(1 - q)/(1 + q)`` from the positive flux's second moments about ``center``."""
    ny, nx = image.shape
    w = np.clip(image, 0, None)
    dx, dy = np.arange(nx)[None, :] - center[0], np.arange(ny)[:, None] - center[1]
    total = w.sum()
    if total <= 0:
        return float("nan")
    qxx, qyy, qxy = (w * dx * dx).sum() / total, (w * dy * dy).sum() / total, (w * dx * dy).sum() / total
    spread = np.sqrt((qxx - qyy) ** 2 / 4 + qxy**2)
    major, minor = (qxx + qyy) / 2 + spread, max((qxx + qyy) / 2 - spread, 0.0)
    q = np.sqrt(minor / major) if major > 0 else 1.0
    return float((1 - q) / (1 + q))


def measure(image: np.ndarray, pixel_scale: float, noise_sigma: float | None = None) -> dict:
    """Measurements of a unit-flux template (arcsec where named so; ``noise_sigma`` in the same units
    as the image, for the peak S/N)."""
    cx, cy = centroid(image)
    center = (cx, cy) if np.isfinite(cx) else ((image.shape[1] - 1) / 2, (image.shape[0] - 1) / 2)
    r20, r50, r80 = (radius_enclosing(image, f, center) for f in (0.2, 0.5, 0.8))
    negative = float(-np.clip(image, None, 0).sum() / max(np.abs(image).sum(), 1e-300))
    return {
        "centroid_x_px": cx,
        "centroid_y_px": cy,
        "offset_px": float(np.hypot(cx - (image.shape[1] - 1) / 2, cy - (image.shape[0] - 1) / 2)),
        "hlr_arcsec": r50 * pixel_scale,
        "concentration": float(5 * np.log10(r80 / r20)) if r20 > 0 else float("nan"),
        "ellipticity": ellipticity(image, center),
        "negative_flux_fraction": negative,
        "peak_snr": float(image.max() / noise_sigma) if noise_sigma else float("nan"),
    }
