"""Reading a model's dropped scores: every file of the folder, NaN kept, bad files and doubled ids named; the
folders that are partitions; a version that follows the files."""

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dhs_core.errors import InputFileError, MissingColumnError
from dhs_core.evaluate.scores import read_scores, scored_models, scores_dir, scores_version, write_scores


def _drop(folder, name, ids, values):
    os.makedirs(folder, exist_ok=True)
    pq.write_table(
        pa.table({"task_id": ids, "score": pa.array(values, pa.float64())}), os.path.join(folder, name)
    )


def test_every_file_is_read_nan_kept(tmp_path):
    folder = scores_dir(tmp_path, "grid", "mine")
    _drop(folder, "a.parquet", ["t1", "t2"], [0.1, np.nan])
    _drop(folder, "b.parquet", ["anchor/X"], [0.9])
    scores = read_scores(folder)
    assert scores["task_id"].to_pylist() == ["t1", "t2", "anchor/X"]
    assert np.isnan(scores["score"][1].as_py()) and scores["file"].to_pylist() == ["a.parquet"] * 2 + [
        "b.parquet"
    ]
    assert scored_models(tmp_path) == [("grid", "mine")]


def test_an_id_scored_in_two_files_is_an_error_naming_both(tmp_path):
    folder = scores_dir(tmp_path, "grid", "mine")
    _drop(folder, "a.parquet", ["t1", "t2"], [0.1, 0.2])
    _drop(folder, "b.parquet", ["t2"], [0.3])
    with pytest.raises(InputFileError, match=r"'t2' scored 2 times \(in a.parquet, b.parquet\)"):
        read_scores(folder)


def test_bad_score_files_are_named(tmp_path):
    folder = scores_dir(tmp_path, "grid", "mine")
    with pytest.raises(InputFileError, match="no score files"):
        read_scores(folder)
    os.makedirs(folder)
    pq.write_table(pa.table({"id": ["t1"], "score": [0.1]}), os.path.join(folder, "a.parquet"))
    with pytest.raises(MissingColumnError, match="a.parquet"):
        read_scores(folder)
    with open(os.path.join(folder, "a.parquet"), "w") as handle:
        handle.write("<html>not parquet</html>")
    with pytest.raises(InputFileError, match="a.parquet: not a Parquet file"):
        read_scores(folder)
    pq.write_table(pa.table({"task_id": ["t1"], "score": ["high"]}), os.path.join(folder, "a.parquet"))
    with pytest.raises(InputFileError, match="score is not numeric"):
        read_scores(folder)


def test_the_version_follows_the_files_and_a_write_is_whole(tmp_path):
    folder = scores_dir(tmp_path, "grid", "mine")
    path = write_scores(pa.table({"task_id": ["t1"], "score": [0.5]}), folder)
    first = scores_version(folder)
    assert scores_version(folder) == first
    write_scores(pa.table({"task_id": ["t1"], "score": [0.6]}), folder)
    assert scores_version(folder) != first and os.listdir(folder) == [os.path.basename(path)]
    os.makedirs(os.path.join(tmp_path, "scores", "grid", "bad name"))  # not a partition name: left out
    _drop(os.path.join(tmp_path, "scores", "grid", "bad name"), "a.parquet", ["t"], [0.0])
    assert scored_models(tmp_path) == [("grid", "mine")]
