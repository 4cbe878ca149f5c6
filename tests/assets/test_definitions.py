import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DagsterInstance,
    build_sensor_context,
    materialize,
)

from dhs_assets.catalog.partitions import discover_sweep_files, sweep_partitions
from dhs_assets.catalog.sensors import sweep_file_sensor
from dhs_assets.datasets.sensors import register_specs
from dhs_assets.definitions import ASSETS, CHECKS, defs
from dhs_assets.evaluate.sensors import model_scores_sensor, register_scores
from dhs_assets.metadata import latest_metadata
from dhs_assets.resources import SurveyRoot, build_resources
from dhs_core.asset_names import ASSET_NAMES
from dhs_core.catalog.splits import SPLITS, brick_hash_split
from dhs_core.conventions import LRG_VARIANTS
from dhs_core.datasets.record import parquet_metadata, recorded_spec
from dhs_core.errors import InputFileError
from dhs_core.evaluate.known_lenses import nearest_known_lens
from dhs_core.evaluate.scores import read_scores, scores_dir, write_scores
from dhs_core.hashing import spark_xxhash64
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import read_table, write_table
from tests.assets.datasets import write_spec
from tests.assets.runs import catalog_phases, run_assets
from tests.conftest import PROJECT_ROOT


def test_dhs_core_never_imports_dagster():
    for path in (PROJECT_ROOT / "dhs_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not any(n.split(".")[0].startswith("dagster") for n in names), f"{path} imports dagster"


def test_workspace_validates():
    env = {**os.environ, "DAGSTER_HOME": str(PROJECT_ROOT / "dagster_home")}
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location dhs" in result.stdout + result.stderr


def test_definitions_carry_groups_and_descriptions():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(ASSET_NAMES)  # every asset's name is written once, in dhs_core.asset_names
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        group = {
            "injection_manifest": "manifest",
            "source_bank": "injection",
            "injected_stamps": "injection",
            "galaxy_cutouts": "injection",
            "coverage_gaps": "injection",
            "stamp_diagnostics": "diagnostics",
            "shortcut_report": "diagnostics",
            "datasets": "datasets",
            "known_lenses": "evaluation",
            "anchor_stamps": "evaluation",
            "hard_negatives": "evaluation",
            "baseline_scores": "evaluation",
            "scores": "evaluation",
            "selection_function": "evaluation",
        }.get(key.to_user_string(), "catalog")
        assert node.group_name == group and node.description


def test_catalog_phases_materialize_on_the_mock_sky(small_sky, tmp_path, instance):
    data = tmp_path / "data"
    resources = build_resources(data, small_sky)
    sweeps = catalog_phases(instance, resources)
    layout = SurveyLayout(str(small_sky))
    bricks = read_table(str(data), "survey_bricks")
    assert bricks.equals(read_bricks_table(layout.bricks_table_paths())) and bricks.num_rows == 7

    galaxies = read_table(str(data), "sweep_lrgs", None)
    flags = [galaxies[f"is_{name}"].to_numpy(zero_copy_only=False) for name, *_ in LRG_VARIANTS]
    counts = [int(f.sum()) for f in flags]
    assert counts == sorted(counts) and len(set(counts)) == 5  # nested and clearly different
    assert all(np.all(~inner | outer) for inner, outer in zip(flags[:-1], flags[1:]))
    brick_counts = read_table(str(data), "brick_lrg_counts")
    assert int(pa.compute.sum(brick_counts["n_lrg_v3_color_relaxed"]).as_py()) == counts[2]
    assert int(pa.compute.sum(brick_counts["n_gal"]).as_py()) == galaxies.num_rows

    parents = {split: read_table(str(data), "parent_sample", split) for split in SPLITS}
    assert all(p.num_rows > 0 for p in parents.values()), {s: p.num_rows for s, p in parents.items()}
    # the small sky's planted lenses (known_lenses from its mock_lenscat.csv) are in no split
    lenses = read_table(str(data), "known_lenses")
    assert lenses.num_rows == 2 and set(lenses["tier"].to_pylist()) == {"A"}
    for parent in parents.values():
        near, _ = nearest_known_lens(parent["ra"].to_numpy(), parent["dec"].to_numpy(), lenses, 11.8)
        assert (near < 0).all()
    excluded = sum(
        latest_metadata(instance, AssetKey("parent_sample"), s)["excluded_near_known_lenses"] for s in SPLITS
    )
    assert excluded >= 1  # a planted lens is a v3 LRG of a selected region on this sky
    union = pa.concat_tables(parents.values())
    assert union.num_rows == len(set(zip(union["brickname"].to_pylist(), union["objid"].to_pylist())))
    assert np.all(union["is_v3_color_relaxed"].to_numpy(zero_copy_only=False))
    assert union["row_id"].to_pylist() == spark_xxhash64(union["brickname"], union["objid"]).tolist()
    assert all(isinstance(s, list) and s for s in union["selection_sets"].to_pylist())

    # re-materializing a partition replaces it with bit-identical bytes
    key = next(iter(sweeps))
    path = data / "sweep_lrgs" / key / "part-00000.parquet"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    run_assets(instance, resources, ["sweep_lrgs"], key)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_manifest_partitions_materialize_with_their_checks(small_sky, tmp_path, instance):
    data = tmp_path / "data"
    resources = build_resources(data, small_sky)
    catalog_phases(instance, resources)
    bank = run_assets(
        instance,
        resources,
        ["source_bank"],
        run_config={"ops": {"source_bank": {"config": {"n_generated": 40}}}},
    )
    assert sorted(e.check_name for e in bank.get_asset_check_evaluations()) == [
        "bank_not_noise",
        "bank_templates_valid",
    ]
    write_spec(
        data, "one", "selection_sets: [topk_density]\nmanifest: {n_galaxies: 40, brightness_mode: snr}"
    )
    register_specs(instance, data)
    tables = {}
    for split in SPLITS:
        result = run_assets(instance, resources, ["injection_manifest"], f"one|{split}")
        assert sorted(e.check_name for e in result.get_asset_check_evaluations()) == [
            "manifest_balance",
            "manifest_controls",
            "manifest_integrity",
        ]
        tables[split] = read_table(str(data), "injection_manifest", f"one|{split}")
        parent = read_table(str(data), "parent_sample", split)
        assert set(tables[split]["row_id"].to_pylist()) <= set(parent["row_id"].to_pylist())
        assert tables[split]["region_split"].unique().to_pylist() == [split]
    assert not set(tables["train"]["row_id"].to_pylist()) & set(tables["val"]["row_id"].to_pylist())
    owners = dict(
        zip(*read_table(str(data), "source_bank", columns=["template_index", "split"]).to_pydict().values())
    )
    for (
        split,
        table,
    ) in tables.items():  # every template drawn is one of the bank's, owned by the task's split
        used = [i for i in table["template_index"].to_pylist() if i >= 0]
        assert used and all(owners[i] == split for i in used) and table["n_templates"][0].as_py() == 40
    materialization = (
        instance.fetch_materializations(AssetKey("injection_manifest"), limit=1)
        .records[0]
        .asset_materialization
    )
    assert materialization.metadata["dataset_spec"].value["manifest"]["brightness_mode"] == "snr"
    assert len(materialization.metadata["psf_edges_arcsec"].value) == 5
    # the partition says which spec made it: in the file's metadata and in dataset.json beside it
    folder = data / "injection_manifest" / "one|test"
    spec = recorded_spec(str(folder))
    assert spec.name == "one" and spec.manifest.n_galaxies == 40 and spec.selection_sets == ("topk_density",)
    assert pq.read_schema(folder / "part-00000.parquet").metadata[b"dhs.spec_hash"].decode() == spec.spec_hash
    # a re-run gives the same bytes
    path = folder / "part-00000.parquet"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    run_assets(instance, resources, ["injection_manifest"], "one|test")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    # a backfill's single run over a range: a dataset of two sets, every split from one pass, every one checked
    write_spec(data, "two", "selection_sets: [topk_n_lrg, topk_area_weighted]\nmanifest: {n_galaxies: 40}")
    register_specs(instance, data)
    ranged = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey("injection_manifest")],
        instance=instance,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": "two|train",
            "dagster/asset_partition_range_end": "two|test",
        },
    )
    assert ranged.success
    evaluations = {e.check_name: e for e in ranged.get_asset_check_evaluations()}
    assert all(e.passed for e in evaluations.values()) and len(evaluations) == 3
    assert evaluations["manifest_integrity"].metadata["partitions_checked"].value == 3
    assert evaluations["manifest_controls"].metadata["partitions_checked"].value == 6  # per split and set
    for key in ("two|train", "two|test"):
        built = read_table(str(data), "injection_manifest", key)
        sets = {s.split("_k")[0] for s in built["selection_set_id"].to_pylist()}
        assert sets == {"topk_n_lrg", "topk_area_weighted"}
    # Phase 4c on one partition: a stamp per task with the manifest's columns, the controls their cutouts (checked)
    cutouts = run_assets(
        instance, resources, ["galaxy_cutouts"], "train"
    )  # the split's galaxies, each brick read once
    cached = read_table(str(data), "galaxy_cutouts", "train", columns=["row_id"])["row_id"].to_pylist()
    assert sorted(cached) == sorted(read_table(str(data), "parent_sample", "train")["row_id"].to_pylist())
    assert cutouts.asset_materializations_for_node("galaxy_cutouts")[0].metadata["cutout_size_px"].value == 96
    stamps = run_assets(instance, resources, ["injected_stamps"], "one|train")
    assert sorted(e.check_name for e in stamps.get_asset_check_evaluations()) == [
        "stamps_class_symmetry",
        "stamps_column_audit",
        "stamps_null_injection",
        "stamps_shortcut_gate",
        "stamps_split_leakage",
        "stamps_valid",
    ]
    injected = read_table(str(data), "injected_stamps", "one|train")
    assert sorted(injected["task_id"].to_pylist()) == sorted(tables["train"]["task_id"].to_pylist())
    assert set(tables["train"].column_names) <= set(injected.column_names)
    ok = injected.filter(
        pa.compute.and_(pa.compute.equal(injected["status"], "ok"), pa.compute.invert(injected["is_control"]))
    )
    assert ok.num_rows > 0 and pa.compute.min(ok["arc_snr_peak"]).as_py() >= 0.8 * (
        1 - 1e-6
    )  # the frozen peak S/N targets were met
    # a manifest row broken after the fact fails its stamp for an unexpected reason, and stamps_valid blocks
    manifest = read_table(str(data), "injection_manifest", "one|train")
    row = int(np.flatnonzero(~manifest["is_control"].to_numpy(zero_copy_only=False))[0])
    theta_e = manifest["theta_e_arcsec"].to_numpy().copy()
    theta_e[row] = np.nan
    write_table(
        manifest.set_column(
            manifest.schema.get_field_index("theta_e_arcsec"), "theta_e_arcsec", pa.array(theta_e)
        ),
        str(data),
        "injection_manifest",
        "one|train",
        metadata=parquet_metadata(spec),
    )
    broken = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey("injected_stamps")],
        partition_key="one|train",
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    valid = next(e for e in broken.get_asset_check_evaluations() if e.check_name == "stamps_valid")
    assert not valid.passed and valid.metadata["failed_unexpected"].value == 1
    assert (
        "failed for an unexpected reason, e.g. 'manifest: theta_e_arcsec nan"
        in valid.metadata["problems"].value
    )
    # a spec edited after its stamps were built: the stamps refuse the old manifest, naming the spec file
    write_spec(
        data, "one", "selection_sets: [topk_density]\nmanifest: {n_galaxies: 30, brightness_mode: snr}"
    )
    message = _failure(instance, resources, "injected_stamps", "one|train")
    assert "one.yaml: edited after the injection_manifest partition one|train was built" in message
    # a bad spec fails the manifest with the file and key
    write_spec(data, "one", "selection_sets: [topk_density]\nmanifest: {tier: everything}")
    assert "one.yaml: manifest.tier" in _failure(instance, resources, "injection_manifest", "one|train")


