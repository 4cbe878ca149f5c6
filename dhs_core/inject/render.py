"""Render a lensed source into a stamp: ray-shooting on an oversampled grid, pixels, PSF convolution.

The grid is the stamp's (``dhs_core.conventions``): sub-pixel centres of an ``oversample`` x
``oversample`` split of every pixel, offsets in arcsec from the lens centre, which is the LRG's exact
sub-pixel position in the stamp (never the stamp's middle: the original's half-pixel offset). Pixel
flux = sum over its sub-pixels of surface brightness x sub-pixel area. PSF convolution is linear
(zero-padded, no wrap-around) and centred: an impulse at any pixel returns the kernel centred on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sp_fft
from scipy.signal import fftconvolve
from scipy.special import gammainccinv

from dhs_core.conventions import PIXEL_SCALE_ARCSEC, STAMP_SIZE, pixel_offsets_arcsec
from dhs_core.errors import ConfigError
from dhs_core.inject.lens import deflection, hessian
from dhs_core.inject.sources import sersic_b


@dataclass(frozen=True)
class LensParams:
    """SIE + shear: ``theta_e`` (arcsec), ``e1, e2``, ``gamma1, gamma2`` (see ``dhs_core.inject.lens``)."""

    theta_e: float
    e1: float = 0.0
    e2: float = 0.0
    gamma1: float = 0.0
    gamma2: float = 0.0


@dataclass(frozen=True)
class Grid:
    """An oversampled stamp grid centred on the lens: ``shape`` pixels, ``oversample`` per side."""

    shape: tuple[int, int] = (STAMP_SIZE, STAMP_SIZE)
    oversample: int = 4
    pixel_scale: float = PIXEL_SCALE_ARCSEC

    def __post_init__(self):
        if self.oversample < 1:
            raise ConfigError("render.oversample", self.oversample, "an integer >= 1 (8 for sources under 0.1\")")

    @property
    def sub_pixel_area(self) -> float:
        return (self.pixel_scale / self.oversample) ** 2


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Linear, zero-padded, centred convolution of a 2-D image with an odd-sized kernel (same shape out)."""
    _check_odd(kernel)
    return fftconvolve(image, kernel, mode="same")


def _check_odd(kernel: np.ndarray) -> None:
    if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ConfigError("psf kernel shape", kernel.shape, "odd on both axes (a centre pixel)")


