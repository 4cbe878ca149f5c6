"""The source bank: unit-flux galaxy templates for the injected arcs (HDF5), built from GalSim real-galaxy
catalogues or generated, validated against noise-dominated banks."""

from dhs_core.bank.galsim_catalog import build_bank_from_galsim_catalog
from dhs_core.bank.generated import build_generated_bank
from dhs_core.bank.store import open_bank

__all__ = ["build_bank_from_galsim_catalog", "build_generated_bank", "open_bank"]
