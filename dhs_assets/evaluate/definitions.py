"""The evaluation domain: known lenses and anchors."""

from dagster import Definitions

from dhs_assets.evaluate.assets import anchor_stamps, known_lenses


def evaluate_definitions() -> Definitions:
    return Definitions(assets=[known_lenses, anchor_stamps])
