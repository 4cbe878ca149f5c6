"""The source-bank domain: the templates the injections draw from."""

from dagster import Definitions

from dhs_assets.bank.assets import source_bank
from dhs_assets.bank.checks import BANK_CHECKS


def bank_definitions() -> Definitions:
    return Definitions(assets=[source_bank], asset_checks=BANK_CHECKS)
