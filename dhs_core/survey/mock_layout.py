"""Geometry and per-brick observing conditions of the mock DR10 sky.

The mock bricks are ``brick_size_deg`` square on the sky (default 0.1 deg, 1,400 px coadds), laid out
in seven clusters of adjacent bricks spread over the sky: one straddling RA = 0/360 and one at
Dec < -30 deg, so that region finding, sky-block splits, several sweep files and the RA wrap are all
exercised. Brick names follow the DR10 rule from the brick centre; a 0.1-deg brick is the smallest
for which that rule still gives every brick its own name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import galsim
import numpy as np

from dhs_core.conventions import PIXEL_SCALE_ARCSEC, sweep_psfdepth_to_mag5
from dhs_core.survey.bricks import brick_area_deg2, brickname_from_center

# (RA of a brick edge, Dec of a brick edge, grid positions in fill order); each cluster fills its
# positions (i = RA column, j = Dec row, relative to the edges) in turn as n_bricks grows.
_COMPACT = [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (2, 1), (0, 2), (1, 2), (2, 2), (3, 0), (3, 1), (3, 2)]
_WRAP = [(-1, 0), (0, 0), (-1, 1), (0, 1), (1, 0), (-2, 0), (1, 1), (-2, 1), (0, 2), (-1, 2), (1, 2), (-2, 2)]
CLUSTERS = (
    (0.0, 1.0, _WRAP),  # straddles RA = 0/360
    (20.0, -5.0, _COMPACT),
    (45.0, 10.0, _COMPACT),
    (150.0, -31.0, _COMPACT),  # |Dec| > 30
    (
        200.0,
        20.0,
        [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (0, 1), (1, 1), (2, 1), (3, 1), (4, 1)],
    ),  # a strip
    (330.0, -1.0, _COMPACT),
    (100.0, 5.0, _COMPACT),
)
MOCK_RELEASE = 10000  # DR10 South release number
MOFFAT_BETA = 3.5
SKY_SIGMA_R = 0.0034  # median per-pixel sky sigma in r, nMgy (real DR10 cutouts: 0.0024-0.0046)
SKY_SIGMA_RATIO = {"g": 0.62, "r": 1.0, "z": 2.25}  # g 0.0016-0.0025, z 0.0055-0.0105 in real cutouts


@lru_cache(maxsize=256)
def noise_equivalent_area(fwhm_arcsec: float) -> float:
    """Noise-equivalent area (pixels) of the pixel-integrated Moffat PSF: ``(sum P)^2 / sum P^2``."""
    psf = (
        galsim.Moffat(beta=MOFFAT_BETA, fwhm=fwhm_arcsec)
        .drawImage(nx=151, ny=151, scale=PIXEL_SCALE_ARCSEC)
        .array
    )
    return float(psf.sum() ** 2 / (psf**2).sum())


@dataclass(frozen=True)
class MockBrick:
    """One mock brick: name, id, centre and edges (deg), cluster index and observing conditions.

    ``psfsize`` FWHM in arcsec, ``sky_sigma`` the median per-pixel sky noise in nanomaggies and
    ``psfdepth_mag5`` the 5-sigma point-source depth (AB mag) it implies with that PSF, per band in
    g, r, z order; a band without coverage has FWHM 0, sigma 0 and depth 0, as in DR10's summaries.
    """

    brickid: int
    brickname: str
    ra: float
    dec: float
    ra1: float
    ra2: float
    dec1: float
    dec2: float
    cluster: int
    ebv: float
    psfsize: tuple[float, float, float]
    sky_sigma: tuple[float, float, float]
    psfdepth_mag5: tuple[float, float, float]
    missing_band: str | None = None
    nan_patch: bool = False

    @property
    def area_deg2(self) -> float:
        return float(brick_area_deg2(self.ra1, self.ra2, self.dec1, self.dec2))


def mock_bricks(n_bricks: int, seed: int, brick_size_deg: float = 0.1) -> list[MockBrick]:
    """The mock sky's bricks: ``n_bricks`` spread round-robin over the clusters, with conditions.

    PSF FWHM r is log-normal around 1.25" (clipped to 0.8-1.8"), g 8 % wider and z 6 % narrower.
    The per-pixel sky noise is drawn first, log-normal around the real DR10 cutouts' values, and the
    PSF depth follows from it and the PSF (``psfdepth = 1 / (sigma^2 * noise-equivalent area)``), so
    good seeing gives deeper bricks, as in the survey. E(B-V) is log-normal around 0.04 mag. Brick 1
    lacks the g band and brick 2 has a patch of NaN pixels, so that later phases meet both.
    """
    if n_bricks < len(CLUSTERS):
        raise ValueError(f"n_bricks must be >= {len(CLUSTERS)} (one per cluster), got {n_bricks}")
    rng = np.random.default_rng([seed, 0x627269636B])  # "brick"
    geometry = []
    for k in range(n_bricks):
        cluster, slot = k % len(CLUSTERS), k // len(CLUSTERS)
        ra_edge, dec_edge, positions = CLUSTERS[cluster]
        if slot >= len(positions):
            raise ValueError(f"n_bricks={n_bricks} exceeds the mock layout's capacity")
        i, j = positions[slot]
        dec1 = dec_edge + j * brick_size_deg
        dec2 = dec1 + brick_size_deg
        width = brick_size_deg / math.cos(math.radians(dec1 + brick_size_deg / 2))
        ra1 = (ra_edge + i * width) % 360.0
        ra2 = (ra1 + width) % 360.0
        ra_c = (ra1 + width / 2) % 360.0
        geometry.append(
            (
                round(ra1, 10),
                round(ra2, 10),
                round(dec1, 10),
                round(dec2, 10),
                ra_c,
                dec1 + brick_size_deg / 2,
                cluster,
            )
        )
    names = brickname_from_center([g[4] for g in geometry], [g[5] for g in geometry])
    if len(set(names)) != len(names):
        raise ValueError("mock brick names collide: brick_size_deg must be >= 0.1")
    bricks = []
    for k, ((ra1, ra2, dec1, dec2, ra_c, dec_c, cluster), name) in enumerate(zip(geometry, names)):
        fwhm_r = float(np.clip(1.25 * np.exp(rng.normal(0.0, 0.15)), 0.8, 1.8))
        sigma_r = float(SKY_SIGMA_R * np.exp(np.clip(rng.normal(0.0, 0.12), -0.25, 0.25)))
        ebv = float(np.clip(0.04 * np.exp(rng.normal(0.0, 0.6)), 0.005, 0.3))
        psfsize = [round(fwhm_r * 1.08, 4), round(fwhm_r, 4), round(fwhm_r * 0.94, 4)]
        sigma = [round(sigma_r * SKY_SIGMA_RATIO[band], 7) for band in "grz"]
        depth = [
            round(float(sweep_psfdepth_to_mag5(1.0 / (s**2 * noise_equivalent_area(f)))), 4)
            for s, f in zip(sigma, psfsize)
        ]
        missing = "g" if k == 1 else None
        if missing:
            psfsize[0], sigma[0], depth[0] = 0.0, 0.0, 0.0
        bricks.append(
            MockBrick(
                brickid=100_000 + k,
                brickname=name,
                ra=ra_c,
                dec=dec_c,
                ra1=ra1,
                ra2=ra2,
                dec1=dec1,
                dec2=dec2,
                cluster=cluster,
                ebv=round(ebv, 5),
                psfsize=tuple(psfsize),
                sky_sigma=tuple(sigma),
                psfdepth_mag5=tuple(depth),
                missing_band=missing,
                nan_patch=(k == 2),
            )
        )
    return bricks