class Convolver:
    """Convolution of many stamps with a few kernels: each kernel's spectrum is computed once.

    Same result as :func:`convolve` (linear, zero-padded, centred), batched over bands: an image's
    spectrum is taken once and multiplied by each band's kernel spectrum.
    """

    def __init__(self, shape: tuple[int, int]):
        self.shape = shape
        self._spectra: dict[tuple, tuple] = {}

    def _spectrum(self, kernel: np.ndarray, size: tuple[int, int]):
        key = (size, kernel.shape, kernel.tobytes())
        if key not in self._spectra:
            kernel = _pad_to(kernel, size)
            padded = tuple(sp_fft.next_fast_len(n + k - 1, real=True) for n, k in zip(self.shape, size))
            self._spectra[key] = (sp_fft.rfft2(kernel, padded), padded, (size[0] // 2, size[1] // 2))
        return self._spectra[key]

    def flux_kept(self, image: np.ndarray, kernel: np.ndarray) -> float:
        """Sum over the stamp of ``image`` convolved with ``kernel``, without convolving it.

        Each pixel's light that the kernel keeps inside the stamp is a fixed map per kernel (the stamp's
        indicator correlated with the kernel), cached; the sum is then a dot product.
        """
        key = ("kept", kernel.shape, kernel.tobytes())
        if key not in self._spectra:
            ones = np.ones(self.shape)
            self._spectra[key] = fftconvolve(ones, kernel[::-1, ::-1], mode="same")
        return float(np.sum(image * self._spectra[key]))

    def convolve(self, image: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
        """``image`` (ny, nx) convolved with each kernel, or (B, ny, nx) band by band; returns (B, ny, nx).

        Kernels are zero-padded to a common odd size (which keeps them centred), so all bands share one
        forward and one inverse transform.
        """
        size = max(k.shape[0] for k in kernels), max(k.shape[1] for k in kernels)
        spectra = [self._spectrum(k, size) for k in kernels]
        padded, (hy, hx) = spectra[0][1], spectra[0][2]
        image_spectrum = sp_fft.rfft2(image, padded)
        kernel_spectra = np.stack([s[0] for s in spectra])
        product = image_spectrum[None] * kernel_spectra if image.ndim == 2 else image_spectrum * kernel_spectra
        ny, nx = self.shape
        return sp_fft.irfft2(product, padded)[:, hy:hy + ny, hx:hx + nx]


def _pad_to(kernel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    _check_odd(kernel)
    dy, dx = (size[0] - kernel.shape[0]) // 2, (size[1] - kernel.shape[1]) // 2
    return np.pad(kernel, ((dy, dy), (dx, dx))) if dy or dx else kernel


def sersic_cutoff(r_e: float, n: float, lost_fraction: float = 1e-5) -> float:
    """Semi-major radius (arcsec) outside which a Sérsic holds ``lost_fraction`` of its light."""
    return float(r_e * (gammainccinv(2 * n, lost_fraction) / sersic_b(n)) ** n)


def render_unit_source(grid: Grid, center_x: float, center_y: float, lens: LensParams | None, source_sb,
                       source_x: float, source_y: float, cutoff_arcsec: float) -> np.ndarray:
    """Pixel fluxes (unconvolved) of a source seen through ``lens`` (``None``: unlensed).

    ``source_sb(bx, by)`` gives surface brightness at source-plane offsets from the source centre
    ``(source_x, source_y)`` (arcsec, relative to the lens); it may return a leading band axis.
    Sub-pixels are ray-shot only in pixels that can see the source: those whose centre maps within
    ``cutoff_arcsec`` of it, widened by how much the lens mapping can stretch half a pixel diagonal
    (``(1 + 4 kappa + 2 |gamma|)`` times it, kappa at the pixel centre), plus the pixels at the lens
    centre. Light beyond the cutoff is dropped (a 1e-5 fraction for Sérsic sources by default).
    """
    ny, nx = grid.shape
    px, py = pixel_offsets_arcsec(grid.shape, center_x, center_y, grid.pixel_scale, 1)
    if lens is None:
        bx, by = px, py
        stretch = np.ones_like(px)
    else:
        ax, ay = deflection(px, py, lens.theta_e, lens.e1, lens.e2, lens.gamma1, lens.gamma2)
        bx, by = px - ax, py - ay
        with np.errstate(divide="ignore", invalid="ignore"):
            f_xx, _, f_yy = hessian(px, py, lens.theta_e, lens.e1, lens.e2, lens.gamma1, lens.gamma2)
        kappa = np.nan_to_num(0.5 * (f_xx + f_yy), nan=np.inf, posinf=np.inf)
        stretch = 1 + 4 * kappa + 2 * np.hypot(lens.gamma1, lens.gamma2)
    margin = 0.5 * np.sqrt(2) * grid.pixel_scale * stretch
    near_centre = np.hypot(px, py) < 1.5 * grid.pixel_scale
    selected = (np.hypot(bx - source_x, by - source_y) < cutoff_arcsec + margin) | near_centre
    rows, cols = np.nonzero(selected)
    k = grid.oversample
    sub = ((np.arange(k) + 0.5) / k - 0.5) * grid.pixel_scale
    sx, sy = np.meshgrid(sub, sub)
    tx = px[rows, cols][:, None] + sx.ravel()[None, :]
    ty = py[rows, cols][:, None] + sy.ravel()[None, :]
    if lens is not None:
        ax, ay = deflection(tx, ty, lens.theta_e, lens.e1, lens.e2, lens.gamma1, lens.gamma2)
        tx, ty = tx - ax, ty - ay
    values = np.asarray(source_sb(tx - source_x, ty - source_y))
    fluxes = values.sum(axis=-1) * grid.sub_pixel_area
    out = np.zeros(values.shape[:-2] + (ny, nx), dtype=np.float64)
    out[..., rows, cols] = fluxes
    return out
