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

import functools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import gamma, gammaincinv

from dhs_core.errors import ConfigError


def sersic_b(n):
    """The exact :math:`b_n` of a Sérsic index ``n`` (half the light inside R_e); arrays element-wise."""
    b = gammaincinv(2 * np.asarray(n, dtype=np.float64), 0.5)
    return float(b) if np.ndim(b) == 0 else b


def sersic_total_flux_per_ie(r_e, n, q):
    """:math:`2\\pi q R_e^2 n e^{b_n}\\Gamma(2n)/b_n^{2n}`: total flux of a Sérsic with :math:`I_e = 1` (arcsec^2)."""
    r_e, n, q = (np.asarray(v, dtype=np.float64) for v in (r_e, n, q))
    b = sersic_b(n)
    total = 2 * np.pi * q * r_e**2 * n * np.exp(b) * gamma(2 * n) / b ** (2 * n)
    return float(total) if np.ndim(total) == 0 else total


def distinct(items) -> tuple[list, np.ndarray]:
    """The distinct objects of ``items`` (by identity, first seen first) and each item's index among them."""
    slots: dict[int, int] = {}
    unique = []
    for item in items:
        if slots.setdefault(id(item), len(slots)) == len(unique):
            unique.append(item)
    return unique, np.array([slots[id(item)] for item in items], dtype=np.int64)


def _per_source(*values):
    return [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in values]


class _AffineSources:
    """A batch of sources whose light is a profile of coordinates ``(u, v)`` that are an affine map of
    the source-plane offsets ``(x, y)`` (arcsec) from each source's centre: ``(u, v) = M (x, y) + o``,
    times an amplitude per source and plane: ``amplitude * profile(u, v)``.

    The renderer composes that map with the lens mapping, so rotation, scale and position cost nothing
    per ray, and applies the amplitude per pixel rather than per ray. Subclasses set ``matrix`` (S, 2, 2),
    ``offset`` (S, 2), ``amplitude`` (S, planes; flux/arcsec^2) and define ``profile(u, v, which)``
    (planes first when there are several).
    """

    matrix: np.ndarray
    offset: np.ndarray
    amplitude: np.ndarray
    levels: int = 1  # levels of detail the profile offers (``TemplateSources`` with ``pyramid``)

    def __call__(self, x, y, which=0):
        """Surface brightness (flux/arcsec^2) at offsets ``(x, y)`` (arcsec) of source ``which`` (broadcastable)."""
        m, o = self.matrix[which], self.offset[which]
        profile = self.profile(
            m[..., 0, 0] * x + m[..., 0, 1] * y + o[..., 0],
            m[..., 1, 0] * x + m[..., 1, 1] * y + o[..., 1],
            which,
        )
        amplitude = np.moveaxis(self.amplitude[which], -1, 0)  # planes first, then which's shape
        if profile.ndim == np.ndim(x):  # one plane
            return amplitude[0] * profile
        return amplitude.reshape(amplitude.shape + (1,) * (profile.ndim - amplitude.ndim)) * profile


def _rotation_over(cos, sin, scale_u, scale_v):
    """Matrices (S, 2, 2) rotating by the position angle, then dividing u by ``scale_u`` and v by ``scale_v``."""
    return np.stack(
        [np.stack([cos / scale_u, sin / scale_u], -1), np.stack([-sin / scale_v, cos / scale_v], -1)], -2
    )


class SersicSources(_AffineSources):
    """Surface brightness (flux/arcsec^2) of a batch of elliptical Sérsic sources.

    One entry per source: total ``flux``, half-light semi-major axis ``r_e`` (arcsec), index ``n``
    (0.3-8), axis ratio ``q`` in (0, 1], position angle ``pa`` of the major axis from +x (rad). Called
    as ``sources(x, y, which)``: offsets (arcsec) from each source's centre and, broadcastable with them,
    the index of the source each point belongs to. ``(u, v)`` are offsets along the major and minor
    axes in units of ``r_e`` and ``q r_e``; per-source constants (b_n, I_e) are computed once.
    """

    def __init__(self, flux, r_e, n, q, pa):
        flux, r_e, n, q, pa = _per_source(flux, r_e, n, q, pa)
        bad = ~((r_e > 0) & (n >= 0.3) & (n <= 8) & (q > 0) & (q <= 1))
        if bad.any():
            i = int(np.argmax(bad))
            raise ConfigError(
                "sersic",
                (float(r_e[i]), float(n[i]), float(q[i])),
                "r_e > 0 arcsec, 0.3 <= n <= 8, 0 < q <= 1",
            )
        self.half_over_n = 0.5 / n
        self.b = np.atleast_1d(sersic_b(n))
        self.amplitude = (flux / np.atleast_1d(sersic_total_flux_per_ie(r_e, n, q)))[:, None]  # I_e
        self.matrix = _rotation_over(np.cos(pa), np.sin(pa), r_e, q * r_e)
        self.offset = np.zeros((len(flux), 2))

    def profile(self, u, v, which=0):
        """Surface brightness over I_e at major/minor-axis coordinates in units of R_e (dtype of ``u`` kept)."""
        dtype = np.result_type(u, np.float32)
        b = self.b[which].astype(dtype)
        return np.exp(-b * ((u * u + v * v) ** self.half_over_n[which].astype(dtype) - 1))


