"""The mock sky's object catalogue for one brick: LRGs, field galaxies and stars, in sweep columns.

LRGs are drawn shell by shell so that the five LRG variants select nested counts in the ratio of the
real DR10 South median densities (32, 81, 1,202, 2,801, 4,968 per deg^2), scaled up by ``density_scale``
to keep the sky small. Field galaxies fail every variant; stars are TYPE PSF. Fluxes are nanomaggies.
"""

from __future__ import annotations

import numpy as np

from dhs_core.conventions import (
    DR10_LRG_MEDIAN_DENSITY,
    LRG_VARIANT_NAMES,
    LRG_VARIANTS,
    flux_to_mag,
    mag5_to_sweep_psfdepth,
    mag_to_flux,
    mw_transmission,
    passes_lrg_variant,
)
from dhs_core.survey.mock_layout import MOCK_RELEASE, MockBrick

DR10_MEDIAN_DENSITY = [DR10_LRG_MEDIAN_DENSITY[name] for name in LRG_VARIANT_NAMES]
LRG_TYPES = (("DEV", 0.355), ("REX", 0.262), ("SER", 0.223), ("EXP", 0.160))
FIELD_TYPES = (("EXP", 0.4), ("REX", 0.4), ("SER", 0.1), ("DEV", 0.1))
FIELD_PER_LRG = 2.0  # field galaxies per v5 LRG
STARS_PER_DEG2 = 3000.0
BRIGHT_STARS_PER_BRICK = 0.6


def passes_variant(zmag, rz, zw1, variant: int) -> np.ndarray:
    """Whether magnitudes/colours pass variant number ``variant`` (1-5), strict inequalities."""
    return passes_lrg_variant(zmag, rz, zw1, LRG_VARIANT_NAMES[variant - 1])


def _lrg_shell(rng: np.random.Generator, n: int, variant: int):
    """``n`` (z, r-z, z-W1) triples inside variant ``variant`` and outside ``variant - 1``."""
    zmax = LRG_VARIANTS[variant - 1][1]
    out = np.empty((0, 3))
    while len(out) < n:
        m = 4 * (n - len(out)) + 16
        # number counts rise towards the faint limit: p(z) ~ 10**(0.6 z) on [17.5, zmax)
        slope = 0.6 * np.log(10)
        u = rng.random(m)
        z = zmax + np.log(u + (1 - u) * np.exp(slope * (17.5 - zmax))) / slope
        rz = rng.normal(1.15, 0.35, m)
        zw1 = rng.normal(1.1, 0.55, m)
        keep = passes_variant(z, rz, zw1, variant)
        if variant > 1:
            keep &= ~passes_variant(z, rz, zw1, variant - 1)
        out = np.vstack([out, np.stack([z, rz, zw1], axis=1)[keep]])
    return out[:n]


def _field_galaxies(rng: np.random.Generator, n: int):
    out = np.empty((0, 3))
    while len(out) < n:
        m = 2 * (n - len(out)) + 16
        z = rng.uniform(19.0, 23.0, m)
        rz = rng.normal(0.6, 0.4, m)
        zw1 = rng.normal(0.3, 0.6, m)
        keep = ~passes_variant(z, rz, zw1, 5)
        out = np.vstack([out, np.stack([z, rz, zw1], axis=1)[keep]])
    return out[:n]


def _choose_types(rng, n, table):
    names = np.array([t for t, _ in table])
    probs = np.array([p for _, p in table])
    return names[rng.choice(len(names), size=n, p=probs / probs.sum())]


def _shapes(rng, types, zmag):
    n = len(types)
    shape_r = np.where(
        types == "PSF",
        0.0,
        np.clip(0.9 * 10 ** (-0.15 * (zmag - 19.5)) * np.exp(rng.normal(0, 0.3, n)), 0.3, 4.0),
    )
    q = rng.uniform(0.45, 1.0, n)
    e = (1 - q) / (1 + q)
    phi = rng.uniform(0, np.pi, n)
    round_ = (types == "REX") | (types == "PSF")
    e1 = np.where(round_, 0.0, e * np.cos(2 * phi))
    e2 = np.where(round_, 0.0, e * np.sin(2 * phi))
    sersic = np.select(
        [types == "DEV", types == "SER", types == "PSF"],
        [4.0, np.round(rng.uniform(1.5, 5.5, n) * 2) / 2, 0.0],
        1.0,
    )
    return shape_r, e1, e2, sersic


