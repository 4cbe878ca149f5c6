"""Run configuration of the source bank; validated into ``BankConfig`` and by the dhs_core builders."""

from dagster import Config

from dhs_assets.run_config import CoreFields, derived_config
from dhs_core.bank.settings import BankConfig

BANK_FIELDS = CoreFields(BankConfig)


class SourceBankRunConfig(derived_config(Config, "SourceBankFields", BANK_FIELDS)):
    """``catalog_files``: GalSim RealGalaxyCatalog FITS files (one per band, same galaxies, bluest
    first); empty: a generated bank of ``n_generated`` templates. A catalogue file that is not on disk is looked up by
    name in the archive at ``catalog_url`` (default: GalSim's COSMOS 23.5 sample), fetched and unpacked once into
    ``catalog_cache`` (default ``<data root>/source_catalogs``). Pixel scale, stamp size and PSF FWHM
    in arcsec / pixels; HLR range (arcsec), minimum flux S/N and the seed (generation and splits). Defaults:
    ``BankConfig``."""

    def core(self) -> BankConfig:
        return BANK_FIELDS.build(self)
