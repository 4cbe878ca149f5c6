"""Run configuration of Phase 4c: the engine's settings and the partition's parallelism, validated into
``EngineConfig`` and ``StampsJob``."""

from dagster import Config

from dhs_core.inject.engine import EngineConfig
from dhs_core.stamps.partition import StampsJob


class StampsRunConfig(Config):
    """``oversample`` sub-pixels per pixel side; PSF model (moffat or gaussian), beta and default FWHM
    (arcsec); S/N band; optional arc Poisson noise (gain e-/nanomaggy); core mask radius (pixels, 0 off);
    ``max_masked_near_lens``: the largest fraction of bad pixels within the arc reach for a galaxy to be used (both
    classes); tasks per numpy batch; ``workers`` processes per partition (0: every core), tasks per Parquet row
    group and per work unit (whole bricks); ``max_failed_fraction``: the ``stamps_valid`` check fails above this
    fraction of rows failed for expected reasons (coverage, brick edge, masks)."""

    oversample: int = 4
    psf_model: str = "moffat"
    psf_beta: float = 3.5
    psf_default_fwhm: float = 1.4
    snr_band: str = "r"
    poisson_noise: bool = False
    gain_e_per_nmgy: float = 150.0
    core_mask_radius_px: float = 0.0
    max_masked_near_lens: float = EngineConfig.max_masked_near_lens
    batch_size: int = 64
    workers: int = 0
    rows_per_group: int = 256
    unit_tasks: int = 512
    max_failed_fraction: float = 0.2

    def engine(self) -> EngineConfig:
        return EngineConfig(
            oversample=self.oversample,
            psf_model=self.psf_model,
            psf_beta=self.psf_beta,
            psf_default_fwhm=self.psf_default_fwhm,
            snr_band=self.snr_band,
            poisson_noise=self.poisson_noise,
            gain_e_per_nmgy=self.gain_e_per_nmgy,
            core_mask_radius_px=self.core_mask_radius_px,
            max_masked_near_lens=self.max_masked_near_lens,
            batch_size=self.batch_size,
        )

    def job(self, survey_root: str, sweep_version: str, bank_path: str) -> StampsJob:
        return StampsJob(
            survey_root=survey_root,
            bank_path=bank_path,
            engine=self.engine(),
            sweep_version=sweep_version,
            rows_per_group=self.rows_per_group,
            unit_tasks=self.unit_tasks,
            workers=self.workers,
        )
