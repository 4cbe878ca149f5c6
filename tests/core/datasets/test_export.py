"""Training export: only what a model may see plus the label, a card that says what it is, readable by pyarrow and by
Hugging Face datasets in streaming mode; and every bad input the export can meet."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dhs_core.datasets.export import LABEL, export_dataset, read_card
from dhs_core.datasets.record import (
    DATASET_FILE,
    HASH_KEY,
    parquet_metadata,
    recorded_spec,
    write_dataset_file,
)
from dhs_core.datasets.spec import load_spec
from dhs_core.diagnostics.audit import LABEL_BEARING, TRAINING_EXPORT
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.stamps import iter_batches
from dhs_core.stamps.partition import StampsJob, write_stamps_partition
from dhs_core.stamps.read import read_stamps
from dhs_core.tables import partition_dir, write_table
from tests.conftest import sky_manifest


def _spec(root: Path, bank: str, n_galaxies: int = 30) -> Path:
    folder = root / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "one.yaml"
    path.write_text(
        f"name: one\nselection_sets: [topk_density]\nbank: {bank}\n"
        f"manifest: {{n_galaxies: {n_galaxies}, brightness_mode: snr}}\n"
    )
    return path


@pytest.fixture(scope="module")
def data_root(small_sky, stamp_bank, tmp_path_factory):
    """A data root with dataset ``one``'s spec and its stamps for train and val (the same small manifest twice)."""
    root = tmp_path_factory.mktemp("export") / "data"
    spec = load_spec(str(_spec(root, stamp_bank)))
    manifest = sky_manifest(small_sky, per_sweep=12)
    job = StampsJob(str(small_sky), stamp_bank, workers=1, rows_per_group=16)
    for split in ("train", "val"):
        write_stamps_partition(manifest, job, str(root), "injected_stamps", f"one|{split}", spec=spec)
    return root


def test_the_stamps_record_their_spec(data_root):
    folder = Path(partition_dir(str(data_root), "injected_stamps", "one|train"))
    spec = recorded_spec(str(folder))
    assert spec.name == "one" and spec.manifest.n_galaxies == 30
    document = json.loads((folder / DATASET_FILE).read_text())
    assert document["spec_hash"] == spec.spec_hash and document["spec_file"].endswith("one.yaml")
    for part in folder.glob("part-*.parquet"):
        metadata = pq.read_schema(part).metadata
        assert metadata[HASH_KEY.encode()].decode() == spec.spec_hash
        assert json.loads(metadata[b"dhs.dataset_spec"]) == spec.record()


