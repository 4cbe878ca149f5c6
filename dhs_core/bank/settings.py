"""The source bank's settings, written once: what the asset builds and the builders' defaults."""

from __future__ import annotations

from dataclasses import dataclass

from dhs_core.bank.download import cosmos_url
from dhs_core.errors import ConfigError


@dataclass(frozen=True)
class BankConfig:
    """``catalog_files``: GalSim RealGalaxyCatalog FITS files (one per band, same galaxies, bluest first); empty: a
    generated bank of ``n_generated`` templates. A catalogue file not on disk is looked up by name in the archive at
    ``catalog_url`` (default: GalSim's COSMOS 23.5 sample), fetched and unpacked once into ``catalog_cache`` (empty:
    ``<data root>/source_catalogs``). ``pixel_scale`` (arcsec) and ``stamp_size`` (pixels) of the templates, the
    ``psf_fwhm`` (arcsec) they are drawn with, their half-light radius range ``hlr_min``..``hlr_max`` (arcsec), the
    minimum flux S/N of a real galaxy (integrated, in its own HST noise) and the seed (generation and splits)."""

    catalog_files: tuple[str, ...] = ()
    catalog_url: str = cosmos_url("23.5")
    catalog_cache: str = ""
    n_generated: int = 2000
    seed: int = 1337
    pixel_scale: float = 0.03
    stamp_size: int = 128
    psf_fwhm: float = 0.10
    hlr_min: float = 0.05
    hlr_max: float = 0.5
    min_snr: float = 10.0

    def __post_init__(self):
        if not 0 < self.hlr_min < self.hlr_max:
            raise ConfigError(
                "bank.hlr_min, hlr_max", (self.hlr_min, self.hlr_max), "0 < hlr_min < hlr_max arcsec"
            )

    def drawing(self) -> dict:
        """The options every builder takes: pixel scale, stamp size, PSF FWHM and the HLR range."""
        return dict(
            pixel_scale=self.pixel_scale,
            stamp_size=self.stamp_size,
            psf_fwhm=self.psf_fwhm,
            hlr_range=(self.hlr_min, self.hlr_max),
        )
