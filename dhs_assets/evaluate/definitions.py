"""The evaluation domain: known lenses, anchors, hard negatives, the baseline scorer, the models' scores and the
selection function, with the sensor that picks up scores."""

from dagster import Definitions

from dhs_assets.evaluate.assets import (
    anchor_stamps,
    baseline_scores,
    hard_negatives,
    known_lenses,
    model_scores,
    selection_function,
)
from dhs_assets.evaluate.sensors import model_scores_sensor


def evaluate_definitions() -> Definitions:
    return Definitions(
        assets=[
            known_lenses,
            anchor_stamps,
            hard_negatives,
            baseline_scores,
            model_scores,
            selection_function,
        ],
        sensors=[model_scores_sensor],
    )
