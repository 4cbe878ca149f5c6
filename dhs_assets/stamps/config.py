"""Run configuration of Phase 4c: the engine's settings, validated into ``EngineConfig``."""

from dagster import Config

from dhs_core.inject.engine import EngineConfig


class StampsRunConfig(Config):
    """``oversample`` sub-pixels per pixel side; PSF model (moffat or gaussian), beta and default FWHM
    (arcsec); S/N band; optional arc Poisson noise (gain e-/nanomaggy); core mask radius (pixels, 0 off);
    tasks per numpy batch."""

    oversample: int = 4
    psf_model: str = "moffat"
    psf_beta: float = 3.5
    psf_default_fwhm: float = 1.4
    snr_band: str = "r"
    poisson_noise: bool = False
    gain_e_per_nmgy: float = 150.0
    core_mask_radius_px: float = 0.0
    batch_size: int = 64

    def core(self) -> EngineConfig:
        return EngineConfig(oversample=self.oversample, psf_model=self.psf_model, psf_beta=self.psf_beta,
                            psf_default_fwhm=self.psf_default_fwhm, snr_band=self.snr_band, poisson_noise=self.poisson_noise,
                            gain_e_per_nmgy=self.gain_e_per_nmgy, core_mask_radius_px=self.core_mask_radius_px,
                            batch_size=self.batch_size)
