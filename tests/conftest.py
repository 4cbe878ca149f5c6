"""Shared fixtures: the real reference data beside the project, and mock skies built once per session."""

import os
from pathlib import Path

import pytest

from dhs_core.survey.mocksky import build_mock_sky

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _reference_root() -> Path:
    return Path(os.environ.get("DHS_REFERENCE_DATA", PROJECT_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """``DHS_REFERENCE_DATA`` (default ../shared/data); skipped if missing, unless DHS_REQUIRE_REFERENCE_DATA=1."""
    root = _reference_root()
    if not root.is_dir():
        if os.environ.get("DHS_REQUIRE_REFERENCE_DATA") == "1":
            pytest.fail(f"reference data required (DHS_REQUIRE_REFERENCE_DATA=1) but {root} is missing")
        pytest.skip(f"reference data not found at {root}; set DHS_REFERENCE_DATA")
    return root


SMALL_SKY = {"seed": 7, "n_bricks": 7, "n_lenses": 2}


@pytest.fixture(scope="session")
def small_sky(tmp_path_factory) -> Path:
    """A 7-brick mock sky (one brick per cluster), for reader and Dagster tests."""
    root = tmp_path_factory.mktemp("small") / "sky"
    build_mock_sky(str(root), **SMALL_SKY)
    return root


@pytest.fixture(scope="session")
def default_sky(tmp_path_factory) -> Path:
    """The mock sky exactly as ``make demo`` builds it."""
    root = tmp_path_factory.mktemp("default") / "sky"
    build_mock_sky(str(root), seed=1)
    return root
