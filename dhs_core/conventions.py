"""Every constant and convention of dhs, in one place.

Nothing else in dhs writes a zero point, a pixel scale, an extinction coefficient or a maskbit value.

Units: fluxes in nanomaggies (nMgy, AB zero point 22.5), angles in arcsec unless a name says deg,
pixel coordinates 0-based.

Pixel convention (used by the coadd reader, the cutout, the renderer and the masks):
    * Pixel ``[j, i]`` of a 2-D array (row j, column i) has its centre at the 0-based continuous
      coordinate ``(x, y) = (i, j)`` and covers ``[i - 0.5, i + 0.5) x [j - 0.5, j + 0.5)``.
      This is astropy's ``world_to_pixel_values`` convention; FITS 1-based pixels are ``x + 1``.
    * A stamp of ``size`` pixels around a target at ``(x, y)`` in a parent image starts at
      ``x0 = floor(x + 0.5) - size // 2`` (likewise ``y0``): the pixel that contains the target sits
      at index ``size // 2``. Rounding is half-up by construction, never Python's or numpy's
      half-to-even ``round``.
    * The target's sub-pixel position is kept: it is ``(x - x0, y - y0)`` in stamp coordinates, in
      ``[size//2 - 0.5, size//2 + 0.5)``. The lens is centred on that position exactly.
    * Stamp-frame offsets in arcsec are ``(x_pix - x_c) * PIXEL_SCALE_ARCSEC`` along +x (columns)
      and +y (rows). With DR10's TAN WCS (CD1_1 < 0, CD2_2 > 0) +x points west and +y north.
"""

from __future__ import annotations

import enum
import math
import re

import numpy as np

# ---------------------------------------------------------------------------------------------
# Photometry
# ---------------------------------------------------------------------------------------------

PIXEL_SCALE_ARCSEC = 0.262
"""DR10 coadd pixel scale, arcsec per pixel."""

AB_ZEROPOINT = 22.5
"""Magnitude of a 1-nanomaggie source: ``m = 22.5 - 2.5 log10(flux_nmgy)``."""

BANDS = ("g", "r", "z")
"""The optical bands of a stamp, in stamp order."""

OPTICAL_BANDS = ("g", "r", "i", "z")
WISE_BANDS = ("w1", "w2")
ALL_BANDS = OPTICAL_BANDS + WISE_BANDS

EXTINCTION_COEFFICIENTS = {"g": 3.214, "r": 2.165, "i": 1.592, "z": 1.211, "w1": 0.184, "w2": 0.113}
"""Galactic extinction A_band / E(B-V) for DECam and WISE (the Legacy Surveys DR10 values)."""


