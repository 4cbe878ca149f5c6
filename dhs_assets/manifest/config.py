"""Run configuration of Phase 4a, editable in the launchpad; validated into ``ManifestConfig``."""

from dagster import Config

from dhs_core.manifest.build import ManifestConfig
from dhs_core.manifest.draws import DEFAULT_SNR_BINS, LensShapeModel


class ManifestRunConfig(Config):
    """Phase 4a. ``grid``: a named grid (grid_small, grid_medium, grid_full, grid_sota, grid_extended) or
    a user grid as YAML text (name and the five axes); null values take the tier's default. Lens shapes:
    ``lens_shape`` light (Tractor shape with scatter) or uniform; colours red (observer frame) or blue
    (the original). ``snr_bins``: rows of (low, high, weight) for ``brightness_mode`` snr, in the S/N named by
    ``snr_definition``: ``peak`` (per-pixel, the seed's) or ``integrated``."""

    tier: str = "train"
    grid: str | None = None
    n_galaxies: int | None = None
    control_frac: float | None = None
    legacy_signed_mod: bool = False
    unpaired_controls: bool = True
    replicates: int = 2
    seed: int = 1337
    beta_max_factor: float = 0.8
    lens_shape: str = "light"
    lens_e_scatter: float = 0.05
    lens_pa_scatter_deg: float = 10.0
    lens_e_min: float = 0.05
    lens_e_max: float = 0.5
    colour_model: str = "red"
    source_kind: str = "template"
    n_templates: int = 20_000
    src_n: float = 1.0
    brightness_mode: str = "dmag"
    snr_bins: list[list[float]] = [list(b) for b in DEFAULT_SNR_BINS]
    snr_definition: str = ManifestConfig.snr_definition

    def core(self) -> ManifestConfig:
        shape = LensShapeModel(
            self.lens_shape, self.lens_e_scatter, self.lens_pa_scatter_deg, self.lens_e_min, self.lens_e_max
        )
        return ManifestConfig(
            tier=self.tier,
            grid=self.grid,
            n_galaxies=self.n_galaxies,
            control_frac=self.control_frac,
            legacy_signed_mod=self.legacy_signed_mod,
            unpaired_controls=self.unpaired_controls,
            replicates=self.replicates,
            seed=self.seed,
            beta_max_factor=self.beta_max_factor,
            lens_shape=shape,
            colour_model=self.colour_model,
            source_kind=self.source_kind,
            n_templates=self.n_templates,
            src_n=self.src_n,
            brightness_mode=self.brightness_mode,
            snr_bins=tuple(tuple(b) for b in self.snr_bins),
            snr_definition=self.snr_definition,
        )