def _failure(instance, resources, asset: str, partition: str) -> str:
    """The error of a materialization of ``asset``'s ``partition`` that must fail."""
    result = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey(asset)],
        partition_key=partition,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    return next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.to_string()


def test_source_bank_from_real_hst_galaxies(reference_data, small_sky, tmp_path, instance):
    folder = reference_data / "galsim_cosmos"
    resources = build_resources(tmp_path / "data", small_sky)
    files = [str(folder / "AEGIS_F606w_catalog.fits"), str(folder / "AEGIS_F814w_catalog.fits")]
    result = run_assets(
        instance,
        resources,
        ["source_bank"],
        run_config={"ops": {"source_bank": {"config": {"catalog_files": files}}}},
    )
    metadata = result.asset_materializations_for_node("source_bank")[0].metadata
    assert (
        metadata["bands"].value == "F606W,F814W"
        and not metadata["synthetic"].value
        and metadata["templates"].value >= 3
    )
    assert metadata["distributions"].value.startswith("![HLR and S/N](data:image/png;base64,")
    assert read_table(str(tmp_path / "data"), "source_bank").num_rows == metadata["templates"].value
    missing = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey("source_bank")],
        instance=instance,
        resources=resources,
        raise_on_error=False,
        run_config={
            "ops": {
                "source_bank": {
                    "config": {"catalog_files": [str(folder / "real_galaxy_catalog_23.5_example.fits")]}
                }
            }
        },
    )
    assert not missing.success
    failure = next(e for e in missing.all_events if e.is_step_failure)
    assert "real_galaxy_images.fits" in failure.step_failure_data.error.to_string()


