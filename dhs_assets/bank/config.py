"""Run configuration of the source bank; validated by the dhs_core builders."""

from dagster import Config

from dhs_core.bank.download import cosmos_url


class SourceBankRunConfig(Config):
    """``catalog_files``: GalSim RealGalaxyCatalog FITS files (one per band, same galaxies, bluest
    first); empty: a generated bank of ``n_generated`` templates. A catalogue file that is not on disk is looked up by
    name in the archive at ``catalog_url`` (default: GalSim's COSMOS 23.5 sample), fetched and unpacked once into
    ``catalog_cache`` (default ``<data root>/source_catalogs``). Pixel scale, stamp size and PSF FWHM
    in arcsec / pixels; HLR range (arcsec), minimum flux S/N and the seed (generation and splits)."""

    catalog_files: list[str] = []
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
