"""Run configuration of the catalogue phases, editable in the launchpad; validated into dhs_core configs."""

from dagster import Config

from dhs_core.catalog.lrg import LrgSelectionConfig
from dhs_core.catalog.regions import RegionConfig
from dhs_core.catalog.selection import SelectionConfig
from dhs_core.catalog.splits import SplitConfig


class LrgRunConfig(Config):
    """Phase 2. ``deredden``: select on MW-corrected magnitudes (off reproduces the original);
    ``quality_cuts``: NOBS >= 1 in g, r, z and no BRIGHT/GALAXY/CLUSTER maskbit (off, as the original)."""

    deredden: bool = True
    quality_cuts: bool = False

    def core(self) -> LrgSelectionConfig:
        return LrgSelectionConfig(deredden=self.deredden, quality_cuts=self.quality_cuts)


class RegionRunConfig(Config):
    """Phase 3a and the splits. Quality cuts (EBV mag, PSF FWHM r arcsec, 5-sigma depth r mag), HEALPix
    bounding (``healpix_nside`` null = unbounded), split mode/seed/fractions/tolerance and guard band."""

    ebv_max: float = 0.12
    psfsize_r_max: float = 1.6
    psfdepth_r_min: float = 23.6
    healpix_nside: int | None = 16
    touch_tolerance_arcsec: float = 1.0
    split_mode: str = "region"
    split_seed: int = 1337
    split_fractions: list[float] = [0.8, 0.1, 0.1]
    split_tolerance: float = 0.02
    split_min_regions_for_tolerance: int = 100
    guard_band_arcsec: float = 0.0

    def regions(self) -> RegionConfig:
        return RegionConfig(
            ebv_max=self.ebv_max,
            psfsize_r_max=self.psfsize_r_max,
            psfdepth_r_min=self.psfdepth_r_min,
            healpix_nside=self.healpix_nside,
            touch_tolerance_arcsec=self.touch_tolerance_arcsec,
        )

    def splits(self) -> SplitConfig:
        return SplitConfig(
            mode=self.split_mode,
            seed=self.split_seed,
            fractions=tuple(self.split_fractions),
            tolerance=self.split_tolerance,
            min_regions_for_tolerance=self.split_min_regions_for_tolerance,
            guard_band_arcsec=self.guard_band_arcsec,
        )


class SelectionRunConfig(Config):
    """Phase 3b: regions per top-K set, per stratified set, density-bin quantiles and bin weights."""

    top_k: int = 100
    stratified_k: int = 75
    density_quantiles: list[float] = [0.0, 0.5, 0.9, 1.0]
    custom_weights: list[float] = [0.2, 0.4, 0.4]
    balanced_weights: list[float] = [1 / 3, 1 / 3, 1 / 3]

    def core(self) -> SelectionConfig:
        return SelectionConfig(
            top_k=self.top_k,
            stratified_k=self.stratified_k,
            density_quantiles=tuple(self.density_quantiles),
            custom_weights=tuple(self.custom_weights),
            balanced_weights=tuple(self.balanced_weights),
        )


class ParentRunConfig(Config):
    """Phase 3c: the LRG variant of the parent sample."""

    variant: str = "v3_color_relaxed"
