r"""Point-spread functions: Moffat and Gaussian kernels integrated over pixels, and PSF-size fallbacks.

Moffat: :math:`I(r) \propto (1 + r^2/\alpha^2)^{-\beta}` with :math:`\alpha = \mathrm{FWHM} / (2\sqrt{2^{1/\beta} - 1})`
(default :math:`\beta = 3.5`); Gaussian: :math:`\sigma = \mathrm{FWHM} / (2\sqrt{2\ln 2})`. Kernels are drawn by
GalSim (which integrates the profile over each pixel), on an odd square grid reaching 5 FWHM (at least 11
pixels, at most 65: 8.4" at 0.262"/px, where a 1.8" Moffat keeps all but 1e-3 of its light), centred on the middle pixel and normalised to sum 1. FWHM in arcsec; kernels are
cached by (model, FWHM rounded to 0.001 arcsec, beta, pixel scale): a 0.1 % change of size at most.
"""

from __future__ import annotations

import math
from functools import lru_cache

import galsim
import numpy as np

from dhs_core.conventions import BANDS, PIXEL_SCALE_ARCSEC
from dhs_core.errors import ConfigError

MODELS = ("moffat", "gaussian")
DEFAULT_BETA = 3.5
DEFAULT_FALLBACK_FWHM = 1.4  # arcsec, used when neither a band nor r has a PSF size


def kernel(
    fwhm_arcsec: float,
    model: str = "moffat",
    beta: float = DEFAULT_BETA,
    pixel_scale: float = PIXEL_SCALE_ARCSEC,
) -> np.ndarray:
    """Pixel-integrated PSF kernel (float64, odd size, sums to 1) of FWHM ``fwhm_arcsec``."""
    if model not in MODELS:
        raise ConfigError("psf.model", model, f"one of {MODELS}")
    if not (fwhm_arcsec > 0 and math.isfinite(fwhm_arcsec)):
        raise ConfigError("psf FWHM", fwhm_arcsec, "a finite value > 0 arcsec (resolve missing sizes first)")
    if model == "moffat" and beta <= 1.1:
        raise ConfigError("psf.beta", beta, "> 1.1")
    return _cached_kernel(model, round(float(fwhm_arcsec), 3), float(beta), float(pixel_scale))


@lru_cache(maxsize=512)
def _cached_kernel(model: str, fwhm: float, beta: float, pixel_scale: float) -> np.ndarray:
    half = int(np.clip(math.ceil(5 * fwhm / pixel_scale), 5, 32))
    profile = galsim.Moffat(beta=beta, fwhm=fwhm) if model == "moffat" else galsim.Gaussian(fwhm=fwhm)
    image = profile.drawImage(
        nx=2 * half + 1, ny=2 * half + 1, scale=pixel_scale, method="auto"
    ).array.astype(np.float64)
    image /= image.sum()
    image.setflags(write=False)  # shared by every caller: read-only
    return image


def resolve_psf_fwhm(
    psfsize: dict[str, float | None],
    brick_psfsize: dict[str, float | None] | None = None,
    bands=BANDS,
    default: float = DEFAULT_FALLBACK_FWHM,
):
    """FWHM per band (arcsec): the object's own PSF size; where that is missing (<= 0, NaN or None), the brick's median
    in that band, then the r-band size (the object's, else the brick's), then ``default``.

    Returns ``(fwhm, fallbacks)``: the FWHM used per band and ``"<band>:<source>"`` for each band that did not use the
    object's own size (source ``brick``, ``r`` or ``default``). The original accepted PSF size 0 and left 6,928 g-band
    arcs unconvolved.
    """

    def usable(value):
        return value is not None and math.isfinite(value) and value > 0

    brick_psfsize = brick_psfsize or {}
    r = next((v for v in (psfsize.get("r"), brick_psfsize.get("r")) if usable(v)), None)
    used, fallback = {}, []
    for band in bands:
        if usable(psfsize.get(band)):
            used[band] = float(psfsize[band])
            continue
        for source, value in (("brick", brick_psfsize.get(band)), ("r", r), ("default", default)):
            if usable(value):
                used[band] = float(value)
                fallback.append(f"{band}:{source}")
                break
    return used, fallback
