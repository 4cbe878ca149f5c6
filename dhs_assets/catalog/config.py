"""Run configuration of the catalogue phases, editable in the launchpad; validated into dhs_core configs (whose
defaults these are: ``dhs_assets.run_config``)."""

from dagster import Config

from dhs_assets.run_config import CoreFields, derived_config
from dhs_core.catalog.lrg import LrgSelectionConfig
from dhs_core.catalog.parent import ParentConfig
from dhs_core.catalog.regions import RegionConfig
from dhs_core.catalog.selection import SelectionConfig
from dhs_core.catalog.splits import SplitConfig

LRG_FIELDS = CoreFields(LrgSelectionConfig)
REGION_FIELDS = CoreFields(RegionConfig)
SPLIT_FIELDS = CoreFields(
    SplitConfig,
    rename={
        "mode": "split_mode",
        "seed": "split_seed",
        "fractions": "split_fractions",
        "tolerance": "split_tolerance",
        "min_regions_for_tolerance": "split_min_regions_for_tolerance",
    },
)
SELECTION_FIELDS = CoreFields(SelectionConfig)
PARENT_FIELDS = CoreFields(ParentConfig)


class LrgRunConfig(derived_config(Config, "LrgFields", LRG_FIELDS)):
    """Phase 2. ``deredden``: select on MW-corrected magnitudes (off reproduces the original);
    ``quality_cuts``: NOBS >= 1 in g, r, z and no BRIGHT/GALAXY/CLUSTER maskbit (off, as the original)."""

    def core(self) -> LrgSelectionConfig:
        return LRG_FIELDS.build(self)


class RegionRunConfig(derived_config(Config, "RegionFields", REGION_FIELDS, SPLIT_FIELDS)):
    """Phase 3a and the splits. Quality cuts (EBV mag, PSF FWHM r arcsec, 5-sigma depth r mag), HEALPix
    bounding (``healpix_nside`` null = unbounded), the area weight's exponent, split mode/seed/fractions/tolerance
    and guard band (arcsec)."""

    def regions(self) -> RegionConfig:
        return REGION_FIELDS.build(self)

    def splits(self) -> SplitConfig:
        return SPLIT_FIELDS.build(self)


class SelectionRunConfig(derived_config(Config, "SelectionFields", SELECTION_FIELDS)):
    """Phase 3b: regions per top-K set, per stratified set, density-bin quantiles and bin weights."""

    def core(self) -> SelectionConfig:
        return SELECTION_FIELDS.build(self)


class ParentRunConfig(derived_config(Config, "ParentFields", PARENT_FIELDS)):
    """Phase 3c: the LRG variant of the parent sample."""

    def core(self) -> ParentConfig:
        return PARENT_FIELDS.build(self)
