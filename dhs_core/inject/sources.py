r"""Source light: elliptical Sérsic profiles and templates from a source bank, as surface brightness.

Every source function returns surface brightness in flux units per arcsec^2 at source-plane positions
(arcsec). Pixel values are made in one place only (``render``): surface brightness times the sub-pixel
area. This is the single place where units change, so a template's flux cannot be mistaken for surface
brightness (the original's 1/0.03^2 = 1,111x error).

Sérsic: :math:`I(R) = I_e \exp\{-b_n[(R/R_e)^{1/n} - 1]\}` with :math:`R^2 = x'^2 + y'^2/q^2` (``R_e`` is the
half-light semi-major axis), :math:`b_n` exact from :math:`\gamma(2n, b_n) = \Gamma(2n)/2`, and the total
flux :math:`F = 2\pi q R_e^2 n e^{b_n} \Gamma(2n) / b_n^{2n} \, I_e` fixing :math:`I_e` on the *unlensed*
profile, so that lensing magnification survives.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import gamma, gammaincinv

from dhs_core.errors import ConfigError


def sersic_b(n: float) -> float:
    """The exact :math:`b_n` of a Sérsic index ``n`` (half the light inside R_e)."""
    return float(gammaincinv(2 * n, 0.5))


def sersic_total_flux_per_ie(r_e: float, n: float, q: float) -> float:
    """:math:`2\\pi q R_e^2 n e^{b_n}\\Gamma(2n)/b_n^{2n}`: total flux of a Sérsic with :math:`I_e = 1` (arcsec^2)."""
    b = sersic_b(n)
    return float(2 * np.pi * q * r_e**2 * n * np.exp(b) * gamma(2 * n) / b ** (2 * n))


def _rotate_into(x, y, pa, cx, cy):
    dx, dy = x - cx, y - cy
    cos, sin = np.cos(pa), np.sin(pa)
    return dx * cos + dy * sin, -dx * sin + dy * cos


def sersic_sb(x, y, flux: float, r_e: float, n: float, q: float = 1.0, pa: float = 0.0, cx: float = 0.0, cy: float = 0.0):
    """Surface brightness (flux/arcsec^2) of an elliptical Sérsic of total ``flux`` at (x, y) in arcsec.

    ``r_e`` half-light semi-major axis (arcsec), ``n`` index (0.3-8), ``q`` axis ratio (0, 1], ``pa``
    position angle of the major axis from +x (rad), centre ``(cx, cy)`` (arcsec).
    """
    if not (r_e > 0 and 0.3 <= n <= 8 and 0 < q <= 1):
        raise ConfigError("sersic", (r_e, n, q), "r_e > 0 arcsec, 0.3 <= n <= 8, 0 < q <= 1")
    xr, yr = _rotate_into(x, y, pa, cx, cy)
    radius = np.sqrt(xr**2 + (yr / q) ** 2)
    b = sersic_b(n)
    ie = flux / sersic_total_flux_per_ie(r_e, n, q)
    return ie * np.exp(-b * ((radius / r_e) ** (1.0 / n) - 1.0))


@dataclass(frozen=True)
class Template:
    """A source template: ``image`` (H, W) or (bands, H, W), each plane summing to 1, at ``pixel_scale``
    arcsec/pixel, with its half-light radius ``hlr_arcsec``; the template's centre is the middle of the grid."""

    image: np.ndarray
    pixel_scale: float
    hlr_arcsec: float

    @cached_property
    def light_radius_arcsec(self) -> float:
        """Radius about the grid centre (arcsec, before rescaling) holding all but 1e-5 of the light."""
        planes = np.abs(self.image[None] if self.image.ndim == 2 else self.image).sum(axis=0)
        h, w = planes.shape
        yy, xx = np.mgrid[0:h, 0:w]
        r = np.hypot(xx - (w - 1) / 2, yy - (h - 1) / 2).ravel()
        order = np.argsort(r, kind="stable")
        cumulative = np.cumsum(planes.ravel()[order])
        index = min(np.searchsorted(cumulative, (1 - 1e-5) * cumulative[-1]), len(r) - 1)
        return float((r[order][index] + 1.5) * self.pixel_scale)  # + the interpolation's reach


