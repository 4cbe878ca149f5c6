"""A model's scores as dhs reads them: Parquet files dropped into ``<data root>/scores/<dataset>/<model>/``, each
with a ``task_id`` (a stamp's, ``anchor/<name>`` or ``negative/<name>``) and a ``score`` (higher = more lens-like;
any scale). Every file of the folder is read (``*.parquet``, sorted by name) and concatenated; an id scored twice,
within a file or across files, is an error naming it and its files.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dhs_core.asset_names import MODEL_SCORES
from dhs_core.errors import InputFileError, MissingColumnError
from dhs_core.tables import write_file

SCORES_FOLDER = MODEL_SCORES
SCORE_COLUMNS = ("task_id", "score")
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")  # a dataset or model folder: one path segment, no separator


def scores_dir(data_root: str, dataset: str, model: str) -> str:
    """Where a model's scores of a dataset are dropped: ``<data_root>/scores/<dataset>/<model>/``."""
    return os.path.join(str(data_root), SCORES_FOLDER, dataset, model)


def score_files(folder: str) -> list[str]:
    """The score files of a folder (``*.parquet``, sorted; temporary files left by a writer ignored)."""
    return sorted(
        p
        for p in glob.glob(os.path.join(glob.escape(folder), "*.parquet"))
        if not os.path.basename(p).startswith(".")
    )


def scored_models(data_root: str) -> list[tuple[str, str]]:
    """Every ``(dataset, model)`` with at least one score file under ``<data_root>/scores/``, sorted; folders whose
    name is not one path segment of letters, digits, ``_ . -`` are not partitions and are left out."""
    found = []
    for folder in sorted(glob.glob(os.path.join(glob.escape(str(data_root)), SCORES_FOLDER, "*", "*"))):
        model, dataset = os.path.basename(folder), os.path.basename(os.path.dirname(folder))
        if os.path.isdir(folder) and NAME.match(dataset) and NAME.match(model) and score_files(folder):
            found.append((dataset, model))
    return found


def scores_version(folder: str) -> str:
    """A hash of the folder's score files (names and contents): it changes when a file is added, removed or
    rewritten."""
    digest = hashlib.sha256()
    for path in score_files(folder):
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def read_scores(folder: str) -> pa.Table:
    """The folder's scores: ``task_id`` (string), ``score`` (float64; NaN kept) and ``file``. No file, a file that is
    not Parquet, a missing column or an id scored twice is an error naming the file (and the id)."""
    files = score_files(folder)
    if not files:
        raise InputFileError(folder, "no score files (*.parquet) here")
    tables = []
    for path in files:
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputFileError(path, f"not a Parquet file: {exc}") from None
        missing = [c for c in SCORE_COLUMNS if c not in table.column_names]
        if missing:
            raise MissingColumnError(path, missing, table.column_names)
        try:
            score = pc.cast(table["score"], pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputFileError(path, f"column score is not numeric: {exc}") from None
        name = os.path.basename(path)
        tables.append(
            pa.table(
                {
                    "task_id": pc.cast(table["task_id"], pa.string()),
                    "score": pc.fill_null(score, np.nan),
                    "file": pa.array([name] * table.num_rows, pa.string()),
                }
            )
        )
    scores = pa.concat_tables(tables)
    nulls = pc.sum(pc.is_null(scores["task_id"])).as_py() or 0
    if nulls:
        first = scores.filter(pc.is_null(scores["task_id"]))["file"][0].as_py()
        raise InputFileError(os.path.join(folder, first), f"{nulls} rows without a task_id")
    counts = pc.value_counts(scores["task_id"])
    doubled = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(doubled):
        first = doubled.field("values")[0].as_py()
        where = sorted(set(scores.filter(pc.equal(scores["task_id"], first))["file"].to_pylist()))
        raise InputFileError(
            folder,
            f"task_id {first!r} scored {doubled.field('counts')[0].as_py()} times (in {', '.join(where)})",
        )
    return scores


def write_scores(scores: pa.Table, folder: str, name: str = "scores.parquet") -> str:
    """Write a model's scores (``task_id``, ``score``) as one file of ``folder``, atomically (a reader sees the old
    file or the new one); return its path."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.column_names]
    if missing:
        raise MissingColumnError("scores to write", missing, scores.column_names)
    buffer = pa.BufferOutputStream()
    pq.write_table(scores.select(list(SCORE_COLUMNS)), buffer, compression="zstd")
    return write_file(buffer.getvalue().to_pybytes(), os.path.join(folder, name))
