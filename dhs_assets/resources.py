"""Resources: where data are written (the data root) and where survey inputs are read (the survey root).

Defaults come from the environment at the edge, once: ``DHS_DATA_ROOT`` (default ``./data``) and
``DHS_SURVEY_ROOT`` (default ``<data root>/mock_sky``, the embedded mock DR10 sky).
"""

from __future__ import annotations

import os

from dagster import ConfigurableResource

from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_core.survey.layout import SurveyLayout


def default_data_root() -> str:
    return os.path.abspath(os.environ.get("DHS_DATA_ROOT", "data"))


def default_survey_root() -> str:
    return os.path.abspath(os.environ.get("DHS_SURVEY_ROOT", os.path.join(default_data_root(), "mock_sky")))


class DataRoot(ConfigurableResource):
    """The folder under which every asset's Parquet partitions live (``<root>/<asset>/<partition>/``)."""

    path: str


class SurveyRoot(ConfigurableResource):
    """A survey root in the DR10 South layout (real data or the mock sky)."""

    path: str
    sweep_version: str = "10.1"

    @property
    def layout(self) -> SurveyLayout:
        return SurveyLayout(self.path, self.sweep_version)


def default_resources() -> dict:
    return {"data_root": DataRoot(path=default_data_root()), "survey_root": SurveyRoot(path=default_survey_root()),
            "diagnostics": DiagnosticsSettings()}
