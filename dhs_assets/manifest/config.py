"""Run configuration of Phase 4a, editable in the launchpad; validated into ``ManifestConfig``."""

from dagster import Config

from dhs_assets.run_config import CoreFields, derived_config
from dhs_core.manifest.build import ManifestConfig
from dhs_core.manifest.draws import LensShapeModel

MANIFEST_FIELDS = CoreFields(
    ManifestConfig,
    exclude=("lens_shape", "stamp_size", "bandset"),
    # None: the tier's default (ManifestConfig.for_tier); a grid is a name or a user grid as YAML text
    override={
        "grid": (str | None, None),
        "n_galaxies": (int | None, None),
        "control_frac": (float | None, None),
    },
    factory=ManifestConfig.for_tier,
)
LENS_SHAPE_FIELDS = CoreFields(
    LensShapeModel,
    rename={
        "mode": "lens_shape",
        "e_scatter": "lens_e_scatter",
        "pa_scatter_deg": "lens_pa_scatter_deg",
        "e_min": "lens_e_min",
        "e_max": "lens_e_max",
    },
)


class ManifestRunConfig(derived_config(Config, "ManifestFields", MANIFEST_FIELDS, LENS_SHAPE_FIELDS)):
    """Phase 4a. ``grid``: a named grid (grid_small, grid_medium, grid_full, grid_sota, grid_extended) or
    a user grid as YAML text (name and the five axes); null values take the tier's default. Lens shapes:
    ``lens_shape`` light (Tractor shape with scatter) or uniform; colours red (observer frame) or blue
    (the original). ``snr_bins``: rows of (low, high, weight) for ``brightness_mode`` snr, in the S/N named by
    ``snr_definition``: ``peak`` (per-pixel, the seed's) or ``integrated``. Defaults: ``ManifestConfig``."""

    def core(self) -> ManifestConfig:
        return MANIFEST_FIELDS.build(self, lens_shape=LENS_SHAPE_FIELDS.build(self))
