"""Run configuration of Phase 4c: how a partition's stamps are made (parallelism, row groups, work units) and how
many may fail, validated into ``StampsJob`` and ``StampsLimits``. The physics (``EngineConfig``) is the dataset
spec's."""

from dagster import Config

from dhs_assets.run_config import CoreFields, derived_config
from dhs_core.inject.engine import EngineConfig
from dhs_core.stamps.partition import StampsJob
from dhs_core.stamps.validation import StampsLimits
from dhs_core.storage import ObjectStore
from dhs_core.tables import DuckDBSettings

# the roots, engine and DuckDB settings come from resources and the dataset spec; the file metadata from the spec
JOB_FIELDS = CoreFields(
    StampsJob,
    exclude=(
        "survey_root",
        "bank_path",
        "engine",
        "sweep_version",
        "duckdb",
        "file_metadata",
        "cutout_cache",
        "store",
    ),
)
LIMITS_FIELDS = CoreFields(StampsLimits)


class StampsRunConfig(derived_config(Config, "StampsFields", JOB_FIELDS, LIMITS_FIELDS)):
    """``workers`` processes per partition (0: every core), tasks per Parquet row group and per work unit (whole
    bricks); ``max_failed_fraction``: the ``stamps_valid`` check fails above this fraction of rows failed for expected
    reasons (coverage, brick edge, masks). Defaults: ``StampsJob``, ``StampsLimits``."""

    def limits(self) -> StampsLimits:
        return LIMITS_FIELDS.build(self)

    def processes(self) -> int:
        """Worker processes per partition (``StampsJob.processes``: 0 is every core)."""
        return JOB_FIELDS.build(self, survey_root="", bank_path="").processes

    def job(
        self,
        survey_root: str,
        sweep_version: str,
        bank_path: str,
        engine: EngineConfig,
        duckdb: DuckDBSettings = DuckDBSettings(),
        cutout_cache: tuple[str, ...] = (),
        store: ObjectStore | None = None,
    ) -> StampsJob:
        """The stamps job of a partition: these settings, the roots, the spec's engine, the run's DuckDB settings
        for the writers, the cutout cache's files to crop from (empty: the bricks) and the object store that
        ``s3://`` inputs are in."""
        return JOB_FIELDS.build(
            self,
            survey_root=survey_root,
            bank_path=bank_path,
            engine=engine,
            sweep_version=sweep_version,
            duckdb=duckdb,
            cutout_cache=cutout_cache,
            store=store,
        )