def template_sb(x, y, template: Template, flux, hlr_arcsec: float | None = None, pa: float = 0.0,
                cx: float = 0.0, cy: float = 0.0):
    """Surface brightness (flux/arcsec^2) of a template source at (x, y) in arcsec.

    The template is rotated by ``pa`` (rad, counter-clockwise) and rescaled so that its half-light
    radius becomes ``hlr_arcsec`` (default: its own); it is sampled by bilinear interpolation, zero
    outside. ``flux`` is a scalar (single-band template) or one value per plane of a multi-band template;
    the result then has a leading band axis.
    """
    planes = template.image[None] if template.image.ndim == 2 else template.image
    scale = 1.0 if hlr_arcsec is None else hlr_arcsec / template.hlr_arcsec
    if scale <= 0:
        raise ConfigError("template hlr_arcsec", hlr_arcsec, "> 0 arcsec")
    xr, yr = _rotate_into(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), pa, cx, cy)
    step = template.pixel_scale * scale  # arcsec per template pixel after rescaling
    h, w = planes.shape[1:]
    u = xr / step + (w - 1) / 2.0
    v = yr / step + (h - 1) / 2.0
    flux = np.atleast_1d(np.asarray(flux, dtype=np.float64))
    if len(flux) != len(planes) and len(flux) != 1:
        raise ConfigError("template flux", flux.tolist(), f"one value or one per template plane ({len(planes)})")
    out = np.stack([_bilinear(plane, u, v) for plane in planes]) / step**2  # unit flux per template pixel -> per arcsec^2
    out = out * flux.reshape((-1,) + (1,) * (out.ndim - 1))
    return out[0] if template.image.ndim == 2 else out


def _bilinear(plane: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``plane`` at pixel coordinates (u along columns, v along rows).

    The plane is padded with one ring of zeros, so the light falls linearly to zero over the pixel
    beyond its edge and is zero further out (lenstronomy's INTERPOL does the same).
    """
    h, w = plane.shape
    padded = np.zeros((h + 2, w + 2), dtype=np.float64)
    padded[1:-1, 1:-1] = plane
    u = np.clip(np.asarray(u, dtype=np.float64) + 1.0, 0.0, w + 1.0)  # into padded coordinates, clamped to the zero ring
    v = np.clip(np.asarray(v, dtype=np.float64) + 1.0, 0.0, h + 1.0)
    u0 = np.minimum(u.astype(np.int64), w)
    v0 = np.minimum(v.astype(np.int64), h)
    fu, fv = u - u0, v - v0
    flat = padded.ravel()
    index = v0 * (w + 2) + u0
    top = flat[index] * (1 - fu) + flat[index + 1] * fu
    bottom = flat[index + w + 2] * (1 - fu) + flat[index + w + 3] * fu
    return top * (1 - fv) + bottom * fv


def half_light_radius(image: np.ndarray, pixel_scale: float, center: tuple[float, float] | None = None,
                      resolution_px: float = 0.01) -> float:
    """Radius (arcsec) enclosing half the positive flux of a (H, W) image.

    About ``center`` (pixel coordinates x, y), or the flux-weighted centroid when not given. Pixel
    fluxes are binned by distance in steps of ``resolution_px`` (a histogram, not a sort), so the radius
    is exact to that step. NaN for an image without positive flux.
    """
    positive = np.clip(image, 0, None)
    total = positive.sum()
    if total <= 0:
        return float("nan")
    ny, nx = image.shape
    xs, ys = np.arange(nx)[None, :], np.arange(ny)[:, None]
    cx, cy = center if center is not None else ((positive * xs).sum() / total, (positive * ys).sum() / total)
    r = np.hypot(xs - cx, ys - cy)
    bins = (r / resolution_px).astype(np.int64).ravel()
    cumulative = np.cumsum(np.bincount(bins, weights=positive.ravel()))
    return float((np.searchsorted(cumulative, 0.5 * total) + 1) * resolution_px * pixel_scale)
