"""`dhs demo` on a survey the user names, served over HTTP as the portal serves DR10."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from dhs_core.tables import read_table
from tests.conftest import PROJECT_ROOT


@pytest.mark.system
def test_demo_serves_a_chosen_survey_root_over_http_and_gives_the_local_stamps(small_sky, tmp_path):
    """``DHS_SURVEY_ROOT`` names a survey: the demo reads it and never writes a mock sky there (nor anywhere). With
    ``--http`` (make demo-http) it is served on 127.0.0.1: survey_bricks fetches the bricks table, each sweep_lrgs
    partition its sweep (planned from the bricks table), each galaxy_cutouts partition its coadds; the stamps are those of the
    same tasks on the local survey, bit for bit."""
    before = {p: p.stat().st_mtime_ns for p in small_sky.rglob("*") if p.is_file()}

    def demo(name, *extra):
        (tmp_path / name / "home").mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / "dagster_home/dagster.yaml", tmp_path / name / "home")
        env = {
            **os.environ,
            "DHS_DATA_ROOT": str(tmp_path / name / "data"),
            "DAGSTER_HOME": str(tmp_path / name / "home"),
            "DHS_SURVEY_ROOT": str(small_sky),
        }
        result = subprocess.run(
            [sys.executable, "-m", "dhs_assets.cli", "demo", *extra],
            cwd=tmp_path / name,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return tmp_path / name / "data", result.stdout

    remote, out = demo("http", "--http")
    assert "survey root (DHS_SURVEY_ROOT)" in out and "mock DR10 sky ->" not in out
    assert not (remote / "mock_sky").exists()
    assert {p: p.stat().st_mtime_ns for p in small_sky.rglob("*") if p.is_file()} == before
    assert len(list((remote / "parent_sample").glob("*/part-00000.parquet"))) == 3
    assert "serving it at http://127.0.0.1:" in out
    cache = remote / "survey_cache"
    served = sorted(p.name for p in (small_sky / "sweep" / "10.1").glob("sweep-*.fits"))
    assert (
        sorted(p.name for p in cache.glob("sweep/10.1/sweep-*.fits")) == served
    )  # every tile planned, none too many
    assert (cache / "survey-bricks-dr10-south.fits.gz").exists() and list(
        cache.glob("coadd/*/*/legacysurvey-*-image-r.fits.fz")
    )
    assert read_table(str(remote), "coverage_gaps").column_names == ["brick", "file", "http_status", "time"]
    from dhs_core.stamps.partition import StampsJob, write_stamps_partition

    bank = str(remote / "source_bank" / "all" / "bank.h5")
    for partition in ("train|train", "grid|test"):  # the same tasks on the local sky
        manifest = read_table(str(remote), "injection_manifest", partition)
        write_stamps_partition(
            manifest,
            StampsJob(str(small_sky), bank, workers=1),
            str(tmp_path / "local"),
            "s",
            partition,
        )
        a = (
            read_table(str(tmp_path / "local"), "s", partition)
            .sort_by("task_id")
            .drop_columns(["status_reason"])
        )
        b = (
            read_table(str(remote), "injected_stamps", partition)
            .sort_by("task_id")
            .drop_columns(["status_reason"])
        )
        assert a.column_names == b.column_names and a.num_rows == b.num_rows > 0
        for name in a.column_names:  # NaN metrics (failed rows) compare equal where both are NaN
            if pa.types.is_floating(a[name].type):
                np.testing.assert_array_equal(
                    a[name].to_numpy(zero_copy_only=False),
                    b[name].to_numpy(zero_copy_only=False),
                    err_msg=name,
                )
            else:
                assert a[name].equals(b[name]), (partition, name)