def brick_catalogue(brick: MockBrick, seed: int, density_scale: float) -> dict[str, np.ndarray]:
    """The objects of one brick in sweep columns (lower case), plus truth columns prefixed ``true_``.

    Positions are uniform within the brick's box. Fluxes are the intrinsic ones dimmed by the brick's
    Galactic extinction (``MW_TRANSMISSION``), so the variant counts are exact on dereddened magnitudes.
    g fluxes carry catalogue noise (a faint g can be negative, as in DR10); r, z, W1 are noiseless.
    ``maskbits`` is filled later from the coadd masks.
    """
    rng = np.random.default_rng([seed, brick.brickid])
    area = brick.area_deg2
    shells = [np.zeros((0, 3))]
    for variant in range(1, 6):
        previous = DR10_MEDIAN_DENSITY[variant - 2] if variant > 1 else 0.0
        lam = density_scale * (DR10_MEDIAN_DENSITY[variant - 1] - previous) * area
        shells.append(_lrg_shell(rng, rng.poisson(lam), variant))
    lrg = np.vstack(shells)
    n_lrg = len(lrg)
    field = _field_galaxies(rng, rng.poisson(FIELD_PER_LRG * density_scale * DR10_MEDIAN_DENSITY[4] * area))
    n_stars = rng.poisson(STARS_PER_DEG2 * area)
    n_bright = rng.poisson(BRIGHT_STARS_PER_BRICK)
    star_g = np.concatenate([rng.uniform(9.5, 13.0, n_bright), 13.0 + 8.0 * rng.power(2.0, n_stars)])
    stars = np.stack(
        [star_g - 0.45, rng.normal(0.3, 0.15, len(star_g)), rng.normal(-0.7, 0.2, len(star_g))], axis=1
    )

    zrzw = np.vstack([lrg, field, stars])
    n = len(zrzw)
    zmag, rz, zw1 = zrzw.T
    types = np.concatenate(
        [
            _choose_types(rng, n_lrg, LRG_TYPES),
            _choose_types(rng, len(field), FIELD_TYPES),
            np.full(len(stars), "PSF"),
        ]
    )
    gr = np.concatenate(
        [rng.normal(1.75, 0.15, n_lrg), rng.normal(0.7, 0.3, len(field)), rng.normal(0.55, 0.2, len(stars))]
    )
    rmag = zmag + rz
    gmag = rmag + gr
    w1mag = zmag - zw1
    w2mag = w1mag + 0.64 + rng.normal(0.0, 0.1, n)  # AB; W1 - W2 ~ 0 in Vega

    ra_width = (brick.ra2 - brick.ra1) % 360.0
    ra = (brick.ra1 + rng.random(n) * ra_width) % 360.0
    sin1, sin2 = np.sin(np.radians(brick.dec1)), np.sin(np.radians(brick.dec2))
    dec = np.degrees(np.arcsin(sin1 + rng.random(n) * (sin2 - sin1)))  # uniform on the sphere

    shape_r, e1, e2, sersic = _shapes(rng, types, zmag)
    cat: dict[str, np.ndarray] = {
        "release": np.full(n, MOCK_RELEASE, dtype=np.int16),
        "brickid": np.full(n, brick.brickid, dtype=np.int32),
        "brickname": np.full(n, brick.brickname),
        "objid": np.arange(n, dtype=np.int32),
        "type": types,
        "ra": ra,
        "dec": dec,
        "ebv": np.full(n, brick.ebv, dtype=np.float32),
    }
    # magnitudes above are intrinsic; the sky dims them by Galactic extinction, which dereddening undoes
    transmission = {band: float(mw_transmission(brick.ebv, band)) for band in ("g", "r", "z", "w1", "w2")}
    intrinsic = {"g": gmag, "r": rmag, "z": zmag, "w1": w1mag, "w2": w2mag}
    true_flux = {band: mag_to_flux(mag) * transmission[band] for band, mag in intrinsic.items()}
    for k, band in enumerate("grz"):
        covered = brick.missing_band != band
        ivar_psf = mag5_to_sweep_psfdepth(brick.psfdepth_mag5[k]) if covered else 0.0
        flux_ivar = np.full(n, ivar_psf * 0.6)
        flux = true_flux[band].copy()
        if band == "g":
            flux = (
                flux + rng.normal(0.0, 1.0, n) / np.sqrt(np.maximum(flux_ivar, 1e-30))
                if covered
                else np.zeros(n)
            )
        cat[f"flux_{band}"] = flux.astype(np.float32)
        cat[f"flux_ivar_{band}"] = flux_ivar.astype(np.float32)
        cat[f"nobs_{band}"] = (rng.integers(2, 6, n) if covered else np.zeros(n)).astype(np.int16)
        cat[f"psfsize_{band}"] = np.full(n, brick.psfsize[k], dtype=np.float32)
        cat[f"psfdepth_{band}"] = np.full(n, ivar_psf, dtype=np.float32)
        cat[f"galdepth_{band}"] = np.full(n, ivar_psf * 0.6, dtype=np.float32)
    for band in ("w1", "w2"):
        flux = true_flux[band].copy()
        if band == "w1":  # a few faint field galaxies with non-positive W1, which the base cuts drop
            faint = (np.arange(n) >= n_lrg) & (np.arange(n) < n_lrg + len(field)) & (rng.random(n) < 0.05)
            flux[faint] = -np.abs(flux[faint]) * 0.1
        cat[f"flux_{band}"] = flux.astype(np.float32)
        cat[f"flux_ivar_{band}"] = np.full(n, 4.0, dtype=np.float32)
    for band in ("g", "r", "z", "w1", "w2"):
        cat[f"mw_transmission_{band}"] = np.full(n, transmission[band], dtype=np.float32)
    cat.update(
        {
            "maskbits": np.zeros(n, dtype=np.int32),
            "fitbits": np.zeros(n, dtype=np.int16),
            "shape_r": shape_r.astype(np.float32),
            "shape_e1": e1.astype(np.float32),
            "shape_e2": e2.astype(np.float32),
            "sersic": sersic.astype(np.float32),
            "fiberflux_z": (true_flux["z"] * np.where(types == "PSF", 0.78, 0.3)).astype(np.float32),
            "fibertotflux_z": (true_flux["z"] * np.where(types == "PSF", 0.8, 0.35)).astype(np.float32),
            "gaia_phot_g_mean_mag": np.where(types == "PSF", rmag + 0.15, 0.0).astype(np.float32),
            "ref_cat": np.where(types == "PSF", "GE", ""),
        }
    )
    for band in ("g", "r", "z"):
        cat[f"true_flux_{band}"] = true_flux[band]
    cat["true_is_lrg_shell"] = np.concatenate(
        [np.repeat(np.arange(1, 6), [len(s) for s in shells[1:]]), np.zeros(n - n_lrg, dtype=int)]
    )
    return cat


def lens_candidates(cat: dict[str, np.ndarray]) -> np.ndarray:
    """Indices of bright v3 LRGs that may host a planted lens (dereddened z < 20, TYPE not PSF)."""
    zmag = flux_to_mag(cat["flux_z"] / cat["mw_transmission_z"])
    rz = flux_to_mag(cat["flux_r"] / cat["mw_transmission_r"]) - zmag
    zw1 = zmag - flux_to_mag(cat["flux_w1"] / cat["mw_transmission_w1"])
    return np.flatnonzero(passes_variant(zmag, rz, zw1, 3) & (zmag < 20.0) & (cat["type"] != "PSF"))
