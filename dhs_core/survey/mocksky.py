"""The embedded mock DR10 sky: a small survey written in the exact DR10 formats.

``build_mock_sky(root, seed)`` writes, under ``root``:

* ``survey-bricks-dr10-south.fits.gz``: the bricks table (geometry plus per-brick PSF FWHM, 5-sigma
  depth in AB mag and E(B-V), lower-case columns as DR10's per-release summary);
* ``sweep/10.1/sweep-*.fits``: sweep catalogues (5 x 5 deg tiles) with the DR10 columns and dtypes;
* ``coadd/<AAA>/<brick>/legacysurvey-<brick>-{image,invvar}-<band>.fits.fz`` and ``-maskbits.fits.fz``;
* ``catalogs/mock_lenscat.csv``: the planted lenses in the lenscat format, and
  ``catalogs/mock_lenses_truth.csv`` with their parameters;
* ``mock_sky.json``: the parameters it was built with.

The same seed gives bit-identical files. The build writes into a temporary sibling folder and renames
it into place, so an interrupted build never leaves a half-written sky at ``root``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from astropy.io import fits

from dhs_core import __version__, conventions
from dhs_core.conventions import PIXEL_SCALE_ARCSEC, flux_to_mag, mag_to_flux
from dhs_core.errors import InputFileError
from dhs_core.survey import mock_catalog, mock_layout, mock_render
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.mock_catalog import brick_catalogue, lens_candidates
from dhs_core.survey.mock_layout import MockBrick, mock_bricks
from dhs_core.survey.mock_render import coadd_header, render_brick, write_compressed
from dhs_core.survey.sweeps import PIPELINE_SWEEP_COLUMNS, SWEEP_FORMATS, sweep_tile_for

MOCK_SKY_FORMAT = 1
DEFAULT_N_BRICKS = 28
DEFAULT_DENSITY_SCALE = 4.0
DEFAULT_N_LENSES = 6
BRICKS_PER_LENS = 4  # a smaller sky plants fewer: the planted lenses' galaxies leave the parent sample
BRICKS_FILE = "survey-bricks-dr10-south.fits.gz"
LENSCAT_COLUMNS = ("name", "RA [deg]", "DEC [deg]", "zlens", "type", "grading", "ref")


def build_mock_sky(
    root: str,
    seed: int = 1,
    n_bricks: int = DEFAULT_N_BRICKS,
    density_scale: float = DEFAULT_DENSITY_SCALE,
    n_lenses: int | None = None,
    brick_size_deg: float = 0.1,
    workers: int | None = None,
    overwrite: bool = False,
) -> dict:
    """Write a mock DR10 survey under ``root`` and return its description (also in ``mock_sky.json``).

    ``n_bricks`` bricks of ``brick_size_deg`` (deg) in seven clusters; LRG densities are the real DR10
    medians times ``density_scale``; ``n_lenses`` lenses are planted around bright LRGs (default: one per
    ``BRICKS_PER_LENS`` bricks, at most ``DEFAULT_N_LENSES``: 6 on the default 28 bricks). If ``root``
    already holds a sky built with the same parameters it is kept as it is (unless ``overwrite``); a
    non-empty ``root`` that is not a mock sky is never replaced (an error names it).
    """
    if n_lenses is None:
        n_lenses = min(DEFAULT_N_LENSES, max(1, n_bricks // BRICKS_PER_LENS))
    params = {
        "format": MOCK_SKY_FORMAT,
        "generator": _generator_digest(),
        "seed": int(seed),
        "n_bricks": int(n_bricks),
        "density_scale": float(density_scale),
        "n_lenses": int(n_lenses),
        "brick_size_deg": float(brick_size_deg),
        "pixel_scale_arcsec": PIXEL_SCALE_ARCSEC,
    }
    manifest_path = os.path.join(root, "mock_sky.json")
    if os.path.isdir(root) and os.listdir(root) and not os.path.exists(manifest_path):
        raise InputFileError(root, "exists and is not a mock sky (no mock_sky.json): refusing to replace it")
    if not overwrite and os.path.exists(manifest_path):
        with open(manifest_path) as fh:
            existing = json.load(fh)
        if existing.get("params") == params:
            return existing
        foreign = _foreign_files(root)
        if foreign:  # a rebuild replaces the folder whole: never with someone's own files in it
            raise InputFileError(
                root,
                f"holds a mock sky of other parameters and files it did not write ({', '.join(foreign[:3])}); "
                "move them out or choose another folder",
            )
    bricks = mock_bricks(n_bricks, seed, brick_size_deg)
    size_px = int(math.ceil(brick_size_deg * 3600 / PIXEL_SCALE_ARCSEC)) + 26  # a margin, as DR10's overlap
    lens_bricks = _lens_bricks(len(bricks), n_lenses)
    parent = os.path.dirname(os.path.abspath(root)) or "."
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".mocksky-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes 0700; the sky is a folder like any other the user makes
    try:
        layout = SurveyLayout(staging)
        jobs = [(b, seed, density_scale, size_px, k in lens_bricks, staging) for k, b in enumerate(bricks)]
        workers = workers or min(os.cpu_count() or 1, len(jobs))
        if workers > 1:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_build_brick, jobs))
        else:
            results = [_build_brick(job) for job in jobs]
        catalogues = [r[0] for r in results]
        planted = [lens for r in results for lens in r[1]]
        sweep_files = _write_sweeps(layout, catalogues)
        _write_bricks_table(os.path.join(staging, BRICKS_FILE), bricks, size_px)
        _write_lenses(staging, planted, seed)
        description = {
            "params": params,
            "builder": f"dhs {__version__}",
            "coadd_size_px": size_px,
            "bricks": [b.brickname for b in bricks],
            "sweep_files": sweep_files,
            "n_objects": int(sum(len(c["ra"]) for c in catalogues)),
            "n_lenses_planted": len(planted),
            "missing_band_bricks": [b.brickname for b in bricks if b.missing_band],
            "nan_patch_bricks": [b.brickname for b in bricks if b.nan_patch],
        }
        with open(os.path.join(staging, "mock_sky.json"), "w") as fh:
            json.dump(description, fh, indent=2, sort_keys=True)
        _replace_dir(staging, root)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return description


def _generator_digest() -> str:
    """SHA-256 (first 16 hex digits) of the code that writes the sky: a sky made by other code is rebuilt."""
    digest = hashlib.sha256()
    for module in (conventions, mock_layout, mock_catalog, mock_render, sys.modules[__name__]):
        with open(module.__file__, "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:16]


def _lens_bricks(n_bricks: int, n_lenses: int) -> set[int]:
    if n_lenses <= 0:
        return set()
    step = max(1, n_bricks // n_lenses)
    return set(range(0, n_bricks, step)[:n_lenses])


MOCK_SKY_ENTRIES = ("mock_sky.json", BRICKS_FILE, "sweep", "coadd", "catalogs")


def _foreign_files(root: str) -> list[str]:
    """Paths under ``root`` (relative) that a mock sky does not write."""
    foreign = []
    for folder, _, names in os.walk(root):
        for name in names:
            relative = os.path.relpath(os.path.join(folder, name), root)
            top = relative.split(os.sep)[0]
            if top not in MOCK_SKY_ENTRIES or (top == relative and top in ("sweep", "coadd", "catalogs")):
                foreign.append(relative)
    return sorted(foreign)


def _replace_dir(staging: str, root: str) -> None:
    """Move ``staging`` to ``root``; an old ``root`` is moved aside first and removed after."""
    old = None
    if os.path.exists(root):
        old = root.rstrip("/") + f".old-{os.getpid()}"
        os.rename(root, old)
    os.rename(staging, root)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def _build_brick(job) -> tuple[dict, list[dict]]:
    brick, seed, density_scale, size_px, plant, root = job
    cat = brick_catalogue(brick, seed, density_scale)
    planted = _plant_lens(brick, cat, seed) if plant else []
    images, invvars, maskbits, wcs, object_maskbits = render_brick(brick, cat, planted, size_px, seed)
    cat["maskbits"] = object_maskbits.astype(np.int32)
    layout = SurveyLayout(root)
    os.makedirs(layout.coadd_dir(brick.brickname), exist_ok=True)
    dither = 1 + brick.brickid % 10000
    for band in "grz":
        if images[band] is None:
            continue
        write_compressed(
            layout.coadd_path(brick.brickname, "image", band),
            images[band],
            coadd_header(brick, wcs, "image", band),
            dither,
        )
        # invvar is piecewise constant: an absolute step of 0.1 % of its median keeps it exact enough
        step = -1e-3 * float(np.median(invvars[band][invvars[band] > 0]))
        write_compressed(
            layout.coadd_path(brick.brickname, "invvar", band),
            invvars[band],
            coadd_header(brick, wcs, "invvar", band),
            dither,
            quantize_level=step,
        )
    write_compressed(
        layout.coadd_path(brick.brickname, "maskbits"),
        maskbits,
        coadd_header(brick, wcs, "maskbits", None),
        dither,
    )
    for lens in planted:
        i = lens.pop("index")
        lens.update(
            brickname=brick.brickname,
            objid=int(cat["objid"][i]),
            ra=float(cat["ra"][i]),
            dec=float(cat["dec"][i]),
        )
    return cat, planted


def _plant_lens(brick: MockBrick, cat: dict, seed: int) -> list[dict]:
    """One lens around a bright v3 LRG of this brick: SIS, exponential source with observed-frame colours."""
    rng = np.random.default_rng([seed, brick.brickid, 0x6C656E73])  # "lens"
    candidates = lens_candidates(cat)
    if len(candidates) == 0:
        return []
    index = int(rng.choice(candidates))
    theta_e = float(rng.uniform(1.0, 2.0))
    beta, angle = float(rng.uniform(0.1, 0.4) * theta_e), float(rng.uniform(0, 2 * np.pi))
    r_mag = float(rng.uniform(21.5, 22.5))
    g_mag = r_mag + float(rng.normal(1.15, 0.30))
    z_mag = r_mag - float(rng.normal(0.85, 0.20))
    return [
        {
            "index": index,
            "theta_e": theta_e,
            "beta_x": beta * math.cos(angle),
            "beta_y": beta * math.sin(angle),
            "src_hlr": float(rng.uniform(0.15, 0.35)),
            "src_flux_g": float(mag_to_flux(g_mag)),
            "src_flux_r": float(mag_to_flux(r_mag)),
            "src_flux_z": float(mag_to_flux(z_mag)),
        }
    ]


def _write_sweeps(layout: SurveyLayout, catalogues: list[dict]) -> list[str]:
    """Group objects into 5-deg sweep tiles and write one FITS file per tile (rows by brick, objid)."""
    columns = [c.lower() for c in PIPELINE_SWEEP_COLUMNS]
    merged = {c: np.concatenate([cat[c] for cat in catalogues]) for c in columns}
    tiles = np.array([sweep_tile_for(r, d).name for r, d in zip(merged["ra"], merged["dec"])])
    os.makedirs(layout.sweep_dir, exist_ok=True)
    names = sorted(set(tiles.tolist()))
    for name in names:
        rows = np.flatnonzero(tiles == name)
        rows = rows[np.lexsort((merged["objid"][rows], merged["brickname"][rows]))]
        cols = []
        for upper in PIPELINE_SWEEP_COLUMNS:
            values = merged[upper.lower()][rows]
            fmt = SWEEP_FORMATS.get(upper, "E")
            if fmt.endswith("A"):
                values = np.asarray(values, dtype=f"S{fmt[:-1]}")
            cols.append(fits.Column(name=upper, format=fmt, array=values))
        hdu = fits.BinTableHDU.from_columns(cols)
        hdu.header["EXTNAME"] = "SWEEP"
        hdu.header["MOCKSKY"] = (True, "dhs mock DR10 sky, not real data")
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(layout.sweep_path(name), overwrite=True)
    return names


def _write_bricks_table(path: str, bricks: list[MockBrick], size_px: int) -> None:
    cols = [
        fits.Column(name="brickname", format="8A", array=np.array([b.brickname for b in bricks], dtype="S8")),
        fits.Column(name="brickid", format="J", array=np.array([b.brickid for b in bricks])),
    ]
    for name in ("ra", "dec", "ra1", "ra2", "dec1", "dec2"):
        cols.append(fits.Column(name=name, format="D", array=np.array([getattr(b, name) for b in bricks])))
    for k, band in enumerate("grz"):
        covered = np.array([b.missing_band != band for b in bricks])
        cols.append(fits.Column(name=f"nexp_{band}", format="I", array=np.where(covered, 4, 0)))
        cols.append(
            fits.Column(name=f"psfsize_{band}", format="E", array=np.array([b.psfsize[k] for b in bricks]))
        )
        cols.append(
            fits.Column(
                name=f"psfdepth_{band}", format="E", array=np.array([b.psfdepth_mag5[k] for b in bricks])
            )
        )
        galdepth = np.array([b.psfdepth_mag5[k] - 0.55 if b.psfdepth_mag5[k] > 0 else 0.0 for b in bricks])
        cols.append(fits.Column(name=f"galdepth_{band}", format="E", array=galdepth))
    cols.append(fits.Column(name="ebv", format="E", array=np.array([b.ebv for b in bricks])))
    hdu = fits.BinTableHDU.from_columns(cols)
    hdu.header["MOCKSKY"] = (True, "dhs mock DR10 sky, not real data")
    hdu.header["COADDPX"] = (size_px, "coadd image side, pixels")
    buffer = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(buffer)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(buffer.getvalue())


def _write_lenses(root: str, planted: list[dict], seed: int) -> None:
    folder = os.path.join(root, "catalogs")
    os.makedirs(folder, exist_ok=True)
    planted = sorted(planted, key=lambda p: (p["brickname"], p["objid"]))
    with open(os.path.join(folder, "mock_lenscat.csv"), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(LENSCAT_COLUMNS)
        for p in planted:
            sign = "+" if p["dec"] >= 0 else "-"
            name = f"MOCK-J{p['ra']:08.4f}{sign}{abs(p['dec']):07.4f}"
            writer.writerow(
                [
                    name,
                    f"{p['ra']:.6f}",
                    f"{p['dec']:.6f}",
                    "-",
                    "galaxy",
                    "confident",
                    f"dhs mock sky seed {seed}",
                ]
            )
    truth_columns = [
        "brickname",
        "objid",
        "ra",
        "dec",
        "theta_e",
        "beta_x",
        "beta_y",
        "src_hlr",
        "src_flux_g",
        "src_flux_r",
        "src_flux_z",
    ]
    with open(os.path.join(folder, "mock_lenses_truth.csv"), "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(truth_columns + ["src_mag_r"])
        for p in planted:
            writer.writerow(
                [p[c] if isinstance(p[c], str) else repr(p[c]) for c in truth_columns]
                + [repr(float(flux_to_mag(p["src_flux_r"])))]
            )
