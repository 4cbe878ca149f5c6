"""Bank builder from GalSim real-galaxy catalogues (``galsim.RealGalaxyCatalog`` layout).

Each galaxy is drawn deconvolved from its HST PSF and reconvolved with a Gaussian of ``psf_fwhm``
(arcsec) at the bank's ``pixel_scale`` on a ``stamp_size`` grid (GalSim integrates over pixels), then
separated from its sky noise (``dhs_core.bank.clean``), whose level is measured on the catalogue's own
stamp (the bank's pixel scale should be the catalogue's, 0.03" for COSMOS and AEGIS). Several catalogue files (one per band, same
galaxies in the same order, e.g. AEGIS F606W and F814W) give a multi-band bank whose planes share the
footprint of the reddest band, so colours are real colour gradients. A galaxy is kept when its measured
half-light radius lies in ``hlr_range`` (arcsec), its flux S/N reaches ``min_snr``, its centroid lies
within ``max_offset_px`` of the centre, and its catalogue ``WEIGHT`` (where present) is positive.
"""

from __future__ import annotations

import os
import pathlib

import galsim
import numpy as np
import pyarrow as pa
from astropy.io import fits

from dhs_core.bank import clean as cleaning
from dhs_core.bank.measure import measure
from dhs_core.bank.settings import BankConfig
from dhs_core.bank.store import write_bank
from dhs_core.catalog.splits import SPLITS
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.manifest.draws import template_splits

DEFAULTS = dict(
    **BankConfig().drawing(),
    min_snr=BankConfig.min_snr,
    max_offset_px=3.0,
    detection_sigma=2.0,
    seed=BankConfig.seed,
)


def _check_files(catalog_file: str) -> tuple[str, fits.FITS_rec]:
    """The catalogue's folder and rows; every image, PSF and noise file it names must exist."""
    if not os.path.exists(catalog_file):
        raise InputFileError(catalog_file, "real-galaxy catalogue not found")
    folder = os.path.dirname(os.path.abspath(catalog_file))
    try:
        rows = fits.getdata(catalog_file, 1)
    except (OSError, IndexError) as exc:
        raise InputFileError(catalog_file, f"not a FITS real-galaxy catalogue ({exc})") from exc
    names = [c for c in ("GAL_FILENAME", "PSF_FILENAME", "NOISE_FILENAME") if c in rows.columns.names]
    if "GAL_FILENAME" not in names:
        raise InputFileError(catalog_file, "no GAL_FILENAME column: not a RealGalaxyCatalog")
    missing = sorted({os.path.join(folder, str(v).strip()) for c in names for v in rows[c]} - {None})
    missing = [m for m in missing if not os.path.exists(m)]
    if missing:
        raise InputFileError(", ".join(missing), f"named by {catalog_file} but missing")
    return folder, rows


def build_bank_from_galsim_catalog(catalog_file, out_path, **options) -> pathlib.Path:
    """Build a bank from one catalogue file, or a list of them (one per band, bluest first)."""
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ConfigError("bank options", sorted(unknown), f"among {sorted(DEFAULTS)}")
    o = {**DEFAULTS, **options}
    files = (
        [str(catalog_file)]
        if isinstance(catalog_file, (str, os.PathLike))
        else [str(f) for f in catalog_file]
    )
    tables = [_check_files(f) for f in files]
    idents = [
        rows["IDENT"].tolist() if "IDENT" in rows.columns.names else list(range(len(rows)))
        for _, rows in tables
    ]
    if any(i != idents[0] for i in idents[1:]):
        raise ConfigError(
            "catalogue files", files, "the same galaxies in the same order (IDENT) in every band"
        )
    catalogs = [
        galsim.RealGalaxyCatalog(os.path.basename(f), dir=folder) for f, (folder, _) in zip(files, tables)
    ]
    bands = [
        str(rows["BAND"][0]).strip() if "BAND" in rows.columns.names else f"band{i}"
        for i, (_, rows) in enumerate(tables)
    ]
    psf = galsim.Gaussian(fwhm=o["psf_fwhm"])
    images, metas, rejected = [], [], {}
    for index in range(len(idents[0])):
        planes = [
            galsim.Convolve(galsim.RealGalaxy(c, index=index), psf)
            .drawImage(nx=o["stamp_size"], ny=o["stamp_size"], scale=o["pixel_scale"])
            .array.astype(np.float64)
            for c in catalogs
        ]
        reason = _reject_reason(tables, index)
        originals = [c.getGalImage(index).array for c in catalogs]
        mask = cleaning.footprint(planes[-1], originals[-1], o["detection_sigma"]) if reason is None else None
        if reason is None and mask is None:
            reason = "no detection near the centre"
        if reason is None:
            cleaned = [
                cleaning.clean(p, mask, cleaning.ring_noise(orig)) for p, orig in zip(planes, originals)
            ]
            info = cleaned[-1][1]
            m = measure(cleaned[-1][0], o["pixel_scale"], info["noise_sigma"])
            lo, hi = o["hlr_range"]
            reason = (
                "hlr outside range"
                if not lo <= m["hlr_arcsec"] <= hi
                else "low S/N"
                if info["flux_snr"] < o["min_snr"]
                else "off centre"
                if not m["offset_px"] <= o["max_offset_px"]
                else None
            )
        if reason:
            rejected[reason] = rejected.get(reason, 0) + 1
            continue
        images.append(np.stack([c[0] for c in cleaned]) if len(planes) > 1 else cleaned[0][0])
        metas.append(
            {
                "source_id": str(idents[0][index]),
                "catalog_index": index,
                **m,
                **info,
                "provenance": ";".join(f"{os.path.basename(f)}#{index}" for f in files),
            }
        )
    if not images:
        raise ConfigError("bank selection", rejected, "at least one galaxy passing the cuts")
    meta = pa.Table.from_pylist(metas)
    meta = meta.append_column("split", pa.array([SPLITS[s] for s in template_splits(len(images), o["seed"])]))
    meta = meta.add_column(0, "template_index", pa.array(range(len(images)), pa.int32()))
    parameters = {
        **o,
        "catalogs": [os.path.basename(f) for f in files],
        "rejected": rejected,
        "considered": len(idents[0]),
    }
    return write_bank(
        out_path,
        np.stack(images),
        meta,
        o["pixel_scale"],
        bands,
        "galsim_real_galaxy_catalog",
        parameters,
        synthetic=False,
    )


def _reject_reason(tables, index) -> str | None:
    for _, rows in tables:
        if "WEIGHT" in rows.columns.names and not rows["WEIGHT"][index] > 0:
            return "catalogue weight <= 0"
    return None
