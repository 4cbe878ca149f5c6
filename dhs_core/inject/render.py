"""Render a lensed source into a stamp: ray-shooting on an oversampled grid, pixels, PSF convolution.

The grid is the stamp's (``dhs_core.conventions``): sub-pixel centres of an ``oversample`` x
``oversample`` split of every pixel, offsets in arcsec from the lens centre, which is the LRG's exact
sub-pixel position in the stamp (never the stamp's middle: the original's half-pixel offset). Pixel
flux = sum over its sub-pixels of surface brightness x sub-pixel area. PSF convolution is linear
(zero-padded, no wrap-around) and centred: an impulse at any pixel returns the kernel centred on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as sp_fft
from scipy.signal import fftconvolve
from scipy.special import gammainccinv

from dhs_core.conventions import PIXEL_SCALE_ARCSEC, STAMP_SIZE
from dhs_core.errors import ConfigError
from dhs_core.inject.lens import lens_frame, unit_deflection
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
            raise ConfigError(
                "render.oversample", self.oversample, 'an integer >= 1 (8 for sources under 0.1")'
            )

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


@lru_cache(maxsize=1024)
def _kernel_spectrum(
    kernel_bytes: bytes, kernel_shape: tuple[int, int], padded: tuple[int, int], dtype: str
) -> np.ndarray:
    """Spectrum of a kernel wrapped so that its centre is at index 0 of a ``padded`` grid (read-only)."""
    kernel = np.frombuffer(kernel_bytes).reshape(kernel_shape)
    wrapped = np.zeros(padded)
    wrapped[: kernel_shape[0], : kernel_shape[1]] = kernel
    wrapped = np.roll(wrapped, (-(kernel_shape[0] // 2), -(kernel_shape[1] // 2)), axis=(0, 1))
    spectrum = sp_fft.rfft2(wrapped).astype(np.result_type(np.dtype(dtype), np.complex64))
    spectrum.setflags(write=False)
    return spectrum


@lru_cache(maxsize=1024)
def _kept_map(kernel_bytes: bytes, kernel_shape: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Fraction of each pixel's light that a kernel keeps inside a ``shape`` stamp (read-only)."""
    kernel = np.frombuffer(kernel_bytes).reshape(kernel_shape)
    kept = fftconvolve(np.ones(shape), kernel[::-1, ::-1], mode="same")
    kept.setflags(write=False)
    return kept


