"""Resources: where data are written (the data root) and where survey inputs are read (the survey root).

Defaults come from the environment at the edge, once: ``DHS_DATA_ROOT`` (default ``./data``; an
``s3://bucket/prefix`` makes the data root a local working copy, ``DHS_DATA_CACHE`` default ``./data``,
mirrored to the bucket) and ``DHS_SURVEY_ROOT`` (default ``<data root>/mock_sky``, the embedded mock DR10 sky).
"""

from __future__ import annotations

import os
import time

from dagster import ConfigurableResource, InitResourceContext
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_core import remote
from dhs_core.errors import InputFileError
from dhs_core.fetch import FetchPolicy
from dhs_core.survey.portal import fetch_coadds
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import configure_duckdb, partition_dir


def default_data_root() -> str:
    """The local data folder: ``DHS_DATA_ROOT``, or with an ``s3://`` data root, ``DHS_DATA_CACHE`` (default ./data)."""
    root = os.environ.get("DHS_DATA_ROOT", "data")
    return os.path.abspath(os.environ.get("DHS_DATA_CACHE", "data") if root.startswith("s3://") else root)


def default_remote() -> str:
    root = os.environ.get("DHS_DATA_ROOT", "")
    return root if root.startswith("s3://") else ""


def default_survey_root() -> str:
    return os.path.abspath(os.environ.get("DHS_SURVEY_ROOT", os.path.join(default_data_root(), "mock_sky")))


class DataRoot(ConfigurableResource):
    """The folder under which every asset's Parquet partitions live (``<path>/<asset>/<partition>/``).

    ``remote`` (``s3://bucket/prefix``, empty: none): the folder is a working copy of it. Before a run's
    first step the objects missing or changed locally are downloaded; after the run, files written or
    replaced are uploaded and the objects of files it removed are deleted (through dagster-aws's
    ``S3Resource``; ``s3_endpoint_url`` for S3-compatible stores). Runs on different machines share data
    through the bucket; two runs writing the same partition at once are not arbitrated."""

    path: str
    remote: str = ""
    s3_endpoint_url: str = ""
    _before: dict = PrivateAttr(default_factory=dict)

    def _client(self):
        return S3Resource(endpoint_url=self.s3_endpoint_url or None).get_client()

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.remote:
            os.makedirs(self.path, exist_ok=True)
            fetched = remote.pull(self._client(), self.remote, self.path)
            self._before = remote.snapshot(self.path)
            if context.log:
                context.log.info(f"data root {self.remote}: {len(fetched)} file(s) pulled into {self.path}")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self.remote:
            uploaded, deleted = remote.push(self._client(), self.path, self.remote, self._before)
            if context.log:
                context.log.info(f"data root {self.remote}: {len(uploaded)} file(s) pushed, {len(deleted)} deleted")


BANK_FILE = "bank.h5"


class SourceBank(ConfigurableResource):
    """The HDF5 source bank the ``source_bank`` asset writes and Phase 4c and the diagnostics read. ``path``
    empty: ``<data root>/source_bank/all/bank.h5`` (the default; its metadata table sits beside it)."""

    path: str = ""

    def file(self, data_root: str) -> str:
        return self.path or os.path.join(partition_dir(data_root, "source_bank"), BANK_FILE)


class DuckDB(ConfigurableResource):
    """Settings of every DuckDB connection dhs opens in a run (``dhs_core.tables.connect``): ``threads``
    (0: DuckDB's default, every core) and ``memory_limit`` (e.g. ``4GB``; empty: DuckDB's default, 80 % of RAM)."""

    threads: int = 0
    memory_limit: str = ""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        configure_duckdb(self.threads, self.memory_limit)


class SurveyRoot(ConfigurableResource):
    """A survey root in the DR10 South layout (real data or the mock sky). ``url`` (``DHS_SURVEY_URL``; empty: none):
    the portal's region root that ``path`` mirrors — the coadds a stamps partition needs are fetched from it into
    ``path`` before their pixels are read (``connections`` in parallel), and files it does not have are recorded as
    coverage gaps."""

    path: str
    sweep_version: str = "10.1"
    url: str = ""
    connections: int = 8

    @property
    def layout(self) -> SurveyLayout:
        return SurveyLayout(self.path, self.sweep_version)

    def fetch_coadds(self, bricks: list[str], log) -> dict:
        """Fetch the bricks' coadds from ``url`` into ``path`` (nothing without a ``url``), logging files, MB, MB/s and
        the time left; the counts by status. Files that could not be fetched (not 404s) stop the step, naming them:
        a re-run resumes them."""
        if not self.url:
            return {}
        start = time.monotonic()

        def progress(done: int, total: int, size: int) -> None:
            if done == total or done % max(1, total // 20) == 0:
                elapsed = max(time.monotonic() - start, 1e-9)
                log(f"coadds from {self.url}: {done:,} / {total:,} files, {size / 1e6:,.1f} MB, {size / 1e6 / elapsed:.1f} MB/s, "
                    f"ETA {elapsed / done * (total - done):.0f} s")

        table = fetch_coadds(self.url, self.path, bricks, FetchPolicy(connections=self.connections), progress)
        rows = table.to_pylist()
        statuses = [r["status"] for r in rows]
        failed = [r for r in rows if r["status"] == "failed"]
        if failed:
            raise InputFileError(", ".join(r["path"] for r in failed[:5]), f"{len(failed)} coadd file(s) could not be fetched from "
                                 f"{self.url} ({failed[0]['error']}); run again to resume them")
        return {f"coadd_files_{status}": statuses.count(status) for status in ("ok", "missing")}


def default_resources() -> dict:
    return {"data_root": DataRoot(path=default_data_root(), remote=default_remote(), s3_endpoint_url=os.environ.get("DHS_S3_ENDPOINT_URL", "")),
            "survey_root": SurveyRoot(path=default_survey_root(), url=os.environ.get("DHS_SURVEY_URL", "")), "diagnostics": DiagnosticsSettings(), "bank": SourceBank(),
            "duckdb": DuckDB()}