def test_a_missing_sweep_partition_is_an_error_naming_the_sweep(small_sky, tmp_path, instance):
    sky = tmp_path / "sky"
    shutil.copytree(small_sky, sky)
    data = tmp_path / "data"
    resources = build_resources(data, sky)
    catalog_phases(instance, resources)
    extra = Path(SurveyLayout(str(sky)).sweep_dir) / "sweep-060p000-065p005.fits"
    shutil.copy(SurveyLayout(str(sky)).sweep_paths()[0], extra)
    result = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey("parent_sample")],
        partition_key="train",
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "sweep-060p000-065p005.fits" in failure.step_failure_data.error.to_string()


def test_regions_run_config_reaches_the_core(small_sky, tmp_path, instance):
    data = tmp_path / "data"
    resources = build_resources(data, small_sky)
    config = {"ops": {"regions": {"config": {"split_mode": "brick_hash", "healpix_nside": None}}}}
    catalog_phases(instance, resources, run_config=config)
    region_bricks = read_table(str(data), "region_bricks")
    expected = brick_hash_split(region_bricks["brickname"].to_pylist())
    assert region_bricks["split"].to_pylist() == expected.tolist()
    metrics = read_table(str(data), "region_metrics")
    assert metrics["region_split"].null_count == metrics.num_rows


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
    instance.add_dynamic_partitions(sweep_partitions.name, ["sweep-060p000-065p005"])
    (sweep_dir / f"{keys[0]}.fits").unlink()  # a sweep file is deleted from the survey
    fourth = sweep_file_sensor(build_sensor_context(instance=instance, resources=resources))
    assert [r.asset_selection for r in fourth.run_requests] == [[AssetKey("brick_lrg_counts")]]
    assert fourth.dynamic_partitions_requests[0].partition_keys == [keys[0]]
    assert type(fourth.dynamic_partitions_requests[0]).__name__ == "DeleteDynamicPartitionsRequest"
    shutil.copy(sweep_dir / f"{keys[1]}.fits", sweep_dir / f"{keys[1]} (1).fits")  # a stray copy
    with pytest.raises(InputFileError, match=r"\(1\).fits: not DR10 sweep file name"):
        sweep_file_sensor(build_sensor_context(instance=instance, resources=resources))


