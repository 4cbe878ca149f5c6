"""Shared fixtures: the real reference data beside the project, and mock skies built once per session."""

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from dhs_core.bank import build_generated_bank
from dhs_core.conventions import sweep_psfdepth_to_mag5
from dhs_core.hashing import spark_xxhash64
from dhs_core.manifest.build import ManifestConfig, build_manifest
from dhs_core.manifest.sampling import stratum_edges
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.mocksky import build_mock_sky
from dhs_core.survey.sweeps import read_sweep
from tests.s3 import CREDENTIALS, loopback_s3

os.environ.update(CREDENTIALS)  # of the loopback S3 server: no test ever reaches a real store

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


def _shared_sky(tmp_path_factory, name: str, **params) -> Path:
    """A mock sky built once per test session, by whichever pytest-xdist worker asks first: the others wait on a
    lock and read the same folder (the session's temporary folder is shared by its workers). Tests only read it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root, built = shared / f"sky_{name}" / "sky", shared / f"sky_{name}" / "built"
    root.parent.mkdir(exist_ok=True)
    with open(shared / f"sky_{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            build_mock_sky(str(root), **params)
            built.touch()
    return root


@pytest.fixture(scope="session")
def small_sky(tmp_path_factory) -> Path:
    """A 7-brick mock sky (one brick per cluster), for reader and Dagster tests."""
    return _shared_sky(tmp_path_factory, "small", **SMALL_SKY)


@pytest.fixture(scope="session")
def default_sky(tmp_path_factory) -> Path:
    """The mock sky exactly as ``make demo`` builds it."""
    return _shared_sky(tmp_path_factory, "default", seed=1)


def _nan_as_null(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~np.isfinite(values))  # as the parent sample stores a depth the sweep lacks


def sky_manifest(sky, per_sweep: int = 30, **config) -> pa.Table:
    """A manifest of up to ``per_sweep`` extended galaxies per sweep of the mock sky ``sky``."""
    rows = []
    for path in SurveyLayout(str(sky)).sweep_paths():
        sweep = read_sweep(
            path,
            [
                "BRICKNAME",
                "OBJID",
                "RA",
                "DEC",
                "TYPE",
                "FLUX_R",
                "SHAPE_E1",
                "SHAPE_E2",
                *(f"PSFSIZE_{b}" for b in "GRZ"),
                *(f"PSFDEPTH_{b}" for b in "GRZ"),
            ],
        )
        rows += [r for r in sweep.to_pylist() if r["type"] != "PSF" and r["flux_r"] > 1][:per_sweep]
    n = len(rows)
    table = pa.table(
        {
            "row_id": spark_xxhash64(
                [r["brickname"] for r in rows], np.array([r["objid"] for r in rows], np.int64)
            ),
            "brickname": [r["brickname"] for r in rows],
            "objid": [r["objid"] for r in rows],
            "ra": [r["ra"] for r in rows],
            "dec": [r["dec"] for r in rows],
            "zmag": np.full(n, 19.0),
            "rmag": -2.5 * np.log10([r["flux_r"] for r in rows]) + 22.5,
            "w1mag": np.full(n, 17.0),
            "rz": np.full(n, 1.2),
            "zw1": np.full(n, 1.5),
            "shape_e1": [r["shape_e1"] for r in rows],
            "shape_e2": [r["shape_e2"] for r in rows],
            "region_id": [r["brickname"] for r in rows],
            "split": ["train"] * n,
            **{f"psfsize_{b}": [r[f"psfsize_{b}"] for r in rows] for b in "grz"},
            **{
                f"psfdepth_mag5_{b}": _nan_as_null(
                    sweep_psfdepth_to_mag5([r[f"psfdepth_ivar_{b}"] for r in rows])
                )
                for b in "grz"
            },
            "brick_psfsize_g": np.full(n, 1.4),
            "brick_psfsize_r": np.full(n, 1.3),
            "brick_psfsize_z": np.full(n, 1.2),
            "brick_psfdepth_mag5_r": np.full(n, 24.5),
            "brick_ebv": np.full(n, 0.03),
        }
    )
    settings = {"n_galaxies": n, "n_templates": 30, "brightness_mode": "snr", **config}
    return build_manifest(
        table,
        "topk_density_k100",
        "topk_density",
        "train",
        stratum_edges(np.array([1.0, 1.6]), "p"),
        stratum_edges(np.array([24.0, 25.0]), "d"),
        ManifestConfig.for_tier(**settings),
    )


@pytest.fixture(scope="session")
def make_manifest():
    """:func:`sky_manifest`, for tests to call with their sky and settings."""
    return sky_manifest


@pytest.fixture(scope="session")
def stamp_bank(tmp_path_factory):
    """A generated source bank of 30 templates (HDF5 path)."""
    return str(build_generated_bank(tmp_path_factory.mktemp("bank") / "bank.h5", 30, seed=2))


def run_with_file_size_limit(
    code: str, limit_bytes: int, timeout_s: float = 300
) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a subprocess that cannot grow a file past ``limit_bytes`` (RLIMIT_FSIZE, SIGXFSZ
    ignored, so a write fails with EFBIG): how the tests stand in for a full disk."""
    preamble = (
        "import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", preamble + code], capture_output=True, text=True, timeout=timeout_s
    )


@pytest.fixture()
def s3():
    """``(endpoint URL, boto3 client)`` of an S3 server on 127.0.0.1 with the empty bucket ``dhs-test``."""
    with loopback_s3() as running:
        yield running
