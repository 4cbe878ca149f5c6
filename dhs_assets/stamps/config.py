"""Run configuration of Phase 4c: the engine's settings and the partition's parallelism, validated into
``EngineConfig`` and ``StampsJob``."""

from dagster import Config

from dhs_assets.run_config import CoreFields, derived_config
from dhs_core.inject.engine import EngineConfig
from dhs_core.stamps.partition import StampsJob
from dhs_core.stamps.validation import StampsLimits
from dhs_core.tables import DuckDBSettings

ENGINE_FIELDS = CoreFields(EngineConfig)
# the roots and DuckDB settings come from resources, the engine from its own fields
JOB_FIELDS = CoreFields(StampsJob, exclude=("survey_root", "bank_path", "engine", "sweep_version", "duckdb"))
LIMITS_FIELDS = CoreFields(StampsLimits)


class StampsRunConfig(derived_config(Config, "StampsFields", ENGINE_FIELDS, JOB_FIELDS, LIMITS_FIELDS)):
    """``oversample`` sub-pixels per pixel side; PSF model (moffat or gaussian), beta and default FWHM
    (arcsec); S/N band; optional arc Poisson noise (gain e-/nanomaggy); core mask radius (pixels, 0 off);
    ``max_masked_near_lens``: the largest fraction of bad pixels within the arc reach for a galaxy to be used (both
    classes); tasks per numpy batch; ``workers`` processes per partition (0: every core), tasks per Parquet row
    group and per work unit (whole bricks); ``max_failed_fraction``: the ``stamps_valid`` check fails above this
    fraction of rows failed for expected reasons (coverage, brick edge, masks). Defaults: ``EngineConfig``,
    ``StampsJob``, ``StampsLimits``."""

    def engine(self) -> EngineConfig:
        return ENGINE_FIELDS.build(self)

    def limits(self) -> StampsLimits:
        return LIMITS_FIELDS.build(self)

    def job(
        self, survey_root: str, sweep_version: str, bank_path: str, duckdb: DuckDBSettings = DuckDBSettings()
    ) -> StampsJob:
        """The stamps job of a run: these settings, the roots and the run's DuckDB settings for the writers."""
        return JOB_FIELDS.build(
            self,
            survey_root=survey_root,
            bank_path=bank_path,
            engine=self.engine(),
            sweep_version=sweep_version,
            duckdb=duckdb,
        )