def test_stale_duplicate_and_empty_sweeps_are_caught(small_sky, tmp_path, instance):
    """Item 4: a deleted sweep kept feeding the counts; the same tile twice was accepted. Item 5: an empty sweep and a
    brick missing from the bricks table lost galaxies silently. Item 10: messages that name the folder."""
    sky = tmp_path / "sky"
    shutil.copytree(small_sky, sky)
    data = tmp_path / "data"
    resources = build_resources(data, sky)
    sweeps = catalog_phases(instance, resources)
    before = read_table(str(data), "brick_lrg_counts")
    gone = sorted(sweeps)[0]
    Path(sweeps[gone]).unlink()
    counts = run_assets(instance, resources, ["brick_lrg_counts"])
    after = read_table(str(data), "brick_lrg_counts")
    assert after["n_gal"].to_numpy().sum() < before["n_gal"].to_numpy().sum()
    assert (
        counts.asset_materializations_for_node("brick_lrg_counts")[0].metadata["vanished_sweeps"].value
        == gone
    )
    layout = SurveyLayout(str(sky))
    other = sorted(sweeps)[1]
    shutil.copy(sweeps[other], sweeps[other] + ".gz")  # the same tile twice
    with pytest.raises(InputFileError, match="the same sweep tile twice"):
        discover_sweep_files(layout)
    for path in layout.sweep_paths():
        os.remove(path)
    with pytest.raises(InputFileError, match=r"sweep/10.1: no sweep files"):
        from dhs_assets.catalog.partitions import require_every_sweep

        require_every_sweep(discover_sweep_files(layout), layout.sweep_dir, str(data))


