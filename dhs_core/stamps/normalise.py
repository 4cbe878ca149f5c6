"""Normalisation recipes for stamps handed to training code, by name: each maps images (N, bands, S, S; nanomaggies)
to float32 arrays of the same shape, one stamp and band at a time (no statistic crosses stamps, so a batch's result
does not depend on what else is in it).

- ``raw``: the pixels as they are (nanomaggies).
- ``sky_annulus``: per band, minus the median of the annulus 20 <= r < 32 px about the stamp centre, over that
  annulus's MAD (raw, without the 1.4826 factor), clipped to +-10: the original's "raw_robust" training input
  (``../shared/docs/original_pipeline.md`` §8). A band with zero MAD (e.g. zero-padded) is only shifted.
- ``residual_radial_profile``: the diagnostics' preprocessing (``dhs_core.diagnostics.features``): outer-annulus
  median/MAD (x 1.4826) normalisation, then the azimuthal median profile subtracted, leaving light that is not round.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dhs_core.diagnostics.features import OUTER_ANNULUS_PX, radius_map, residual_radial_profile
from dhs_core.errors import ConfigError

SKY_ANNULUS_CLIP = 10.0


def raw(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, dtype=np.float32)


def sky_annulus(
    images: np.ndarray, annulus_px: tuple[float, float] = OUTER_ANNULUS_PX, clip: float = SKY_ANNULUS_CLIP
) -> np.ndarray:
    r = radius_map(images.shape[-1])
    inside = (r >= annulus_px[0]) & (r < annulus_px[1])
    if not inside.any():
        raise ConfigError(
            "sky_annulus", annulus_px, f"an annulus with pixels in a {images.shape[-1]}-pixel stamp"
        )
    ring = images[..., inside].astype(np.float64)
    median = np.median(ring, axis=-1)
    mad = np.median(np.abs(ring - median[..., None]), axis=-1)
    scale = np.where(mad > 0, mad, 1.0)
    normalised = (images - median[..., None, None]) / scale[..., None, None]
    return np.clip(normalised, -clip, clip).astype(np.float32)


def residual_profile(images: np.ndarray) -> np.ndarray:
    return residual_radial_profile(images).astype(np.float32)


NORMALISATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "raw": raw,
    "sky_annulus": sky_annulus,
    "residual_radial_profile": residual_profile,
}


def normalisation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The recipe called ``name`` (``NORMALISATIONS``)."""
    if name not in NORMALISATIONS:
        raise ConfigError("normalisation", name, f"one of {sorted(NORMALISATIONS)}")
    return NORMALISATIONS[name]
