"""The datasets domain: the recorded dataset specs and the sensor that registers them."""

from dagster import Definitions

from dhs_assets.datasets.assets import dataset_specs
from dhs_assets.datasets.sensors import dataset_specs_sensor


def datasets_definitions() -> Definitions:
    return Definitions(assets=[dataset_specs], sensors=[dataset_specs_sensor])