def test_an_empty_sweep_and_a_brick_missing_from_the_bricks_table_fail_their_checks(
    small_sky, tmp_path, instance
):
    from astropy.io import fits

    sky = tmp_path / "sky"
    shutil.copytree(small_sky, sky)
    layout = SurveyLayout(str(sky))
    sweeps = discover_sweep_files(layout)
    first = sorted(sweeps)[0]
    with fits.open(sweeps[first]) as hdul:  # the same columns, no rows
        hdul[1].data = hdul[1].data[:0]
        hdul.writeto(sweeps[first], overwrite=True)
    bricks_path = layout.bricks_table_paths()[0]
    with fits.open(
        sweeps[sorted(sweeps)[-1]]
    ) as hdul:  # a brick with galaxies in a sweep that is not emptied
        dropped = str(hdul[1].data["BRICKNAME"][0]).strip()
    with fits.open(bricks_path) as hdul:
        keep = np.char.strip(hdul[1].data["brickname"].astype(str)) != dropped
        hdul[1].data = hdul[1].data[keep]
        hdul.writeto(bricks_path, overwrite=True)
    resources = build_resources(tmp_path / "data", sky)
    run_assets(instance, resources, ["survey_bricks"])
    instance.add_dynamic_partitions(sweep_partitions.name, list(sweeps))
    empty = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey("sweep_lrgs")],
        partition_key=first,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    verdicts = {e.check_name: e for e in empty.get_asset_check_evaluations()}
    assert (
        not verdicts["sweep_lrgs_drops"].passed
        and verdicts["sweep_lrgs_drops"].metadata["empty_sweep"].value == 1
    )
    unknown = 0
    for key in sorted(sweeps)[1:]:  # the sweep holding the dropped brick fails its check, naming the rule
        result = materialize(
            [*ASSETS, *CHECKS],
            selection=[AssetKey("sweep_lrgs")],
            partition_key=key,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        valid = next(e for e in result.get_asset_check_evaluations() if e.check_name == "sweep_lrgs_valid")
        unknown += valid.metadata["brick_not_in_bricks_table"].value
    assert unknown > 0
    run_assets(instance, resources, ["brick_lrg_counts"])
    regions = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey("region_bricks"), AssetKey("region_metrics")],
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    verdict = next(e for e in regions.get_asset_check_evaluations() if e.check_name == "galaxies_have_bricks")
    assert not verdict.passed and verdict.metadata["bricks_not_in_bricks_table_examples"].value == dropped
    assert verdict.metadata["galaxies_without_brick"].value > 0


def test_a_bricks_table_without_a_column_dhs_needs_is_an_error_naming_the_file(small_sky, tmp_path, instance):
    from astropy.io import fits

    sky = tmp_path / "sky"
    shutil.copytree(small_sky, sky)
    path = SurveyLayout(str(sky)).bricks_table_paths()[0]
    with fits.open(path) as hdul:
        hdul[1].columns.change_name("psfsize_r", "psf_fwhm_r")
        hdul.writeto(path, overwrite=True)
    result = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey("survey_bricks")],
        instance=instance,
        resources=build_resources(tmp_path / "data", sky),
        raise_on_error=False,
    )
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert (
        "survey-bricks-dr10-south.fits.gz: missing column(s) psfsize_r"
        in failure.step_failure_data.error.to_string()
    )