def flux_to_mag(flux_nmgy):
    """AB magnitude of a flux in nanomaggies; NaN where the flux is <= 0 or not finite.

    >>> float(flux_to_mag(1.0))
    22.5
    """
    flux = np.asarray(flux_nmgy, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = AB_ZEROPOINT - 2.5 * np.log10(np.where(flux > 0, flux, np.nan))
    return mag


def mag_to_flux(mag):
    """Flux in nanomaggies of an AB magnitude: ``10**(-0.4 (m - 22.5))``.

    >>> float(mag_to_flux(20.0))  # doctest: +ELLIPSIS
    10.0...
    """
    return np.power(10.0, -0.4 * (np.asarray(mag, dtype=np.float64) - AB_ZEROPOINT))


def mw_transmission(ebv, band: str):
    """Milky Way transmission (0-1) in ``band`` for a reddening E(B-V) in mag: ``10**(-0.4 R E)``."""
    return np.power(10.0, -0.4 * extinction_coefficient(band) * np.asarray(ebv, dtype=np.float64))


def extinction_coefficient(band: str) -> float:
    """A_band / E(B-V) for one band (case-insensitive)."""
    try:
        return EXTINCTION_COEFFICIENTS[band.lower()]
    except KeyError:
        raise ValueError(f"no extinction coefficient for band {band!r}; known: {ALL_BANDS}") from None


def deredden_flux(flux_nmgy, mw_transmission_value):
    """Flux corrected for Galactic extinction: ``flux / MW_TRANSMISSION`` (nanomaggies).

    A transmission <= 0 or NaN gives NaN rather than an infinite or negative flux.
    """
    flux = np.asarray(flux_nmgy, dtype=np.float64)
    trans = np.asarray(mw_transmission_value, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(trans > 0, flux / np.where(trans > 0, trans, 1.0), np.nan)


# ---------------------------------------------------------------------------------------------
# LRG variants (the original's Phase 2 hypergrid; all inequalities strict)
# ---------------------------------------------------------------------------------------------

LRG_VARIANTS = (
    # (name, z <, r - z >, z - W1 >)
    ("v1_pure_massive", 20.0, 0.5, 1.6),
    ("v2_baseline_dr10", 20.4, 0.4, 1.6),
    ("v3_color_relaxed", 20.4, 0.4, 0.8),
    ("v4_mag_relaxed", 21.0, 0.4, 0.8),
    ("v5_very_relaxed", 21.5, 0.3, 0.8),
)
"""The five LRG selections, nested v1 within v2 ... within v5; flags are named ``is_<name>``."""

LRG_VARIANT_NAMES = tuple(name for name, *_ in LRG_VARIANTS)

DR10_LRG_MEDIAN_DENSITY = {
    "v1_pure_massive": 32.0,
    "v2_baseline_dr10": 81.4,
    "v3_color_relaxed": 1201.5,
    "v4_mag_relaxed": 2801.3,
    "v5_very_relaxed": 4967.6,
}
"""Median density per deg^2 over DR10 South bricks of each variant (the original's Phase 2 run)."""


def passes_lrg_variant(zmag, rz, zw1, variant: str):
    """Whether z magnitude and r-z, z-W1 colours (AB) pass a variant's strict cuts; NaN fails."""
    for name, zmax, rzmin, zw1min in LRG_VARIANTS:
        if name == variant:
            return (np.asarray(zmag) < zmax) & (np.asarray(rz) > rzmin) & (np.asarray(zw1) > zw1min)
    raise ValueError(f"unknown LRG variant {variant!r}; known: {[v[0] for v in LRG_VARIANTS]}")


# ---------------------------------------------------------------------------------------------
# Depth: two units, two names, never one ambiguous column
# ---------------------------------------------------------------------------------------------


def sweep_psfdepth_to_mag5(psfdepth_ivar):
    """5-sigma point-source depth in AB mag from a sweep/Tractor ``PSFDEPTH`` (inverse variance, nMgy^-2).

    ``m5 = 22.5 - 2.5 log10(5 / sqrt(psfdepth))``; NaN where the inverse variance is <= 0.

    >>> round(float(sweep_psfdepth_to_mag5(25.0)), 6)  # sigma 0.2 nMgy -> 5 sigma = 1 nMgy
    22.5
    """
    ivar = np.asarray(psfdepth_ivar, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return flux_to_mag(5.0 / np.sqrt(np.where(ivar > 0, ivar, np.nan)))


def mag5_to_sweep_psfdepth(mag5):
    """Inverse of :func:`sweep_psfdepth_to_mag5`: inverse variance (nMgy^-2) of a 5-sigma depth in AB mag."""
    return (5.0 / mag_to_flux(mag5)) ** 2


SWEEP_DEPTH_SUFFIX = "ivar"
"""Sweep depth columns are renamed ``psfdepth_ivar_<band>`` (nMgy^-2) when read."""
BRICK_DEPTH_SUFFIX = "mag5"
"""Brick-summary depth columns are renamed ``psfdepth_mag5_<band>`` (5-sigma AB mag) when read."""


def depth_column(kind: str, unit: str, band: str) -> str:
    """Unambiguous name of a depth column, e.g. ``depth_column("psfdepth", "mag5", "r")``."""
    if kind not in ("psfdepth", "galdepth") or unit not in (SWEEP_DEPTH_SUFFIX, BRICK_DEPTH_SUFFIX):
        raise ValueError(f"unknown depth column kind={kind!r} unit={unit!r}")
    return f"{kind}_{unit}_{band.lower()}"


def unambiguous_depth_names(names: list[str], unit: str) -> list[str]:
    """Rename lower-case ``psfdepth_<b>``/``galdepth_<b>`` columns to carry ``unit``; others unchanged."""
    renamed = []
    for name in names:
        kind, _, band = name.partition("_")
        if kind in ("psfdepth", "galdepth") and band and "_" not in band:
            name = depth_column(kind, unit, band)
        renamed.append(name)
    return renamed


# ---------------------------------------------------------------------------------------------
# DR10 maskbits
# ---------------------------------------------------------------------------------------------


class MaskBits(enum.IntFlag):
    """DR10 ``MASKBITS`` (coadd maskbits images and the sweep column)."""

    NPRIMARY = 1 << 0  # outside the brick's primary region
    BRIGHT = 1 << 1  # bright star (Tycho-2/Gaia G < 13)
    SATUR_G = 1 << 2
    SATUR_R = 1 << 3
    SATUR_Z = 1 << 4
    ALLMASK_G = 1 << 5
    ALLMASK_R = 1 << 6
    ALLMASK_Z = 1 << 7
    WISEM1 = 1 << 8  # WISE W1 bright-star mask (not a detection)
    WISEM2 = 1 << 9
    BAILOUT = 1 << 10
    MEDIUM = 1 << 11  # medium-bright star (Gaia G < 16)
    GALAXY = 1 << 12  # large galaxy (SGA)
    CLUSTER = 1 << 13  # globular cluster
    SATUR_I = 1 << 14
    ALLMASK_I = 1 << 15
    SUB_BLOB = 1 << 16


SATURATED = {"g": MaskBits.SATUR_G, "r": MaskBits.SATUR_R, "i": MaskBits.SATUR_I, "z": MaskBits.SATUR_Z}
ALLMASK = {"g": MaskBits.ALLMASK_G, "r": MaskBits.ALLMASK_R, "i": MaskBits.ALLMASK_I, "z": MaskBits.ALLMASK_Z}
STAR_MASK = MaskBits.BRIGHT | MaskBits.MEDIUM
"""Pixels near bright or medium-bright stars, bad in every band."""

BAD_PIXEL = {band: STAR_MASK | SATURATED[band] | ALLMASK[band] for band in OPTICAL_BANDS}
"""Per-band bad-pixel mask: star masks plus that band's own saturation and ALLMASK bits, so that a
pixel saturated in z alone is not dropped from an r-band measurement."""

NEGATIVE_EXCLUSION = (
    MaskBits.BRIGHT
    | MaskBits.ALLMASK_G
    | MaskBits.ALLMASK_R
    | MaskBits.ALLMASK_Z
    | MaskBits.MEDIUM
    | MaskBits.GALAXY
    | MaskBits.CLUSTER
)
"""Objects with any of these bits are not used as negatives (bits 1, 5, 6, 7, 11, 12, 13)."""


# ---------------------------------------------------------------------------------------------
# Pixels
# ---------------------------------------------------------------------------------------------

STAMP_SIZE = 64
"""Default stamp side, pixels."""


def stamp_origin(x, y, size: int = STAMP_SIZE):
    """0-based index in the parent image of a stamp's first column and row (``x0, y0``, ints).

    The pixel containing ``(x, y)`` (parent pixel coordinates) lands at stamp index ``size // 2``.
    """
    x0 = np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64) - size // 2
    y0 = np.floor(np.asarray(y, dtype=np.float64) + 0.5).astype(np.int64) - size // 2
    return x0, y0


def position_in_stamp(x, y, size: int = STAMP_SIZE):
    """The target's sub-pixel position ``(x - x0, y - y0)`` in stamp pixel coordinates."""
    x0, y0 = stamp_origin(x, y, size)
    return np.asarray(x, dtype=np.float64) - x0, np.asarray(y, dtype=np.float64) - y0


def pixel_offsets_arcsec(
    shape: tuple[int, int],
    center_x: float,
    center_y: float,
    pixel_scale: float = PIXEL_SCALE_ARCSEC,
    oversample: int = 1,
):
    """Offsets (arcsec) of pixel centres from ``(center_x, center_y)`` (stamp pixel coordinates).

    Returns ``(dx, dy)`` arrays of shape ``(ny * oversample, nx * oversample)``. With ``oversample``
    > 1 each pixel is split into ``oversample**2`` sub-pixels whose centres are returned, so that a
    mean over each block is the pixel-integrated value.
    """
    if oversample < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    ny, nx = shape
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    xs = (np.arange(nx)[:, None] + sub[None, :]).ravel()
    ys = (np.arange(ny)[:, None] + sub[None, :]).ravel()
    dx = (xs - center_x) * pixel_scale
    dy = (ys - center_y) * pixel_scale
    return np.meshgrid(dx, dy)


DEG2_PER_SR = (180.0 / math.pi) ** 2


# a dataset's name (its spec's ``name``, its partition key, its folder names): letters, digits, _ and -
DATASET_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