def test_an_export_holds_the_export_columns_and_the_label_of_the_ok_stamps(data_root, tmp_path):
    out = tmp_path / "export"
    card = export_dataset(str(data_root), "one", str(out), ("train", "val"), shard_rows=50)
    arrays, stamps = read_stamps(
        partition_dir(str(data_root), "injected_stamps", "one|train"), ["image", "status", "is_control"]
    )
    ok = np.array(stamps["status"].to_pylist()) == "ok"
    files = sorted((out / "data").glob("train-*.parquet"))
    assert (
        len(files) == -(-int(ok.sum()) // 50) and files[0].name == f"train-00000-of-{len(files):05d}.parquet"
    )
    table = pa.concat_tables(pq.read_table(f) for f in files)
    assert table.column_names == [*TRAINING_EXPORT, LABEL]
    assert not set(table.column_names) & (set(LABEL_BEARING) - {LABEL})
    assert table[LABEL].to_pylist() == (~np.array(stamps["is_control"].to_pylist())[ok]).astype(int).tolist()
    exported = np.asarray(table["image"].combine_chunks().flatten())  # plain lists of values, for any reader
    assert np.array_equal(
        exported.reshape(arrays["image"][ok].shape), arrays["image"][ok]
    )  # same pixels, in order
    # the card: counts per split and class, every shard's hash, the spec, and what the report said (none here)
    front = read_card(str(out))
    assert (
        front == card
        and front["dataset"] == "one"
        and front["spec_hash"]
        == recorded_spec(partition_dir(str(data_root), "injected_stamps", "one|val")).spec_hash
    )
    assert front["counts"]["train"] == {
        "rows": int(ok.sum()),
        "injection": int(pc.sum(table[LABEL]).as_py()),
        "control": int(ok.sum()) - int(pc.sum(table[LABEL]).as_py()),
    }
    for shard in front["shards"]["train"]:
        assert hashlib.sha256((out / shard["file"]).read_bytes()).hexdigest() == shard["sha256"]
    assert "no shortcut report" in front["diagnostics"]
    # a second export replaces the first, byte for byte the same
    again = export_dataset(str(data_root), "one", str(out), ("train", "val"), shard_rows=50)
    assert again["shards"] == card["shards"]


def test_the_shards_stream_through_hugging_face_datasets_and_pyarrow(data_root, tmp_path):
    datasets = pytest.importorskip("datasets")  # the dev extra installs it; make test always has it
    out = tmp_path / "export"
    card = export_dataset(str(data_root), "one", str(out), ("train",), shard_rows=40)
    streamed = datasets.load_dataset(
        "parquet", data_files={"train": str(out / "data" / "train-*.parquet")}, split="train", streaming=True
    )
    rows = list(streamed)
    assert len(rows) == card["counts"]["train"]["rows"] and set(rows[0]) == {*TRAINING_EXPORT, LABEL}
    first = pq.read_table(sorted((out / "data").glob("train-*.parquet"))[0])
    assert np.array_equal(np.asarray(rows[0]["image"], np.float32), first["image"][0].values.to_numpy())
    assert sum(r[LABEL] for r in rows) == card["counts"]["train"]["injection"]
    # the folder itself, through the card's configs
    by_card = datasets.load_dataset(str(out), split="train", streaming=True)
    assert sum(1 for _ in by_card) == card["counts"]["train"]["rows"]


def test_an_export_of_a_split_without_stamps_names_it(data_root, tmp_path):
    with pytest.raises(InputFileError, match=r"one\|test.*no stamps of split 'test'"):
        export_dataset(str(data_root), "one", str(tmp_path / "out"), ("train", "test"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="export --split"):
        export_dataset(str(data_root), "one", str(tmp_path / "out"), ("training",))
    with pytest.raises(InputFileError, match="no dataset spec named 'two'"):
        export_dataset(str(data_root), "two", str(tmp_path / "out"))


def test_a_spec_edited_after_its_stamps_were_built_is_refused(data_root, stamp_bank, tmp_path):
    path = _spec(data_root, stamp_bank, n_galaxies=31)
    try:
        with pytest.raises(InputFileError, match=r"one.yaml: edited after the stamps of .* were built"):
            export_dataset(str(data_root), "one", str(tmp_path / "out"), ("train",))
    finally:
        _spec(data_root, stamp_bank)
    assert path.exists() and not (tmp_path / "out").exists()


def test_splits_of_two_spec_versions_are_refused(data_root, stamp_bank, tmp_path):
    root = tmp_path / "data"
    for split in ("train", "val"):
        folder = Path(partition_dir(str(root), "injected_stamps", f"one|{split}"))
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(partition_dir(str(data_root), "injected_stamps", f"one|{split}"), folder)
    edited = load_spec(str(_spec(root, stamp_bank, n_galaxies=31)))
    table = pq.read_table(next(Path(folder).glob("part-*.parquet")))  # val rewritten under the edited spec
    for part in folder.glob("part-*.parquet"):
        part.unlink()
    write_table(table, str(root), "injected_stamps", "one|val", metadata=parquet_metadata(edited))
    write_dataset_file(edited, str(folder))
    with pytest.raises(InputFileError, match="built from different dataset specs"):
        export_dataset(str(root), "one", str(tmp_path / "out"), ("train", "val"))


def test_a_partition_without_its_spec_record_is_an_error(data_root, tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    with pytest.raises(InputFileError, match="dataset.json: missing"):
        recorded_spec(str(folder))


def test_a_folder_that_is_not_an_export_is_never_replaced(data_root, tmp_path):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    with pytest.raises(InputFileError, match="not a dhs export card"):
        export_dataset(str(data_root), "one", str(out), ("train",))
    assert (out / "thesis.tex").read_text() == "keep me"


def test_iter_batches_finds_a_dataset_by_name(data_root):
    ids = [
        t
        for b in iter_batches("one", "train", data_root=str(data_root), batch_size=64, columns=("task_id",))
        for t in b["task_id"]
    ]
    _, stamps = read_stamps(
        partition_dir(str(data_root), "injected_stamps", "one|train"), ["task_id", "status"]
    )
    ok = [t for t, s in zip(stamps["task_id"].to_pylist(), stamps["status"].to_pylist()) if s == "ok"]
    assert (
        ids == ok and ok
    )  # the ok stamps, in order (failed ones are left out: tests/core/stamps/test_iterate.py)