def test_the_instance_queues_runs_of_one_partition_and_fails_dead_runs(tmp_path, monkeypatch):
    """Items 2 and 3: one run per partition key at a time; a run whose process died is marked failed (run monitoring),
    so it frees its slot in the queue."""
    (tmp_path / "home").mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home/dagster.yaml", tmp_path / "home")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with DagsterInstance.get() as instance:
        limits = instance.run_coordinator.get_run_queue_config().tag_concurrency_limits
        assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0


def test_a_survey_root_without_a_bricks_table_names_the_root(tmp_path, instance):
    root = tmp_path / "dr10 [south]"
    (root / "sweep" / "10.1").mkdir(parents=True)
    result = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey("survey_bricks")],
        instance=instance,
        resources=build_resources(tmp_path / "data", root),
        raise_on_error=False,
    )
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert (
        f"{root}: no bricks table (survey-bricks*.fits[.gz]) in this survey root"
        in failure.step_failure_data.error.to_string()
    )


def test_source_bank_fetches_a_missing_catalogue(reference_data, small_sky, tmp_path, instance):
    from dhs_core.survey.serve import SurveyServer
    from tests.core.bank.test_bank import _aegis_archive

    _aegis_archive(reference_data, tmp_path / "portal")
    resources = build_resources(tmp_path / "data", small_sky)
    with SurveyServer(tmp_path / "portal") as server:
        config = {
            "catalog_files": ["AEGIS_F606w_catalog.fits", "AEGIS_F814w_catalog.fits"],
            "catalog_url": f"{server.url}/AEGIS_training_sample.tar.gz",
        }
        result = run_assets(
            instance, resources, ["source_bank"], run_config={"ops": {"source_bank": {"config": config}}}
        )
    metadata = result.asset_materializations_for_node("source_bank")[0].metadata
    assert metadata["bands"].value == "F606W,F814W" and metadata["templates"].value >= 3
    assert (tmp_path / "data" / "source_catalogs" / "AEGIS_training_sample" / ".unpacked").exists()


