import ast
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from dhs_assets.catalog.partitions import discover_sweep_files, sweep_partitions
from dhs_assets.catalog.sensors import sweep_file_sensor
from dhs_assets.definitions import ASSETS, CHECKS, defs
from dhs_assets.resources import DataRoot, SurveyRoot
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.sweeps import read_sweep
from dhs_core.tables import read_table
from tests.conftest import PROJECT_ROOT


def test_dhs_core_never_imports_dagster():
    for path in (PROJECT_ROOT / "dhs_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0].startswith("dagster") for n in names), f"{path} imports dagster"


def test_workspace_validates():
    env = {**os.environ, "DAGSTER_HOME": str(PROJECT_ROOT / "dagster_home")}
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location dhs" in result.stdout + result.stderr


def test_definitions_carry_groups_and_descriptions():
    for key in ("survey_bricks", "sweep_catalog"):
        spec = defs.resolve_assets_def(key).specs_by_key
        (only,) = spec.values()
        assert only.group_name == "catalog" and only.description


@pytest.fixture()
def instance():
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _resources(data_root, sky):
    return {"data_root": DataRoot(path=str(data_root)), "survey_root": SurveyRoot(path=str(sky))}


def test_assets_materialize_on_the_mock_sky(small_sky, tmp_path, instance):
    resources = _resources(tmp_path / "data", small_sky)
    layout = SurveyLayout(str(small_sky))
    result = materialize([*ASSETS, *CHECKS], selection="survey_bricks", instance=instance, resources=resources)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations()) and result.get_asset_check_evaluations()
    bricks = read_table(str(tmp_path / "data"), "survey_bricks")
    assert bricks.equals(read_bricks_table(layout.bricks_table_paths()))
    (materialization,) = result.asset_materializations_for_node("survey_bricks")
    assert materialization.metadata["dagster/row_count"].value == bricks.num_rows == 7

    sweeps = discover_sweep_files(layout)
    instance.add_dynamic_partitions(sweep_partitions.name, list(sweeps))
    digests = {}
    for key, path in sweeps.items():
        result = materialize([*ASSETS, *CHECKS], selection="sweep_catalog", partition_key=key, instance=instance, resources=resources)
        assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
        assert read_table(str(tmp_path / "data"), "sweep_catalog", key).equals(read_sweep(path))
        digests[key] = hashlib.sha256((tmp_path / "data/sweep_catalog" / key / "part-00000.parquet").read_bytes()).hexdigest()
    # re-materializing replaces each partition with bit-identical bytes
    key = next(iter(sweeps))
    assert materialize([*ASSETS, *CHECKS], selection="sweep_catalog", partition_key=key, instance=instance, resources=resources).success
    assert hashlib.sha256((tmp_path / "data/sweep_catalog" / key / "part-00000.parquet").read_bytes()).hexdigest() == digests[key]


def test_sweep_sensor_adds_only_new_sweep_files(small_sky, tmp_path, instance):
    sky = tmp_path / "sky"
    shutil.copytree(small_sky, sky)
    resources = {"survey_root": SurveyRoot(path=str(sky))}
    first = sweep_file_sensor(build_sensor_context(instance=instance, resources=resources))
    keys = sorted(discover_sweep_files(SurveyLayout(str(sky))))
    assert sorted(first.dynamic_partitions_requests[0].partition_keys) == keys
    assert sorted(r.partition_key for r in first.run_requests) == keys
    instance.add_dynamic_partitions(sweep_partitions.name, keys)
    assert not sweep_file_sensor(build_sensor_context(instance=instance, resources=resources)).run_requests
    sweep_dir = Path(SurveyLayout(str(sky)).sweep_dir)
    shutil.copy(sweep_dir / f"{keys[0]}.fits", sweep_dir / "sweep-060p000-065p005.fits")
    third = sweep_file_sensor(build_sensor_context(instance=instance, resources=resources))
    assert [r.partition_key for r in third.run_requests] == ["sweep-060p000-065p005"]
    assert third.dynamic_partitions_requests[0].partition_keys == ["sweep-060p000-065p005"]


def test_demo_command_runs_end_to_end(tmp_path, monkeypatch):
    env = {**os.environ, "DHS_DATA_ROOT": str(tmp_path / "data"), "DAGSTER_HOME": str(tmp_path / "home")}
    (tmp_path / "home").mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home/dagster.yaml", tmp_path / "home")
    result = subprocess.run([sys.executable, "-m", "dhs_assets.cli", "demo", "--n-bricks", "7"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "done. outputs:" in result.stdout
    assert (tmp_path / "data/survey_bricks/all/part-00000.parquet").exists()
    sweeps = list((tmp_path / "data/sweep_catalog").glob("sweep-*/part-00000.parquet"))
    assert len(sweeps) == len(list((tmp_path / "data/mock_sky/sweep/10.1").glob("sweep-*.fits"))) >= 7
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with DagsterInstance.get() as inst:  # the runs are in the instance, for the UI
        assert len(inst.get_runs()) == 1 + len(sweeps)