class Convolver:
    """Linear, zero-padded, centred convolution of many stamps with a few kernels (same result as
    :func:`convolve`, batched over stamps and bands).

    The transform size is the smallest fast length >= stamp + kernel half-width: enough for a
    circular convolution to equal the linear one on the stamp (light wrapping round lands only in the
    discarded margin). The kernel sits with its centre at index 0, so the output needs no shift; the
    transforms skip the rows that are zero going in and the rows that are discarded coming out. Kernel
    spectra are cached per process (the 1,024 most recent kernels).
    """

    def __init__(self, shape: tuple[int, int]):
        self.shape = tuple(shape)

    def flux_kept(self, images: np.ndarray, kernel: np.ndarray):
        """Sum over the stamp of each image (..., ny, nx) convolved with ``kernel``, without convolving it.

        Each pixel's light that the kernel keeps inside the stamp is a fixed map per kernel (the stamp's
        indicator correlated with the kernel), cached; the sum is then a dot product.
        """
        _check_odd(kernel)
        kernel = np.ascontiguousarray(kernel, dtype=np.float64)
        return np.sum(images * _kept_map(kernel.tobytes(), kernel.shape, self.shape), axis=(-2, -1))

    def convolve(self, images: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
        """Images (..., P, ny, nx), P = 1 or one plane per kernel, convolved with each band's kernel:
        (..., B, ny, nx); one plane serves every band. A 2-D image is one plane. float32 images are
        transformed in single precision (errors ~1e-7 of the peak), float64 in double."""
        for k in kernels:
            _check_odd(k)
        py, px = (
            sp_fft.next_fast_len(n + max(k.shape[i] for k in kernels) // 2, real=True)
            for i, n in enumerate(self.shape)
        )
        dtype = np.result_type(images.dtype, np.float32).str
        spectra = np.stack(
            [
                _kernel_spectrum(
                    np.ascontiguousarray(k, dtype=np.float64).tobytes(), k.shape, (py, px), dtype
                )
                for k in kernels
            ]
        )
        ny, nx = self.shape
        images = images[None] if images.ndim == 2 else images
        if images.shape[-2:] != (ny, nx) or images.shape[-3] not in (1, len(kernels)):
            raise ConfigError(
                "convolver image shape", images.shape, f"(..., 1 or {len(kernels)}, {ny}, {nx})"
            )
        spectrum = sp_fft.fft(
            sp_fft.rfft(images, px, axis=-1), py, axis=-2
        )  # rfft2, without transforming zero rows
        product = spectrum * spectra
        return sp_fft.irfft(sp_fft.ifft(product, axis=-2)[..., :ny, :], px, axis=-1)[
            ..., :nx
        ]  # only the rows kept


def sersic_cutoff(r_e: float, n: float, lost_fraction: float = 1e-5) -> float:
    """Semi-major radius (arcsec) outside which a Sérsic holds ``lost_fraction`` of its light."""
    return float(r_e * (gammainccinv(2 * n, lost_fraction) / sersic_b(n)) ** n)


def _mapped(p, q, c, xm, ym, a_x, a_y):
    """``p (xm, ym) + q (a_x, a_y) + c``: 2 x 2 matrices and 2-vectors (broadcast with the points);
    without the ``q`` term when ``a_x`` is None."""
    u = p[..., 0, 0] * xm + p[..., 0, 1] * ym + c[..., 0]
    v = p[..., 1, 0] * xm + p[..., 1, 1] * ym + c[..., 1]
    if a_x is not None:
        u += q[..., 0, 0] * a_x + q[..., 0, 1] * a_y
        v += q[..., 1, 0] * a_x + q[..., 1, 1] * a_y
    return u, v


def _as_lens_arrays(lens: LensParams | None, n: int):
    """Per-lens constants (arrays of n): q, cos/sin of the major axis, e, b, and the shear matrix I - Gamma."""
    if lens is None:
        zeros = np.zeros(n)
        q, cos, sin, e, b, g1, g2 = np.ones(n), np.ones(n), zeros, zeros, zeros, zeros, zeros
    else:
        theta_e, e1, e2, g1, g2 = (
            np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))
            for v in (lens.theta_e, lens.e1, lens.e2, lens.gamma1, lens.gamma2)
        )
        q, cos, sin, e = lens_frame(e1, e2)
        b = theta_e * np.sqrt(q)
    to_lens = np.stack(
        [np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2
    )  # stamp offsets -> major-axis frame
    shear = np.stack([np.stack([1 - g1, -g2], -1), np.stack([-g2, 1 + g1], -1)], -2)
    return q, e, b, to_lens, shear, np.hypot(g1, g2)


def _stretch(b, psi, gamma, half_diagonal):
    """Most the lens mapping can stretch a pixel's half diagonal, from its centre's ``psi`` (arcsec).

    ``|I - H| <= max(1, 2 kappa - 1) + |gamma|`` (the SIE's Hessian has eigenvalues 0 and 2 kappa), with
    kappa = b / (2 psi) at its largest over the half diagonal, where psi >= psi(centre) - half diagonal
    (psi is a norm no larger than the Euclidean one); infinite where the pixel may touch the centre.
    """
    closest = psi - half_diagonal
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(closest > 0, np.maximum(1, b / closest - 1), np.inf) + gamma


def _area_ratio(xm, ym, psi, b, to_lens, shear) -> np.ndarray:
    """|det(I - H)|: source-plane over image-plane area at points (x_m, y_m) of the lens frame (arcsec),
    for the SIE (``b``, and ``psi`` at the points) plus the shear of ``shear`` = I - Gamma."""
    xm, ym, psi = (np.asarray(v, dtype=np.float64) for v in (xm, ym, psi))
    s = b / (psi * (xm * xm + ym * ym))  # the SIE's Hessian is s (y^2, -x y; -x y, x^2) in its frame
    g1, g2 = 1 - shear[:, 0, 0], -shear[:, 0, 1]
    cos2, sin2 = to_lens[:, 0, 0] ** 2 - to_lens[:, 0, 1] ** 2, 2 * to_lens[:, 0, 0] * to_lens[:, 0, 1]
    g1m, g2m = g1 * cos2 + g2 * sin2, -g1 * sin2 + g2 * cos2  # the shear in the lens frame
    with np.errstate(invalid="ignore", divide="ignore"):
        det = (1 - s * ym * ym - g1m) * (1 - s * xm * xm + g1m) - (-s * xm * ym + g2m) ** 2
    return np.nan_to_num(np.abs(det), nan=1.0, posinf=1.0)


def _search_boxes(grid: Grid, center_x, center_y, q, e, b, gamma, source_reach):
    """Per task, a box of pixels (one size for all) outside which no pixel can see the source.

    A pixel at distance d from the lens maps at least ``(1 - |gamma|) d - max|alpha_SIE|`` from it, and
    the SIE deflects by at most ``b hypot(arctan(e/q)/e, artanh(e)/e)`` (``b sqrt 2`` for the SIS bound).
    ``source_reach`` (arcsec) is the source centre's distance from the lens plus its cutoff. Returns the
    box's rows and columns and each task's first row and column in the stamp.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha_max = np.where(
            e > 1e-4,
            b * np.hypot(np.arctan(e / q) / e, np.arctanh(np.minimum(e, 1 - 1e-12)) / e),
            b * np.sqrt(2),
        )
    half_diagonal = 0.5 * np.sqrt(2) * grid.pixel_scale
    first = (alpha_max + source_reach + half_diagonal * (1 + gamma)) / (1 - gamma)
    # the stretch only falls with distance, so its value at the first radius bounds it further out
    radius = (alpha_max + source_reach + half_diagonal * _stretch(b, q * first, gamma, half_diagonal)) / (
        1 - gamma
    )
    ny, nx = grid.shape
    half = (
        np.ceil(np.nan_to_num(radius / grid.pixel_scale, nan=np.inf, posinf=1e6).max()) + 1
        if len(radius)
        else 0
    )
    box_rows, box_cols = int(min(ny, 2 * half + 1)), int(min(nx, 2 * half + 1))
    row0 = np.clip(np.floor(center_y) - (box_rows // 2), 0, ny - box_rows).astype(np.int64)
    col0 = np.clip(np.floor(center_x) - (box_cols // 2), 0, nx - box_cols).astype(np.int64)
    return box_rows, box_cols, row0, col0


def render_unit_sources(
    grid: Grid, center_x, center_y, lens: LensParams | None, sources, source_x, source_y, cutoff_arcsec
) -> np.ndarray:
    """Pixel fluxes (unconvolved) of T sources, each seen through its lens; shape (T, [planes,] ny, nx).

    Per source t (arrays of length T, or scalars shared by all): the lens centre ``center_x[t],
    center_y[t]`` (stamp pixel coordinates, the LRG's sub-pixel position), the lens (``LensParams`` whose
    fields are arrays or scalars; ``None``: unlensed), the source centre ``source_x[t], source_y[t]``
    (arcsec, source plane, relative to the lens) and the radius ``cutoff_arcsec[t]`` beyond which it has
    no light. ``sources`` is a ``SersicSources`` or ``TemplateSources`` of T entries.

    The lens equation ``beta = (I - Gamma) x - b R^T A(x_m)``, with ``A`` the SIE's unit deflection in its
    major-axis frame, and the source's own affine coordinates are composed into one affine map per task
    of ``(x_m, y_m, A_x, A_y)``, so each ray costs the two transcendental functions, that map and the
    profile. Sub-pixel rays are float32 (positions good to 1e-6"), pixel fluxes float64.

    Sub-pixels are ray-shot only in pixels that can see their source: those whose centre maps within
    the cutoff of it plus the most the lens mapping can stretch half a pixel diagonal (the norm of the
    Jacobian ``I - H``, at most ``max(1, 2 kappa - 1) + |gamma|`` with kappa bounded over the pixel; every
    pixel within half a diagonal of the lens centre is shot). A bound, not an estimate: no light inside
    the cutoff is missed. All T sources go through each numpy operation together (no per-source Python
    loop). Stages: per-task maps, pixels that can see their source, sub-pixel rays to the source's
    coordinates, profile summed per pixel.
    """
    center_x, center_y, source_x, source_y, cutoff = (
        np.atleast_1d(np.asarray(v, dtype=np.float64))
        for v in (center_x, center_y, source_x, source_y, cutoff_arcsec)
    )
    n = max(len(center_x), len(source_x), len(cutoff))
    center_x, center_y, source_x, source_y, cutoff = (
        np.broadcast_to(v, (n,)) for v in (center_x, center_y, source_x, source_y, cutoff)
    )
    maps = _task_maps(lens, sources, source_x, source_y, n)
    pixels = _pixels_seeing_source(
        grid, maps, lens is not None, center_x, center_y, source_x, source_y, cutoff
    )
    u, v, level, block_area = _ray_coordinates(grid, maps, pixels, sources, lens is not None)
    values = (
        sources.profile(u, v, pixels.which[:, None])
        if level is None
        else sources.profile(u, v, pixels.which[:, None], level)
    )
    return _pixel_fluxes(grid, values, sources, pixels, block_area, n)


@dataclass(frozen=True)
class _TaskMaps:
    """Per task (leading axis T): the lens's axis ratio ``q``, ellipticity ``e``, ``b = theta_E sqrt(q)`` (arcsec),
    the rotation into its major-axis frame ``to_lens`` and ``shear`` = I - Gamma (2 x 2), ``gamma`` = |Gamma|;
    the affine maps from the lens frame to the source plane about the source centre (``sel_p`` on the position,
    ``sel_q`` on the unit deflection) and on to the source's profile coordinates (``ray_p``, ``ray_q``, ``ray_c``)."""

    q: np.ndarray
    e: np.ndarray
    b: np.ndarray
    to_lens: np.ndarray
    shear: np.ndarray
    gamma: np.ndarray
    source_offset: np.ndarray
    sel_p: np.ndarray
    sel_q: np.ndarray
    ray_p: np.ndarray
    ray_q: np.ndarray
    ray_c: np.ndarray


def _task_maps(lens: LensParams | None, sources, source_x, source_y, n: int) -> _TaskMaps:
    q, e, b, to_lens, shear, gamma = _as_lens_arrays(lens, n)
    from_lens = np.swapaxes(to_lens, -1, -2)
    source_offset = np.stack([source_x, source_y], -1)
    # source-plane offset from the source centre, and the source's profile coordinates, per task
    sel_p, sel_q = shear @ from_lens, -b[:, None, None] * from_lens
    ray_p, ray_q = sources.matrix @ sel_p, sources.matrix @ sel_q
    ray_c = sources.offset - np.einsum("tij,tj->ti", sources.matrix, source_offset)
    return _TaskMaps(q, e, b, to_lens, shear, gamma, source_offset, sel_p, sel_q, ray_p, ray_q, ray_c)


@dataclass(frozen=True)
class _SeeingPixels:
    """The pixels that can see their source: task ``which``, position in its box ``box_r, box_c`` and in the
    stamp ``rows, cols``; the lens-frame coordinates (arcsec) of every box pixel's centre ``xm, ym`` (T, rows,
    cols, float32) and its SIE ``psi`` (None unlensed)."""

    which: np.ndarray
    box_r: np.ndarray
    box_c: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    xm: np.ndarray
    ym: np.ndarray
    psi: np.ndarray | None


def _pixels_seeing_source(
    grid: Grid, maps: _TaskMaps, lensed: bool, center_x, center_y, source_x, source_y, cutoff
) -> _SeeingPixels:
    """Pixel centres shot through the lens: those that land within the cutoff of the source plus the most the
    mapping can stretch half a pixel diagonal (a bound, so no light is missed)."""
    half_diagonal = 0.5 * np.sqrt(2) * grid.pixel_scale
    box_rows, box_cols, row0, col0 = _search_boxes(
        grid, center_x, center_y, maps.q, maps.e, maps.b, maps.gamma, np.hypot(source_x, source_y) + cutoff
    )
    per = (slice(None), None, None)  # a per-task value against (T, rows, cols) of its box
    dx = ((col0[per] + np.arange(box_cols)[None, None, :] - center_x[per]) * grid.pixel_scale).astype(
        np.float32
    )
    dy = ((row0[per] + np.arange(box_rows)[None, :, None] - center_y[per]) * grid.pixel_scale).astype(
        np.float32
    )
    to_lens = maps.to_lens
    xm = to_lens[:, 0, 0][per].astype(np.float32) * dx + to_lens[:, 0, 1][per].astype(np.float32) * dy
    ym = to_lens[:, 1, 0][per].astype(np.float32) * dx + to_lens[:, 1, 1][per].astype(np.float32) * dy
    if not lensed:
        a_x = a_y = psi = None
        stretch = 1.0
    else:
        a_x, a_y, psi = unit_deflection(xm, ym, maps.q[per], maps.e[per])
        stretch = _stretch(maps.b[per], psi, maps.gamma[per], half_diagonal)
    bx, by = _mapped(
        maps.sel_p[per].astype(np.float32),
        maps.sel_q[per].astype(np.float32),
        -maps.source_offset[per].astype(np.float32),
        xm,
        ym,
        a_x,
        a_y,
    )
    reach = cutoff[per] + half_diagonal * stretch + 1e-4  # + float32 rounding of positions, with room
    which, box_r, box_c = np.nonzero(bx * bx + by * by < reach * reach)
    return _SeeingPixels(which, box_r, box_c, row0[which] + box_r, col0[which] + box_c, xm, ym, psi)


def _ray_coordinates(grid: Grid, maps: _TaskMaps, pixels: _SeeingPixels, sources, lensed: bool):
    """The source's profile coordinates ``u, v`` (rays, k^2; float32) of the k x k sub-pixel rays of every
    selected pixel; with a template pyramid also each pixel's level of detail (from its rays' source-plane
    footprint) and the area of a level's block in template pixels (else None, 1)."""
    which, box_r, box_c = pixels.which, pixels.box_r, pixels.box_c
    xm, ym = pixels.xm[which, box_r, box_c], pixels.ym[which, box_r, box_c]
    k = grid.oversample
    sub = ((np.arange(k) + 0.5) / k - 0.5) * grid.pixel_scale
    sx, sy = (v.ravel() for v in np.meshgrid(sub, sub))
    sub_m = np.einsum(
        "tij,js->tis", maps.to_lens, np.stack([sx, sy])
    )  # (T, 2, k^2): sub-pixel offsets, lens frame
    ray_xm = xm[:, None] + sub_m[which, 0].astype(np.float32)
    ray_ym = ym[:, None] + sub_m[which, 1].astype(np.float32)
    # the map's part linear in (x_m, y_m) splits into a per-pixel term and a per-(task, sub-pixel) term
    pixel_u, pixel_v = _mapped(maps.ray_p[which], None, maps.ray_c[which], xm, ym, None, None)
    sub_u, sub_v = _mapped(maps.ray_p[:, None], None, np.zeros(2), sub_m[:, 0], sub_m[:, 1], None, None)
    coefficient = maps.ray_q[which, :, :, None].astype(np.float32)  # (rays, 2, 2, 1)
    level, block_area = None, 1.0
    if sources.levels > 1:  # each pixel's level of detail, from its rays' source-plane footprint
        spacing = grid.pixel_scale / grid.oversample
        area = (
            1.0
            if not lensed
            else _area_ratio(
                xm, ym, pixels.psi[which, box_r, box_c], maps.b[which], maps.to_lens[which], maps.shear[which]
            )
        )
        level = sources.level_for(spacing * np.sqrt(area), which)
        scale, u_shift, v_shift = sources.level_map(level)  # folded into the per-pixel terms
        pixel_u, pixel_v = pixel_u * scale + u_shift, pixel_v * scale + v_shift
        sub_u, sub_v = sub_u[which] * scale[:, None], sub_v[which] * scale[:, None]
        coefficient = coefficient * scale[:, None, None, None].astype(np.float32)
        level, block_area = level[:, None], scale**2  # block sums -> per template pixel
    else:
        sub_u, sub_v = sub_u[which], sub_v[which]
    u = pixel_u.astype(np.float32)[:, None] + sub_u.astype(np.float32)
    v = pixel_v.astype(np.float32)[:, None] + sub_v.astype(np.float32)
    if lensed:
        ray_ax, ray_ay, _ = unit_deflection(ray_xm, ray_ym, maps.q[which, None], maps.e[which, None])
        u += coefficient[:, 0, 0] * ray_ax + coefficient[:, 0, 1] * ray_ay
        v += coefficient[:, 1, 0] * ray_ax + coefficient[:, 1, 1] * ray_ay
    return u, v, level, block_area


def _pixel_fluxes(grid: Grid, values, sources, pixels: _SeeingPixels, block_area, n: int) -> np.ndarray:
    """Per pixel: mean profile over its sub-pixels x amplitude (flux/arcsec^2) x sub-pixel area, placed in
    (T, [planes,] ny, nx) float64 stamps (zero where no pixel was shot)."""
    which = pixels.which
    amplitude = sources.amplitude[which].T.reshape(values.shape[:-2] + (len(which),))
    fluxes = values.sum(axis=-1, dtype=np.float64) * amplitude * block_area * grid.sub_pixel_area
    out = np.zeros((n,) + values.shape[:-2] + grid.shape, dtype=np.float64)
    if values.ndim == 3:
        out[which, :, pixels.rows, pixels.cols] = fluxes.T
    else:
        out[which, pixels.rows, pixels.cols] = fluxes
    return out


def render_unit_source(
    grid: Grid,
    center_x: float,
    center_y: float,
    lens: LensParams | None,
    source,
    source_x: float,
    source_y: float,
    cutoff_arcsec: float,
) -> np.ndarray:
    """:func:`render_unit_sources` of one source (``source`` a batch of one); ([planes,] ny, nx)."""
    return render_unit_sources(grid, center_x, center_y, lens, source, source_x, source_y, cutoff_arcsec)[0]
