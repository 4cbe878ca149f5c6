"""`dhs demo` as a user runs it: the whole pipeline on the mock sky, the report opened in a browser."""

import os
import shutil
import subprocess
import sys

import pytest
from dagster import DagsterInstance

from tests.conftest import PROJECT_ROOT


@pytest.mark.system
def test_demo_command_runs_end_to_end(tmp_path, monkeypatch):
    """Also item 9 of the reliability issue: a data root (and so the mock sky's survey root) with glob characters and
    brackets, 'data [run1]', failed at step 1; it works end to end."""
    work = tmp_path
    tmp_path = tmp_path / "run [1]*?"
    tmp_path.mkdir()
    env = {**os.environ, "DHS_DATA_ROOT": str(tmp_path / "data"), "DAGSTER_HOME": str(work / "home")}
    (work / "home").mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home/dagster.yaml", work / "home")
    result = subprocess.run(
        [sys.executable, "-m", "dhs_assets.cli", "demo", "--n-bricks", "7"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "done. outputs:" in result.stdout
    assert (tmp_path / "data/survey_bricks/all/part-00000.parquet").exists()
    sweeps = list((tmp_path / "data/sweep_lrgs").glob("sweep-*/part-00000.parquet"))
    assert len(sweeps) == len(list((tmp_path / "data/mock_sky/sweep/10.1").glob("sweep-*.fits"))) >= 7
    assert len(list((tmp_path / "data/parent_sample").glob("*/part-00000.parquet"))) == 3
    monkeypatch.setenv("DAGSTER_HOME", str(work / "home"))
    with DagsterInstance.get() as inst:  # the runs are in the instance, for the UI
        # bricks, a run per sweep, counts, regions; selections, the known lenses, parents, cutouts, manifests, stamps
        # and their QA: one run each for all their partitions; the bank; a report per dataset; the coverage gaps;
        # the anchors, the hard negatives, the baseline's scores of the grid and its selection function
        assert len(inst.get_runs()) == 1 + len(sweeps) + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 1 + 3
    # two datasets side by side in one data root, each split a partition that says which spec made it
    assert sorted(p.name for p in (tmp_path / "data/datasets").glob("*.yaml")) == ["grid.yaml", "train.yaml"]
    stamps = sorted(p.parent.name for p in (tmp_path / "data/injected_stamps").glob("*|*/dataset.json"))
    assert stamps == sorted(f"{d}|{s}" for d in ("grid", "train") for s in ("train", "val", "test"))
    assert len(list((tmp_path / "data/stamp_diagnostics").glob("*|*/qa.png"))) == 6
    for dataset in ("grid", "train"):
        report = tmp_path / f"data/shortcut_report/{dataset}/report.html"
        assert f"{report}" in result.stdout and f"dataset {dataset}</h1>" in report.read_text()
    text = report.read_text()
    assert "<h2>Verdicts</h2>" in text
    assert (
        "class symmetry" in text
        and "https://www.legacysurvey.org/viewer?ra=" in text
        and "<h2>Failures by reason and class" in text
    )
    from tests.e2e.browser import chromium_page

    screenshot = os.environ.get("DHS_REPORT_SCREENSHOT", str(work / "report.png"))
    with chromium_page(1250, 1400) as page:  # the report renders in a browser and every figure loads
        page.goto(report.as_uri())
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert len(images) > 20 and all(images), images
        page.screenshot(path=screenshot)
    assert len(list((tmp_path / "data/injection_manifest").glob("*|*/dataset.json"))) == 6
    # the evaluation loop closed: the baseline's scores dropped, its selection function's report with its figures
    assert (tmp_path / "data/scores/grid/baseline/scores.parquet").exists()
    selection = tmp_path / "data/selection_function/grid|baseline/report.html"
    assert f"{selection}" in result.stdout and "completeness at FPR" in selection.read_text()
    with chromium_page(1250, 1400) as page:
        page.goto(selection.as_uri())
        images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        assert len(images) >= 5 and all(images), images


def test_the_demo_prints_why_a_blocking_check_failed(capsys):
    """Item 8 of the reliability issue: the CLI used to print only the check's name; the reason was in the instance."""
    import dagster as dg

    from dhs_assets.cli import _require

    @dg.asset
    def sweeps_like() -> None:
        return None

    @dg.asset_check(asset=sweeps_like, blocking=True)
    def ids_unique() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, metadata={"duplicate_ids": 1})

    @dg.asset_check(asset=sweeps_like, blocking=False)
    def looks_fine() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"gated_auc": 0.63}
        )

    result = dg.materialize([sweeps_like, ids_unique, looks_fine], raise_on_error=False)
    with pytest.raises(SystemExit, match="ids_unique on sweeps_like failed: duplicate_ids: 1"):
        _require(result)
    assert "warning: asset check looks_fine on sweeps_like failed: gated_auc: 0.63" in capsys.readouterr().out
