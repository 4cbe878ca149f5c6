"""Resources: where data are written (the data root) and where survey inputs are read (the survey root).

Defaults come from the environment at the edge, once: ``DHS_DATA_ROOT`` (default ``./data``; an
``s3://bucket/prefix`` data root is read and written in the bucket, through a local cache ``DHS_DATA_CACHE``,
default ``./data``) and ``DHS_SURVEY_ROOT`` (default ``<data root>/mock_sky``, the embedded mock DR10 sky; a portal URL is cached in
``DHS_SURVEY_CACHE``) and ``DHS_SURVEY_FOOTPRINT``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import Executor

from dagster import ConfigurableResource, InitResourceContext

from dhs_assets.catalog.partitions import discover_sweep_files
from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_assets.run_config import CoreFields, derived_config
from dhs_core import storage
from dhs_core.asset_names import SOURCE_BANK
from dhs_core.cluster import dask_executor
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.fetch import Fetcher, FetchPolicy
from dhs_core.stamps.partition import stamps_pool
from dhs_core.storage import ObjectStore
from dhs_core.survey.cutout_sources import (
    CUTOUT_SERVICE_URL,
    CUTOUTS_FROM_BRICKS,
    CUTOUTS_FROM_SERVICE,
    LocalCoadds,
    PortalCoadds,
    ServiceCutouts,
)
from dhs_core.survey.layout import DR10_SWEEP_VERSION, SurveyLayout, require_local
from dhs_core.survey.plan import SkyBox
from dhs_core.survey.portal import fetch_bricks_table, planned_sweep_files
from dhs_core.tables import DROP_FOLDERS, UNPARTITIONED, DuckDBSettings, connect, partition_dir

DUCKDB_FIELDS = CoreFields(DuckDBSettings)


def default_data_root() -> str:
    """The local data folder: ``DHS_DATA_ROOT``, or with an ``s3://`` data root, its cache ``DHS_DATA_CACHE`` (default
    ./data)."""
    root = os.environ.get("DHS_DATA_ROOT", "data")
    return os.path.abspath(os.environ.get("DHS_DATA_CACHE", "data") if root.startswith("s3://") else root)


def default_remote() -> str:
    root = os.environ.get("DHS_DATA_ROOT", "")
    return root if root.startswith("s3://") else ""


class DataRoot(ConfigurableResource):
    """The folder under which every asset's Parquet partitions live (``<path>/<asset>/<partition>/``).

    ``remote`` (``s3://bucket/prefix``, empty: none): the data root is that prefix and ``path`` only this machine's
    cache of it (``dhs_core.storage``): each partition a step writes is published to the bucket as it finishes (new
    files uploaded, then its marker), Parquet is read from the bucket directly, and a partition read as files is
    fetched alone into the cache. Only the small folders users drop files into (dataset specs, model scores) are
    brought down whole when a run starts. ``s3_endpoint_url`` for S3-compatible stores; credentials from the usual
    AWS chain."""

    path: str
    remote: str = ""
    s3_endpoint_url: str = ""

    def store(self) -> ObjectStore | None:
        return ObjectStore(self.remote, self.s3_endpoint_url) if self.remote else None

    def setup_for_execution(self, context: InitResourceContext) -> None:
        store = self.store()
        if store is not None:
            os.makedirs(self.path, exist_ok=True)
            storage.mount(self.path, store)
            fetched = [f for folder in DROP_FOLDERS for f in storage.fetch_prefix(store, self.path, folder)]
            if context.log:
                context.log.info(
                    f"data root {self.remote}, cached in {self.path}: {len(fetched)} spec or score file(s) fetched"
                )

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self.remote:
            storage.unmount(self.path)


BANK_FILE = "bank.h5"


class SourceBank(ConfigurableResource):
    """The HDF5 source bank the ``source_bank`` asset writes and Phase 4c and the diagnostics read. ``path``
    empty: ``<data root>/source_bank/all/bank.h5`` (the default; its metadata table sits beside it)."""

    path: str = ""

    def file(self, data_root: str) -> str:
        """The bank as a local file (fetched into the cache from a store the data root is mounted on)."""
        return self.path or os.path.join(partition_dir(data_root, SOURCE_BANK), BANK_FILE)

    def for_workers(self, data_root: DataRoot) -> str:
        """Where work units on any machine find the bank: ``path``, the store's object (``s3://``) when the data root
        is a bucket, else the local file."""
        store = data_root.store()
        if self.path or store is None:
            return self.file(data_root.path)
        urls = storage.partition_urls(store, SOURCE_BANK, UNPARTITIONED, suffix=BANK_FILE)
        if not urls:
            raise InputFileError(
                store.url(store.key(SOURCE_BANK)), "no published source bank: materialize source_bank"
            )
        return urls[0]


class DuckDB(derived_config(ConfigurableResource, "DuckDBFields", DUCKDB_FIELDS)):
    """Settings of the DuckDB connections of a run's heavy steps (the sweep scan, the parent sample, the manifests,
    the stamps writers in their worker processes, the report): ``threads`` (0: DuckDB's default, every core) and
    ``memory_limit`` (e.g. ``4GB``; empty: DuckDB's default, 80 % of RAM). Defaults: ``DuckDBSettings``."""

    def settings(self) -> DuckDBSettings:
        return DUCKDB_FIELDS.build(self)

    def connect(self):
        """A connection with these settings (``dhs_core.tables.connect``)."""
        return connect(self.settings())


class SurveyRoot(ConfigurableResource):
    """A survey root in the DR10 South layout (real data or the mock sky), read from the local folder ``path``.

    ``url`` (empty: none): the portal's region root (e.g. ``https://portal.nersc.gov/cfs/cosmo/data/legacysurvey/dr10/
    south``) that ``path`` caches. Each step fetches what it reads before reading it — ``survey_bricks`` the bricks
    table, each ``sweep_lrgs`` partition its sweep file, each ``galaxy_cutouts`` work unit its bricks' coadds, one
    brick at a time (``connections`` files in parallel) — and files the portal does not have are recorded as coverage gaps. The sweep
    partitions of a portal root are the tiles its cached bricks table overlaps.
    ``footprint`` (``"ra_min,ra_max,dec_min,dec_max"`` deg; empty: everything): only bricks whose centre lies in it,
    the sweep tiles they overlap and their galaxies are used.
    ``cutouts`` (where ``galaxy_cutouts`` takes its pixels, ``dhs_core.survey.cutout_sources``): ``bricks`` (default)
    reads the coadds under ``path``, fetching each brick from ``url`` first when there is one (and deleting it once cut
    unless ``keep_coadds``); ``service`` asks the Legacy Surveys cutout service at ``cutout_service_url`` per galaxy."""

    path: str
    sweep_version: str = DR10_SWEEP_VERSION
    url: str = ""
    footprint: str = ""
    connections: int = 8
    cutouts: str = CUTOUTS_FROM_BRICKS
    keep_coadds: bool = True
    cutout_service_url: str = CUTOUT_SERVICE_URL

    @property
    def layout(self) -> SurveyLayout:
        return SurveyLayout(self.path, self.sweep_version)

    @property
    def sky_box(self) -> SkyBox | None:
        return SkyBox.parse(self.footprint) if self.footprint else None

    def sweep_files(self) -> dict[str, str]:
        """The sweep files of this survey root, by partition key: every file in a local root; the planned tiles of a
        portal root (fetched or not yet); with a footprint, only the tiles its bricks overlap."""
        if not self.url and not self.footprint:
            return discover_sweep_files(self.layout)
        planned = planned_sweep_files(self.path, self.sweep_version, self.sky_box)
        if self.url:
            return planned
        return {key: path for key, path in discover_sweep_files(self.layout).items() if key in planned}

    def fetch_bricks_table(self, log) -> dict:
        """Fetch the bricks table from ``url`` into ``path`` (nothing without a ``url``); the counts by status."""
        if not self.url:
            return {}
        return _counts(
            fetch_bricks_table(self.url, self.path, self._policy(), self._progress("bricks table", log)),
            "bricks_table",
        )

    def fetch_sweep(self, key: str, log) -> None:
        """Fetch one sweep file from ``url`` (nothing without a ``url``); an error naming it when the portal does not have
        it (recorded, so the tile leaves the sweep partitions at the next discovery) or it could not be fetched."""
        if not self.url:
            return
        relative = f"sweep/{self.sweep_version}/{key}.fits"
        (row,) = (
            Fetcher(self.url, self.path, self._policy(), self._progress("sweep", log))
            .fetch([relative])
            .to_pylist()
        )
        if row["status"] == "missing":
            raise InputFileError(
                f"{self.url}/{relative}",
                f"not in the survey (HTTP {row['http_status']}): recorded in "
                "coverage_gaps; the tile leaves the sweep partitions at the next discovery",
            )
        if row["status"] == "failed":
            raise InputFileError(
                f"{self.url}/{relative}", f"could not be fetched ({row['error']}); run again to resume it"
            )

    def cutout_source(self):
        """The source of the cutout cache's pixels (``cutouts``, ``url``, ``keep_coadds``)."""
        if self.cutouts == CUTOUTS_FROM_SERVICE:
            return ServiceCutouts(self.cutout_service_url, self._policy())
        if self.cutouts != CUTOUTS_FROM_BRICKS:
            raise ConfigError(
                "survey_root.cutouts", self.cutouts, f"{CUTOUTS_FROM_BRICKS} or {CUTOUTS_FROM_SERVICE}"
            )
        if self.url:
            return PortalCoadds(self.layout, self.url, self._policy(), self.keep_coadds)
        return LocalCoadds(self.layout)

    def _policy(self) -> FetchPolicy:
        return FetchPolicy(connections=self.connections)

    def _progress(self, what: str, log):
        start = time.monotonic()

        def progress(done: int, total: int, size: int) -> None:
            if done == total or done % max(1, total // 20) == 0:
                elapsed = max(time.monotonic() - start, 1e-9)
                log(
                    f"{what} from {self.url}: {done:,} / {total:,} files, {size / 1e6:,.1f} MB, {size / 1e6 / elapsed:.1f} MB/s, "
                    f"ETA {elapsed / done * (total - done):.0f} s"
                )

        return progress


def _counts(rows, prefix: str) -> dict:
    statuses = rows["status"].to_pylist()
    return {f"{prefix}_{status}": statuses.count(status) for status in ("ok", "missing")}


def default_survey_root() -> SurveyRoot:
    """``DHS_SURVEY_ROOT``: a local folder, or a portal URL cached in ``DHS_SURVEY_CACHE`` (default
    ``<data root>/survey_cache``); default ``<data root>/mock_sky``. ``DHS_SURVEY_FOOTPRINT``: the footprint;
    ``DHS_CUTOUTS`` (``bricks`` or ``service``), ``DHS_KEEP_COADDS`` (``0``: delete fetched bricks once cut) and
    ``DHS_CUTOUT_SERVICE_URL``: where the cutout cache takes its pixels."""
    root = os.environ.get("DHS_SURVEY_ROOT", os.path.join(default_data_root(), "mock_sky"))
    cutouts = {
        "footprint": os.environ.get("DHS_SURVEY_FOOTPRINT", ""),
        "cutouts": os.environ.get("DHS_CUTOUTS", CUTOUTS_FROM_BRICKS),
        "keep_coadds": os.environ.get("DHS_KEEP_COADDS", "1") != "0",
        "cutout_service_url": os.environ.get("DHS_CUTOUT_SERVICE_URL", CUTOUT_SERVICE_URL),
    }
    if root.startswith(("http://", "https://")):
        cache = os.environ.get("DHS_SURVEY_CACHE", os.path.join(default_data_root(), "survey_cache"))
        return SurveyRoot(path=os.path.abspath(cache), url=root.rstrip("/"), **cutouts)
    return SurveyRoot(path=os.path.abspath(require_local(root)), **cutouts)


MOCK_LENS_CATALOG = os.path.join(
    "catalogs", "mock_lenscat.csv"
)  # what a mock sky writes of its planted lenses


class LensCatalogs(ConfigurableResource):
    """The known-lens catalogues of the survey (lenscat format, ``dhs_core.evaluate.known_lenses``): ``paths``, files
    separated by commas (e.g. the reference ``lenscat_catalog.csv`` and ``desi_lens_candidates.csv``); empty: none,
    and nothing is excluded from the parent sample (``known_lenses`` says so in its metadata and log)."""

    paths: str = ""

    def files(self) -> list[str]:
        return [p.strip() for p in self.paths.split(",") if p.strip()]


def default_lens_catalogs(survey_root: str) -> LensCatalogs:
    """``DHS_LENS_CATALOGS`` (comma-separated files); else a mock sky's own catalogue of planted lenses under
    ``survey_root``, where there is one; else none."""
    if "DHS_LENS_CATALOGS" in os.environ:
        return LensCatalogs(paths=os.environ["DHS_LENS_CATALOGS"])
    mock = os.path.join(survey_root, MOCK_LENS_CATALOG)
    return LensCatalogs(paths=mock if os.path.exists(mock) else "")


class WorkUnits(ConfigurableResource):
    """Where the work units of the stamps and the cutout cache run: the local worker processes (``dask_scheduler``
    empty, the default) or the Dask distributed cluster whose scheduler is at ``dask_scheduler``
    (``tcp://host:8786``; ``DHS_DASK_SCHEDULER`` for the CLI and ``make demo``), its workers sharing a local data
    root's staging folder, or reading and writing an ``s3://`` data root's bucket (``dhs_core.cluster``)."""

    dask_scheduler: str = ""

    @contextlib.contextmanager
    def pool(self, processes: int) -> Iterator[Executor]:
        """The executor the units of a run go to: ``processes`` local worker processes, or the cluster."""
        if not self.dask_scheduler:
            with stamps_pool(processes) as pool:
                yield pool
        else:
            with dask_executor(self.dask_scheduler) as pool:
                yield pool

    def describe(self, processes: int) -> str:
        return (
            f"Dask cluster {self.dask_scheduler}"
            if self.dask_scheduler
            else f"{processes} worker process(es)"
        )


def default_work_units() -> WorkUnits:
    """Local processes, or the cluster named by ``DHS_DASK_SCHEDULER``."""
    return WorkUnits(dask_scheduler=os.environ.get("DHS_DASK_SCHEDULER", ""))


def build_resources(data_root: DataRoot | str, survey_root: SurveyRoot | str, **replaced) -> dict:
    """Every resource a run of dhs needs, keyed as the assets name them: the data root and survey root (a resource,
    or a local folder), default diagnostics settings, source bank and DuckDB settings; ``replaced``: resources to
    use instead of a default (e.g. ``duckdb=DuckDB(memory_limit="4GB")``). The CLI, the definitions and the tests all
    build their resources here."""
    unknown = set(replaced) - {"diagnostics", "bank", "duckdb", "lens_catalogs", "work_units"}
    if unknown:
        raise ValueError(
            f"unknown resources {sorted(unknown)}: diagnostics, bank, duckdb, lens_catalogs or work_units"
        )
    survey_root = survey_root if isinstance(survey_root, SurveyRoot) else SurveyRoot(path=str(survey_root))
    return {
        "data_root": data_root if isinstance(data_root, DataRoot) else DataRoot(path=str(data_root)),
        "survey_root": survey_root,
        "diagnostics": DiagnosticsSettings(),
        "bank": SourceBank(),
        "duckdb": DuckDB(),
        "lens_catalogs": default_lens_catalogs(survey_root.path),
        "work_units": default_work_units(),
        **replaced,
    }


def default_data_root_resource() -> DataRoot:
    """The data root the environment describes: ``DHS_DATA_ROOT`` (a folder, or ``s3://`` through the cache
    ``DHS_DATA_CACHE``) and ``DHS_S3_ENDPOINT_URL``."""
    return DataRoot(
        path=default_data_root(),
        remote=default_remote(),
        s3_endpoint_url=os.environ.get("DHS_S3_ENDPOINT_URL", ""),
    )


def default_resources() -> dict:
    """The resources the environment describes (``DHS_DATA_ROOT``, ``DHS_SURVEY_ROOT`` and the rest)."""
    return build_resources(default_data_root_resource(), default_survey_root())
