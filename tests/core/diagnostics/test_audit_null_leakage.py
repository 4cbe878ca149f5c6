"""Column audit, null injection through the engine, and split leakage, on real stamps and on planted leaks."""

import numpy as np
import pyarrow as pa

from dhs_core.bank import open_bank
from dhs_core.diagnostics.audit import SIGNAL_COLUMNS, TRAINING_EXPORT, column_audit
from dhs_core.diagnostics.leakage import split_leakage
from dhs_core.diagnostics.null_injection import null_injection, null_probe, null_stamps, zero_flux
from dhs_core.inject.engine import EngineConfig
from dhs_core.stamps.partition import StampsJob, write_stamps_partition
from dhs_core.stamps.read import read_stamps
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import write_table


def _audit_table(n, rng, leak=0.0):
    is_control = np.arange(n) % 2 == 0
    psf = rng.uniform(1.0, 1.6, n) + leak * ~is_control
    table = pa.table(
        {
            "row_id": np.arange(n),
            "is_control": is_control,
            "psfsize_g": psf,
            "psfsize_r": psf,
            "psfsize_z": psf,
            "psfdepth_mag5_r": rng.uniform(24, 25, n),
            "ebv": rng.uniform(0, 0.1, n),
        }
    )
    arrays = {
        "invvar": rng.uniform(1, 2, (n, 3, 4, 4)),
        "maskbits": (rng.random((n, 4, 4)) < 0.1).astype(np.int32),
    }
    return table, arrays


def test_column_audit_passes_clean_columns_and_names_a_leak():
    rng = np.random.default_rng(0)
    table, arrays = _audit_table(2000, rng)
    clean = column_audit(table, arrays)
    assert clean["passed"] and set(clean["columns"]) == set(TRAINING_EXPORT) - set(SIGNAL_COLUMNS)
    assert all(abs(c["auc"] - 0.5) < 0.05 for c in clean["columns"].values())
    leaky, arrays = _audit_table(
        2000, rng, leak=0.1
    )  # injections' PSF 0.1" wider: a model could read the label there
    result = column_audit(leaky, arrays)
    assert (
        not result["passed"]
        and not result["columns"]["psfsize_r"]["harmless"]
        and result["columns"]["ebv"]["harmless"]
    )
    labelled = column_audit(
        table.append_column("theta_e_arcsec", pa.array(np.ones(2000))),
        arrays,
        export=("image", "psfsize_r", "theta_e_arcsec", "is_control"),
    )
    assert not labelled["passed"] and labelled["label_bearing"] == ["theta_e_arcsec", "is_control"]


def test_null_injection_gives_the_cutouts_and_nothing_a_probe_can_find(
    small_sky, stamp_bank, make_manifest, tmp_path
):
    manifest = make_manifest(small_sky, per_sweep=60)
    folder, _ = write_stamps_partition(
        manifest, StampsJob(str(small_sky), stamp_bank, workers=1), str(tmp_path), "injected_stamps", "p"
    )
    arrays, meta = read_stamps(folder, ["row_id", "is_control", "image"], "is_control AND cutout_ok")
    _, tasks = read_stamps(folder, [c for c in manifest.column_names], "NOT is_control AND cutout_ok")
    assert zero_flux(tasks)["target_arc_snr"].to_pylist() == [0.0] * tasks.num_rows
    with open_bank(stamp_bank) as bank:
        result = null_injection(
            tasks,
            arrays["image"],
            meta["row_id"].to_numpy(),
            SurveyLayout(str(small_sky)),
            bank,
            EngineConfig(),
            folds=3,
        )
    assert (
        result["tasks"] == tasks.num_rows
        and result["bit_identical"] == tasks.num_rows
        and not result["any_light"]
    )
    assert result["probe_consistent_with_chance"] and result["passed"], result
    assert result["probe"]["permutations"] == 99 and result["probe"]["p_value"] > 0.01


def test_null_probe_fails_planted_leaks(default_sky, stamp_bank, make_manifest, tmp_path):
    """The one-sided test keeps its power: a one-pixel offset of the null stamps (the original's half-pixel centring
    bug, doubled) and a mask rule that differs by class (a 16 x 16 block blanked on every other injection) are found."""
    manifest = make_manifest(default_sky, per_sweep=60, n_galaxies=10_000)
    folder, _ = write_stamps_partition(
        manifest, StampsJob(str(default_sky), stamp_bank, workers=1), str(tmp_path), "injected_stamps", "p"
    )
    arrays, meta = read_stamps(folder, ["row_id", "image"], "is_control AND cutout_ok")
    _, tasks = read_stamps(folder, [c for c in manifest.column_names], "NOT is_control AND cutout_ok")
    with open_bank(stamp_bank) as bank:
        nulls, galaxies, counts = null_stamps(tasks, SurveyLayout(str(default_sky)), bank, EngineConfig())
    assert counts["bit_identical"] == counts["tasks"] == tasks.num_rows and len(nulls) > 200
    labels = np.r_[np.ones(len(nulls), bool), np.zeros(len(arrays["image"]), bool)]
    groups = np.r_[galaxies, meta["row_id"].to_numpy()]
    blanked = nulls.copy()
    blanked[::2, :, :16, :16] = 0.0
    for name, stamps in (("clean", nulls), ("shifted", np.roll(nulls, 1, axis=-1)), ("blanked", blanked)):
        result = null_probe(
            np.concatenate([stamps, arrays["image"]]).astype(np.float64),
            labels,
            groups,
            permutations=19,
            alpha=0.05,
        )
        if name == "clean":
            assert result["probe_consistent_with_chance"], result
        else:  # with 19 permutations the smallest p-value is 0.05: above every permuted AUC
            assert not result["probe_consistent_with_chance"] and result["probe"]["p_value"] == 0.05, (
                name,
                result,
            )
            assert result["probe"]["auc"] > 0.7, (name, result)


def test_split_leakage_counts_galaxies_bricks_and_regions_in_two_splits(tmp_path):
    clean = pa.table(
        {
            "row_id": [1, 2, 3],
            "brickname": ["a", "a", "b"],
            "region_id": ["r1", "r1", "r2"],
            "region_split": ["train", "train", "val"],
        }
    )
    write_table(clean, str(tmp_path), "stamps", "x")
    source = f"read_parquet('{tmp_path}/stamps/*/part-*.parquet')"
    assert split_leakage(source)["passed"]
    leak = pa.table({"row_id": [1], "brickname": ["b"], "region_id": ["r1"], "region_split": ["test"]})
    write_table(leak, str(tmp_path), "stamps", "y")
    result = split_leakage(source)
    assert (
        not result["passed"]
        and result["row_id"]["in_two_splits"] == 1
        and result["brickname"]["in_two_splits"] == 1
    )
    assert result["region_id"]["examples"] == ["r1: test, train"]
