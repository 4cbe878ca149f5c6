"""Run configuration of the evaluation assets, editable in the launchpad; validated into dhs_core configs (whose
defaults these are: ``dhs_assets.run_config``)."""

from dagster import Config

from dhs_assets.run_config import CoreFields, derived_config
from dhs_core.evaluate.anchors import AnchorConfig

ANCHOR_FIELDS = CoreFields(AnchorConfig)


class AnchorRunConfig(derived_config(Config, "AnchorFields", ANCHOR_FIELDS)):
    """Anchors: the known-lens ``tiers`` cut (A confident, B probable) and the band their arc S/N is measured in."""

    def core(self) -> AnchorConfig:
        return ANCHOR_FIELDS.build(self)
