"""Phase 4c: manifest rows become engine tasks, and stamps keep every manifest column."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dhs_core.bank import open_bank
from dhs_core.errors import MissingColumnError
from dhs_core.inject.columns import TASK_COLUMNS
from dhs_core.inject.engine import EngineConfig
from dhs_core.pixels import pixels_array
from dhs_core.stamps.build import brick_groups, engine_tasks, inject_brick
from dhs_core.stamps.read import read_sample, read_stamps, sample_task_ids
from dhs_core.survey.layout import SurveyLayout


def test_manifest_rows_become_stamps(small_sky, stamp_bank, make_manifest):
    """Galaxies of the mock sky's sweeps through a real manifest and the coadds: order, keys and S/N targets."""
    layout = SurveyLayout(str(small_sky))
    manifest = make_manifest(small_sky)
    tasks = engine_tasks(manifest)
    assert tasks.column_names == list(TASK_COLUMNS)  # the manifest's own names, no renaming
    assert tasks.equals(manifest.select(list(TASK_COLUMNS)))
    with open_bank(stamp_bank) as opened:
        stamps = pa.concat_tables(
            [
                inject_brick(manifest.take(rows), layout, opened, EngineConfig())
                for _, rows in brick_groups(manifest)
            ]
        )
    in_brick_order = manifest.take(
        np.argsort(manifest["brickname"].to_numpy(zero_copy_only=False), kind="stable")
    )
    assert stamps["task_id"].equals(in_brick_order["task_id"])
    assert stamps.select(manifest.column_names).equals(in_brick_order)  # every manifest column, unchanged
    ok = stamps.filter(
        pa.compute.and_(pa.compute.equal(stamps["status"], "ok"), pa.compute.invert(stamps["is_control"]))
    )
    assert set(ok["target_snr_definition"].to_pylist()) == {
        "peak"
    }  # the seed's bins are in peak S/N, the default
    np.testing.assert_allclose(
        ok["arc_snr_peak"].to_numpy(), ok["target_arc_snr"].to_numpy(), rtol=1e-6
    )  # the frozen S/N target, met
    integrated = make_manifest(small_sky, snr_definition="integrated")
    with open_bank(stamp_bank) as opened:
        rows = pa.concat_tables(
            [
                inject_brick(integrated.take(r), layout, opened, EngineConfig())
                for _, r in brick_groups(integrated)
            ]
        )
    rows = rows.filter(
        pa.compute.and_(pa.compute.equal(rows["status"], "ok"), pa.compute.invert(rows["is_control"]))
    )
    assert rows.num_rows and np.allclose(
        rows["arc_snr_integrated"].to_numpy(), rows["target_arc_snr"].to_numpy(), rtol=1e-6
    )
    with pytest.raises(MissingColumnError, match="theta_e_arcsec"):
        engine_tasks(manifest.drop_columns(["theta_e_arcsec"]))


def test_reading_no_columns_or_a_negative_sample_is_an_error(small_sky, stamp_bank, make_manifest, tmp_path):
    """Item 11: ``read_stamps(columns=[])`` read every column with all pixels; ``sample_task_ids(n=-1)`` gave all ids but one."""
    from dhs_core.errors import ConfigError
    from dhs_core.stamps.partition import StampsJob, write_stamps_partition
    from dhs_core.stamps.read import read_stamps, sample_task_ids

    folder, _ = write_stamps_partition(
        make_manifest(small_sky).slice(0, 4),
        StampsJob(str(small_sky), stamp_bank, workers=1),
        str(tmp_path),
        "injected_stamps",
        "p",
    )
    with pytest.raises(ConfigError, match="read_stamps columns"):
        read_stamps(folder, [])
    with pytest.raises(ConfigError, match="sample_task_ids n"):
        sample_task_ids(folder, -1)
    assert sample_task_ids(folder, 0) == [] and len(sample_task_ids(folder, 10)) == 4


def test_the_stamps_step_revalidates_its_manifest(small_sky, stamp_bank, make_manifest):
    """Item 6: an S/N target of 0 gave an ok stamp with an all-zero arc (a positive with no arc), -20 an ok negative arc,
    1e6 an ok arc of 1e3 nMgy. Bad injection rows now fail with their reason and their cutout as stamp."""
    import pyarrow.compute as pc

    from dhs_core.stamps.build import MANIFEST_REJECTED

    manifest = make_manifest(small_sky)
    injections = np.flatnonzero(~manifest["is_control"].to_numpy(zero_copy_only=False))[:8]
    edits = [
        ("target_snr_definition", "median"),
        ("target_arc_snr", 0.0),
        ("target_arc_snr", -20.0),
        ("target_arc_snr", 1e6),
        ("target_arc_snr", np.nan),
        ("theta_e_arcsec", 0.0),
        ("lens_e1", 1.2),
        ("template_index", 10_000),
    ]
    for row, (column, value) in zip(injections, edits):
        values = manifest[column].to_numpy(zero_copy_only=False).copy()
        values[row] = value
        manifest = manifest.set_column(
            manifest.schema.get_field_index(column), column, pa.array(values, manifest[column].type)
        )
    layout = SurveyLayout(str(small_sky))
    with open_bank(stamp_bank) as opened:
        stamps = pa.concat_tables(
            [
                inject_brick(manifest.take(rows), layout, opened, EngineConfig())
                for _, rows in brick_groups(manifest)
            ]
        )
    edited = stamps.filter(pc.is_in(stamps["task_id"], manifest["task_id"].take(pa.array(injections))))
    assert edited["status"].to_pylist() == ["failed"] * 8
    reasons = edited["status_reason"].to_pylist()
    assert all(MANIFEST_REJECTED in r for r in reasons), reasons
    for column, _ in edits:
        assert any(column in r for r in reasons), column
    assert not np.any(pixels_array(edited["arc"], "arc"))
    assert (stamps["status"].to_numpy(zero_copy_only=False) == "ok").sum() > 0  # the other rows are untouched


def test_a_sample_of_a_partition_of_several_files_comes_back_in_file_order(tmp_path):
    """A sample read from several files came back in whatever order DuckDB's threads finished, so the shortcut gate's
    folds, and its AUC, changed from one run of the demo to the next (0.675 and 0.728 on the same stamps)."""
    folder = tmp_path / "injected_stamps" / "d|train"
    folder.mkdir(parents=True)
    expected = []
    for part in range(4):
        ids = [f"p{part}-{i:05d}" for i in range(20_000)]
        expected += ids
        pq.write_table(
            pa.table({"task_id": ids, "status": ["ok"] * len(ids)}),
            folder / f"part-{part:05d}.parquet",
            row_group_size=2_000,
        )
    sample = set(sample_task_ids(str(folder), 5_000, seed=3))
    in_file_order = [t for t in expected if t in sample]
    for _ in range(5):
        _, meta = read_stamps(str(folder), ["task_id"], task_ids=list(sample))
        assert meta["task_id"].to_pylist() == in_file_order
    _, meta = read_sample([str(folder)], 5_000, ["task_id"], seed=3)
    assert meta["task_id"].to_pylist() == in_file_order
