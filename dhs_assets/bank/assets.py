"""The source bank asset: an HDF5 file of templates plus a Parquet table of their metadata."""

import base64
import json
import os
import time

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from dhs_assets.bank.config import SourceBankRunConfig
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, SourceBank
from dhs_core.asset_names import SOURCE_BANK
from dhs_core.bank import build_bank_from_galsim_catalog, build_generated_bank, open_bank
from dhs_core.bank.download import resolve_catalog_files
from dhs_core.bank.plots import distributions_png
from dhs_core.tables import write_table

CATALOG_CACHE = "source_catalogs"  # <data root>/source_catalogs/: catalogue archives fetched and unpacked


@asset(
    group_name="injection",
    kinds={"hdf5", "parquet"},
    owners=["team:dhs"],
    description=(
        'The source bank: unit-flux galaxy templates (HDF5, 0.03"/px) from GalSim real-galaxy catalogues (real HST '
        "galaxies separated from their sky noise) or generated (Sérsic + clumps, labelled synthetic), with a Parquet "
        "table of their measurements, queryable with DuckDB. Each template belongs to one split."
    ),
)
def source_bank(
    context: AssetExecutionContext, config: SourceBankRunConfig, data_root: DataRoot, bank: SourceBank
) -> MaterializeResult:
    path, settings = bank.file(data_root.path), config.core()
    start = time.perf_counter()
    if settings.catalog_files:
        cache = settings.catalog_cache or os.path.join(data_root.path, CATALOG_CACHE)
        files = resolve_catalog_files(list(settings.catalog_files), settings.catalog_url, cache)
        context.log.info(f"real-galaxy catalogue(s): {', '.join(files)}")
        build_bank_from_galsim_catalog(
            files, path, min_snr=settings.min_snr, seed=settings.seed, **settings.drawing()
        )
    else:
        build_generated_bank(path, settings.n_generated, settings.seed, **settings.drawing())
    seconds = time.perf_counter() - start
    with open_bank(path) as bank:
        meta, attrs, n = bank.meta, dict(bank.attrs), len(bank)
    table_path = write_table(meta, data_root.path, SOURCE_BANK)
    hlr = meta["hlr_arcsec"].to_numpy()
    png = base64.b64encode(distributions_png(meta, f"{attrs['builder']}: {n} templates")).decode()
    context.log.info(f"{n} templates ({attrs['bands']}) in {seconds:.1f} s -> {path}")
    return MaterializeResult(
        metadata={
            **table_metadata(meta, table_path),
            "bank_file": MetadataValue.path(path),
            "templates": n,
            "bands": attrs["bands"],
            "synthetic": bool(attrs["synthetic"]),
            "builder": attrs["builder"],
            "build_seconds_per_1000": 1000 * seconds / n,
            "file_mb": os.path.getsize(path) / 1e6,
            "hlr_arcsec_p5_p50_p95": MetadataValue.json(np.percentile(hlr, [5, 50, 95]).tolist()),
            "parameters": MetadataValue.json(json.loads(attrs["parameters"])),
            "distributions": MetadataValue.md(f"![HLR and S/N](data:image/png;base64,{png})"),
        }
    )
