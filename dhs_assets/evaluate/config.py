"""Run configuration of the evaluation assets, editable in the launchpad; validated into dhs_core configs (whose
defaults these are: ``dhs_assets.run_config``)."""

from dagster import Config

from dhs_assets.run_config import CoreFields, derived_config
from dhs_core.evaluate.anchors import AnchorConfig
from dhs_core.evaluate.baseline import BaselineConfig
from dhs_core.evaluate.hard_negatives import HardNegativeConfig
from dhs_core.evaluate.selection_function import SelectionConfig

ANCHOR_FIELDS = CoreFields(AnchorConfig)
HARD_NEGATIVE_FIELDS = CoreFields(HardNegativeConfig)
BASELINE_FIELDS = CoreFields(BaselineConfig)
SELECTION_FUNCTION_FIELDS = CoreFields(SelectionConfig)


class AnchorRunConfig(derived_config(Config, "AnchorFields", ANCHOR_FIELDS)):
    """Anchors: the known-lens ``tiers`` cut (A confident, B probable) and the band their arc S/N is measured in."""

    def core(self) -> AnchorConfig:
        return ANCHOR_FIELDS.build(self)


class HardNegativeRunConfig(derived_config(Config, "HardNegativeFields", HARD_NEGATIVE_FIELDS)):
    """Hard negatives: a user ``catalog`` of look-alikes (empty: the sweep proxy), objects per class, the proxy's cuts
    and the known-lens exclusion radius."""

    def core(self) -> HardNegativeConfig:
        return HARD_NEGATIVE_FIELDS.build(self)


class BaselineRunConfig(derived_config(Config, "BaselineFields", BASELINE_FIELDS)):
    """The baseline scorer: the dataset and split it learns from, and its regularisation."""

    def core(self) -> BaselineConfig:
        return BASELINE_FIELDS.build(self)


class SelectionFunctionRunConfig(
    derived_config(Config, "SelectionFunctionFields", SELECTION_FUNCTION_FIELDS)
):
    """The selection function: the splits evaluated, further partitions whose controls set thresholds, the FPRs, the
    S/N edges (empty: the dataset's) and a core-masked dataset for the ablation."""

    def core(self) -> SelectionConfig:
        return SELECTION_FUNCTION_FIELDS.build(self)