def test_known_lens_exclusion_fails_when_a_galaxy_near_a_known_lens_slips_through(
    small_sky, tmp_path, instance
):
    data = tmp_path / "data"
    resources = build_resources(data, small_sky)
    catalog_phases(instance, resources)
    # a catalogue that gained a lens on a galaxy of the train split after the parent sample was built
    lenses = read_table(str(data), "known_lenses")
    galaxy = read_table(str(data), "parent_sample", "train").slice(0, 1).to_pylist()[0]
    added = {
        **lenses.slice(0, 1).to_pylist()[0],
        "name": "NEW-LENS",
        "ra": galaxy["ra"] + 5 / 3600,
        "dec": galaxy["dec"],
    }
    write_table(
        pa.concat_tables([lenses, pa.Table.from_pylist([added], schema=lenses.schema)]),
        str(data),
        "known_lenses",
    )
    result = materialize(
        [*ASSETS, *CHECKS],
        selection=AssetSelection.checks(AssetCheckKey(AssetKey("parent_sample"), "known_lens_exclusion")),
        tags={"dagster/partition": "train"},  # the check alone, as the UI runs it on a partition
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["galaxies_near_known_lenses_train"].value == 1
    assert "NEW-LENS" in evaluation.metadata["examples"].value


def test_the_evaluation_loop_from_stamps_to_the_selection_function(small_sky, tmp_path, instance):
    """Anchors and hard negatives cut, the baseline trained and its scores dropped, the scores sensor registering
    them and launching the selection function, a user's scores with bad rows reported, a dataset no spec names
    left out."""
    data = tmp_path / "data"
    resources = build_resources(data, small_sky)
    catalog_phases(instance, resources)
    run_assets(
        instance,
        resources,
        ["source_bank"],
        run_config={"ops": {"source_bank": {"config": {"n_generated": 40}}}},
    )
    write_spec(
        data, "one", "selection_sets: [topk_density]\nmanifest: {n_galaxies: 40, brightness_mode: snr}"
    )
    register_specs(instance, data)
    for split in ("train", "test"):
        run_assets(instance, resources, ["galaxy_cutouts"], split)
        run_assets(instance, resources, ["injection_manifest", "injected_stamps"], f"one|{split}")
    run_assets(instance, resources, ["anchor_stamps"])
    negatives = run_assets(instance, resources, ["hard_negatives"])
    meta = negatives.asset_materializations_for_node("hard_negatives")[0].metadata
    assert meta["selection"].value == "sweep_proxy" and meta["dagster/row_count"].value > 0
    run_assets(
        instance,
        resources,
        ["baseline_scores"],
        "one",
        run_config={"ops": {"baseline_scores": {"config": {"train_dataset": "one"}}}},
    )
    dropped = read_scores(scores_dir(str(data), "one", "baseline"))
    stamps = read_table(str(data), "injected_stamps", "one|test", columns=["task_id"])["task_id"].to_pylist()
    assert set(stamps) <= set(dropped["task_id"].to_pylist())
    assert any(t.startswith("anchor/") for t in dropped["task_id"].to_pylist())

    sensor_resources = {"data_root": resources["data_root"]}
    with build_sensor_context(instance=instance, resources=sensor_resources) as context:
        tick = model_scores_sensor(context)
    assert tick.dynamic_partitions_requests[0].partition_keys == ["baseline"]
    assert [(r.partition_key, r.asset_selection) for r in tick.run_requests] == [
        ("one|baseline", [AssetKey("selection_function")])
    ]
    instance.add_dynamic_partitions("models", ["baseline"])
    for event in tick.asset_events:
        instance.report_runless_asset_event(event)
    with build_sensor_context(instance=instance, resources=sensor_resources) as context:
        again = model_scores_sensor(context)
    assert not again.run_requests and not again.asset_events  # nothing changed: nothing launched

    # the small sky's test split has no control: the train split's set the thresholds
    config = {
        "ops": {"selection_function": {"config": {"splits": ["test"], "control_partitions": ["one|train"]}}}
    }
    result = run_assets(instance, resources, ["selection_function"], "one|baseline", run_config=config)
    meta = result.asset_materializations_for_node("selection_function")[0].metadata
    folder = data / "selection_function" / "one|baseline"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["scores"]["unknown_ids"] == 0 and summary["scores"]["not_evaluated_here"] > 0
    assert summary["scores"]["unscored"]["injections"] == 0 and 0 <= meta["auc"].value <= 1
    assert "completeness at FPR" in (folder / "report.html").read_text()
    table = read_table(str(data), "selection_function", "one|baseline")
    assert set(table["grouping"].to_pylist()) >= {"theta_e_arcsec,snr_bin,psf_bin,depth_bin", "all"}

    # a user's model: an unknown id, a NaN score, a stamp left out; a folder for a dataset no spec names
    mine = dropped.filter(pa.compute.is_in(dropped["task_id"], pa.array(stamps[1:]))).select(
        ["task_id", "score"]
    )
    mine = mine.set_column(1, "score", pa.array([np.nan] + mine["score"].to_pylist()[1:], pa.float64()))
    write_scores(
        pa.concat_tables([mine, pa.table({"task_id": ["nobody"], "score": [0.5]})]),
        scores_dir(str(data), "one", "mine"),
    )
    write_scores(mine, scores_dir(str(data), "nosuch", "mine"))
    assert register_scores(instance, data) == ["one|mine"]
    run_assets(instance, resources, ["selection_function"], "one|mine", run_config=config)
    accounting = json.loads((data / "selection_function" / "one|mine" / "summary.json").read_text())["scores"]
    assert accounting["unknown_examples"] == ["nobody"] and accounting["nan"] == 1
    # the stamp left out, and the train split's controls this model never scored: all reported, all counted
    assert accounting["unscored"]["injections"] == 1 and accounting["unscored"]["controls"] > 0
