"""The manifest domain: the injection tasks of each (selection set, split)."""

from dagster import Definitions

from dhs_assets.manifest.assets import injection_manifest
from dhs_assets.manifest.checks import MANIFEST_CHECKS


def manifest_definitions() -> Definitions:
    return Definitions(assets=[injection_manifest], asset_checks=MANIFEST_CHECKS)