def sersic_sb(
    x, y, flux: float, r_e: float, n: float, q: float = 1.0, pa: float = 0.0, cx: float = 0.0, cy: float = 0.0
):
    """Surface brightness (flux/arcsec^2) of one elliptical Sérsic of total ``flux`` at (x, y) in arcsec,
    centred on ``(cx, cy)`` (arcsec); parameters as in :class:`SersicSources`."""
    return SersicSources(flux, r_e, n, q, pa)(np.asarray(x) - cx, np.asarray(y) - cy)


@dataclass(frozen=True)
class Template:
    """A source template: ``image`` (H, W) or (bands, H, W), each plane summing to 1, at ``pixel_scale``
    arcsec/pixel, with its half-light radius ``hlr_arcsec``; the template's centre is the middle of the grid."""

    image: np.ndarray
    pixel_scale: float
    hlr_arcsec: float

    @property
    def planes(self) -> np.ndarray:
        """The image as (planes, H, W)."""
        return self.image[None] if self.image.ndim == 2 else self.image

    @cached_property
    def light_radius_arcsec(self) -> float:
        """Radius about the grid centre (arcsec, before rescaling) holding all but 1e-5 of the light."""
        light = np.abs(self.planes).sum(axis=0)
        order, radii = _radial_order(*light.shape)
        cumulative = np.cumsum(light.ravel()[order])
        index = min(np.searchsorted(cumulative, (1 - 1e-5) * cumulative[-1]), len(radii) - 1)
        return float((radii[index] + 1.5) * self.pixel_scale)  # + the interpolation's reach

    @cached_property
    def _cells(self) -> dict:
        return {}

    def cells(self, levels: int, level_row: np.ndarray) -> np.ndarray:
        """(planes, rows, W + 1) complex128: the bilinear coefficients of every cell of levels 0..levels-1 of 2^k
        block sums, each level in a ring of zeros and stacked in rows from ``level_row`` (see
        :class:`TemplateSources`); computed once per template (``nbytes`` of it: the bank's memory bound counts
        them)."""
        if levels not in self._cells:
            planes, h, w = self.planes.shape
            blocks = 2 ** np.arange(levels)
            rows = int(np.sum(-(-h // blocks) + 2))
            padded = np.zeros((planes, rows + 1, w + 2), dtype=np.float32)  # a zero row closes the last level
            for level, m in enumerate(blocks):
                binned = _block_sum(self.planes, int(m))
                top = level_row[level] + 1
                padded[:, top : top + binned.shape[1], 1 : 1 + binned.shape[2]] = binned
            # each cell's (c00, c10 - c00, c01 - c00, c00 - c10 - c01 + c11) side by side, viewed as one 16-byte
            # value: one gather per ray and plane
            c00, c10, c01, c11 = (
                padded[:, :-1, :-1],
                padded[:, :-1, 1:],
                padded[:, 1:, :-1],
                padded[:, 1:, 1:],
            )
            coefficients = np.stack([c00, c10 - c00, c01 - c00, c00 - c10 - c01 + c11], -1)
            self._cells[levels] = np.ascontiguousarray(coefficients).view(np.complex128)[..., 0]
        return self._cells[levels]

    @property
    def nbytes(self) -> int:
        """Bytes this template holds: its image and the coefficients computed from it."""
        return self.image.nbytes + sum(c.nbytes for c in self._cells.values())


class TemplateSources(_AffineSources):
    """Surface brightness (flux/arcsec^2) of a batch of template sources sharing one plane count and shape.

    One entry per source: its :class:`Template`, the half-light radius ``hlr_arcsec`` it is rescaled to
    (arcsec), the position angle ``pa`` it is rotated by (rad, counter-clockwise) and ``flux`` (one value,
    or one per plane of a multi-band template). Templates are sampled by bilinear interpolation over a
    ring of zeros (the light falls linearly to zero over the pixel beyond the edge, as in lenstronomy's
    INTERPOL) and are zero further out; ``(u, v)`` are pixel coordinates in the padded template. Called
    as ``sources(x, y, which)`` like :class:`SersicSources`; multi-band templates give a leading plane
    axis. Unit flux per template pixel becomes flux per arcsec^2 here, divided by the rescaled step
    squared: the only place units change.
    """

    def __init__(self, templates, hlr_arcsec, pa, flux, pyramid: bool = False):
        shapes = {t.planes.shape for t in templates}
        if len(shapes) != 1:
            raise ConfigError("template shapes", sorted(shapes), "one (planes, H, W) shape per batch")
        planes, h, w = shapes.pop()
        # levels of detail (``pyramid``): level k holds the sums of 2^k x 2^k blocks, so a ray whose
        # source-plane footprint spans many template pixels reads their sum, not one point among them
        self.levels = min(7, int(np.log2(min(h, w))) + 1) if pyramid else 1
        blocks = 2 ** np.arange(self.levels)
        self.level_h, self.level_w = -(-h // blocks), -(-w // blocks)  # ceil
        self.level_row = np.r_[
            0, np.cumsum(self.level_h + 2)[:-1]
        ]  # each level's padded origin, stacked in rows
        rows = int(np.sum(self.level_h + 2))
        if (rows + 1) * (w + 3) >= 2**24:
            raise ConfigError("template shape", (h, w), "fewer than 2^24 pixels per plane")
        unique, self.slot = distinct(templates)
        self.cells = [t.cells(self.levels, self.level_row) for t in unique]  # (planes, rows, w + 1) each
        self.multi_band = templates[0].image.ndim == 3
        hlr, pa = _per_source(hlr_arcsec, pa)
        scale = hlr / np.array([t.hlr_arcsec for t in templates])
        if not np.all(scale > 0):
            raise ConfigError("template hlr_arcsec", hlr.tolist(), "> 0 arcsec")
        self.step = (
            np.array([t.pixel_scale for t in templates]) * scale
        )  # arcsec per template pixel after rescaling
        flux = np.asarray(flux, dtype=np.float64).reshape(len(templates), -1)
        if flux.shape[1] not in (1, planes):
            raise ConfigError(
                "template flux", flux.tolist(), f"one value or one per template plane ({planes})"
            )
        self.amplitude = np.broadcast_to(flux / self.step[:, None] ** 2, (len(templates), planes))
        self.matrix = _rotation_over(np.cos(pa), np.sin(pa), self.step, self.step)
        self.offset = np.tile([(w + 1) / 2.0, (h + 1) / 2.0], (len(templates), 1))  # the centre, padded

    def level_for(self, footprint_arcsec, which):
        """Level of detail for rays whose source-plane footprint is ``footprint_arcsec`` wide: the first
        whose blocks are at least that wide (sampling them cannot skip light)."""
        ratio = np.maximum(footprint_arcsec / self.step[which], 1.0)
        return np.minimum(np.ceil(np.log2(ratio) - 1e-9), self.levels - 1).astype(np.int64)

    def level_map(self, level) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(scale, u_shift, v_shift)`` taking level-0 padded coordinates to those of ``level``:
        ``u_k = u scale + u_shift``, ``v_k = v scale + v_shift`` (block j of level k covers pixels
        j m ... j m + m - 1, m = 2^k, so it is centred on j m + (m - 1)/2; levels are stacked in rows)."""
        m = 2.0 ** np.asarray(level)
        shift = (m - 1) / (2 * m)
        return 1 / m, shift, shift + self.level_row[level]

    def profile(self, u, v, which=0, level=None):
        """Template value (unit flux per template pixel) at padded pixel coordinates (u along columns, v
        along rows). With ``level`` (per ray), ``(u, v)`` are that level's coordinates (``level_map``) and
        the values are its block sums (flux per block)."""
        planes, cells_y, cells_x = self.cells[0].shape
        if level is None:
            u, v = (
                np.clip(u, 0, self.level_w[0] + 1),
                np.clip(v, 0, self.level_h[0] + 1),
            )  # clamped to the zero ring
        else:  # clamped to the level's own zero ring
            u = np.clip(u, 0, (self.level_w[level] + 1).astype(u.dtype))
            v = np.clip(
                v,
                self.level_row[level].astype(v.dtype),
                (self.level_row[level] + self.level_h[level] + 1).astype(v.dtype),
            )
        u0 = np.minimum(np.floor(u), cells_x - 1)
        v0 = np.minimum(np.floor(v), cells_y - 1)
        index = (v0 * cells_x + u0).astype(np.int32).ravel()  # exact: < 2^24
        fu, fv = u - u0, v - v0
        # points of one template in runs (a renderer's rays come grouped by source): one gather per run and plane
        slots = np.broadcast_to(self.slot[which], u.shape).ravel()
        starts = np.r_[0, np.flatnonzero(slots[1:] != slots[:-1]) + 1, len(slots)]
        coefficients = np.empty((planes, len(index)), np.complex128)
        for start, end in zip(starts[:-1], starts[1:]):
            cells = self.cells[slots[start]].reshape(planes, -1)
            for plane in range(planes):
                coefficients[plane, start:end] = cells[plane].take(index[start:end])
        out = []
        for plane in range(planes):
            c = coefficients[plane].view(np.float32).reshape(u.shape + (4,))
            out.append(c[..., 0] + fu * c[..., 1] + fv * (c[..., 2] + fu * c[..., 3]))
        return np.stack(out) if self.multi_band else out[0]


@functools.lru_cache(maxsize=8)
def _radial_order(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of an h x w grid in order of distance from its centre (stable), and those distances (pixels):
    the same for every template of a shape, so sorted once."""
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - (w - 1) / 2, yy - (h - 1) / 2).ravel()
    order = np.argsort(r, kind="stable")
    return order, r[order]


def _block_sum(planes: np.ndarray, m: int) -> np.ndarray:
    """Sums over m x m blocks of each plane (zeros pad the far edges), so each plane keeps its flux."""
    if m == 1:
        return planes
    p, h, w = planes.shape
    padded = np.zeros((p, -(-h // m) * m, -(-w // m) * m), dtype=np.float64)
    padded[:, :h, :w] = planes
    return padded.reshape(p, padded.shape[1] // m, m, padded.shape[2] // m, m).sum(axis=(2, 4))


def template_sb(
    x,
    y,
    template: Template,
    flux,
    hlr_arcsec: float | None = None,
    pa: float = 0.0,
    cx: float = 0.0,
    cy: float = 0.0,
):
    """Surface brightness (flux/arcsec^2) of one template source at (x, y) in arcsec, centred on ``(cx, cy)``.

    Rotated by ``pa`` (rad) and rescaled to half-light radius ``hlr_arcsec`` (default: its own), as in
    :class:`TemplateSources`; ``flux`` one value or one per plane. A single-plane template gives an array
    shaped like ``x``, a multi-band one a leading band axis.
    """
    hlr = template.hlr_arcsec if hlr_arcsec is None else hlr_arcsec
    return TemplateSources([template], hlr, pa, np.atleast_1d(flux))(
        np.asarray(x, dtype=np.float64) - cx, np.asarray(y, dtype=np.float64) - cy
    )


def half_light_radii(
    images: np.ndarray, pixel_scale: float, center_x=None, center_y=None, resolution_px: float = 0.01
) -> np.ndarray:
    """Radius (arcsec) enclosing half the positive flux of each of (N, H, W) images.

    About ``(center_x, center_y)`` (pixel coordinates x, y; one per image), or each image's flux-weighted
    centroid when not given. Pixel fluxes are binned by distance in steps of ``resolution_px`` (a
    histogram, not a sort), so a radius is exact to that step. NaN for an image without positive flux.
    """
    positive = np.clip(images, 0, None)
    n, ny, nx = images.shape
    total = positive.sum(axis=(1, 2))
    xs, ys = np.arange(nx)[None, None, :], np.arange(ny)[None, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if center_x is None:
            center_x = (positive * xs).sum(axis=(1, 2)) / total
            center_y = (positive * ys).sum(axis=(1, 2)) / total
    cx = np.nan_to_num(np.asarray(center_x, dtype=np.float64).reshape(n, 1, 1))
    cy = np.nan_to_num(np.asarray(center_y, dtype=np.float64).reshape(n, 1, 1))
    # distances in float32 (good to 1e-5 px), binned; each image's bins follow the previous image's
    scaled_x = ((xs - cx) / resolution_px).astype(np.float32)
    scaled_y = ((ys - cy) / resolution_px).astype(np.float32)
    bins = np.sqrt(scaled_x * scaled_x + scaled_y * scaled_y).astype(np.int32)
    n_bins = int(bins.max()) + 1 if bins.size else 1
    bins += (np.arange(n, dtype=np.int32) * n_bins)[:, None, None]
    cumulative = np.cumsum(
        np.bincount(bins.ravel(), weights=positive.ravel(), minlength=n * n_bins).reshape(n, n_bins), axis=1
    )
    first = np.argmax(cumulative >= 0.5 * total[:, None], axis=1)
    return np.where(total > 0, (first + 1) * resolution_px * pixel_scale, np.nan)


def half_light_radius(
    image: np.ndarray,
    pixel_scale: float,
    center: tuple[float, float] | None = None,
    resolution_px: float = 0.01,
) -> float:
    """:func:`half_light_radii` of one (H, W) image, about ``center`` (x, y pixels) or its centroid."""
    cx, cy = (None, None) if center is None else ([center[0]], [center[1]])
    return float(half_light_radii(image[None], pixel_scale, cx, cy, resolution_px)[0])
