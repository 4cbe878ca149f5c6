"""Read injected stamps back as numpy arrays, for users and for the diagnostics."""

from __future__ import annotations

import glob
import os

import numpy as np
import pyarrow as pa

from dhs_core import storage
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.hashing import spark_xxhash64
from dhs_core.inject.columns import ARRAY_COLUMNS
from dhs_core.pixels import pixels_array
from dhs_core.tables import ORDERED, connect, read_parquet


def stamp_files(path_or_glob: str) -> list[str]:
    """The Parquet files of a file, a partition folder, an asset folder (every partition) or a glob, sorted. Under a
    data root mounted on an object store, the ``s3://`` URLs of the published parts the path stands for."""
    path = str(path_or_glob)
    published = [path] if path.startswith("s3://") else storage.published_files_at(path)
    if published is not None:
        files = published
    elif os.path.isdir(path):  # a folder's own name is literal, even with glob characters ([, ], *, ?) in it
        files = glob.glob(os.path.join(glob.escape(path), "part-*.parquet")) or glob.glob(
            os.path.join(glob.escape(path), "*", "part-*.parquet")
        )
    elif os.path.isfile(path):
        files = [path]
    else:
        files = glob.glob(path)
    if not files:
        raise InputFileError(path_or_glob, "no stamp Parquet files there")
    return files if published is not None else sorted(files)


def read_stamps(
    path_or_glob: str,
    columns: list[str] | None = None,
    filter: str | None = None,
    task_ids: list[str] | None = None,
) -> tuple[dict, pa.Table]:
    """Stamps as numpy arrays plus their metadata table.

    ``columns``: the columns to read (default: all); array columns among them (``image``, ``invvar``,
    ``arc``: float32 (N, 3, S, S), bands g r z, nanomaggies and nMgy^-2; ``maskbits``: int32 (N, S, S))
    come back as arrays, the others in the table, row for row, in file order (files sorted). ``filter``: a DuckDB SQL condition on the
    columns, e.g. ``"status = 'ok' AND theta_e_arcsec >= 1"``; it may use columns not read. ``task_ids``:
    only these tasks (e.g. a :func:`sample_task_ids` sample).

    Example::

        arrays, meta = read_stamps("data/injected_stamps", ["task_id", "is_control", "image"], "status = 'ok'")
        arrays["image"].shape    # (N, 3, 64, 64)
    """
    if columns is not None and not columns:
        raise ConfigError(
            "read_stamps columns", columns, "at least one column name, or None for every column"
        )
    source = read_parquet(stamp_files(path_or_glob), positions=True)
    select = ", ".join(f'"{c}"' for c in columns) if columns else "* EXCLUDE (filename, file_row_number)"
    conditions = [f"({filter})"] if filter else []
    with connect() as con:
        if task_ids is not None:
            con.register("wanted_tasks", pa.table({"task_id": pa.array(list(task_ids), pa.string())}))
            conditions.append("task_id IN (SELECT task_id FROM wanted_tasks)")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        table = con.sql(f"SELECT {select} FROM {source}{where} {ORDERED}").to_arrow_table()
    arrays = {name: pixels_array(table[name], name) for name in ARRAY_COLUMNS if name in table.column_names}
    return arrays, table.drop_columns(list(arrays))


def sample_task_ids(path_or_glob: str, n: int, seed: int = 0, filter: str | None = None) -> list[str]:
    """At most ``n`` task ids of the stamps there (matching ``filter``), the same for the same seed on any machine:
    the ``n`` smallest ``xxhash64(task_id, seed)``."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError("sample_task_ids n", n, "an integer >= 0")
    _, meta = read_stamps(path_or_glob, ["task_id"], filter)
    ids = meta["task_id"].to_numpy(zero_copy_only=False)
    keys = spark_xxhash64(meta["task_id"], int(seed)) if len(ids) else np.zeros(0, np.int64)
    return ids[np.lexsort((ids, keys))[:n]].tolist()


def read_sample(
    folders: list[str], per_folder: int, columns: list[str], seed: int = 0, filter: str | None = None
) -> tuple[dict, pa.Table]:
    """A seeded sample of at most ``per_folder`` stamps of each partition folder (see :func:`sample_task_ids`),
    read as :func:`read_stamps` reads them and stacked; the metadata table gains ``partition`` (the folder's name)."""
    arrays_parts, meta_parts = [], []
    for folder in folders:
        arrays, meta = read_stamps(
            folder, columns, filter, task_ids=sample_task_ids(folder, per_folder, seed, filter)
        )
        arrays_parts.append(arrays)
        meta_parts.append(
            meta.append_column(
                "partition", pa.array([os.path.basename(folder.rstrip("/"))] * len(meta), pa.string())
            )
        )
    if not meta_parts:
        raise InputFileError(", ".join(folders) or "(no folder)", "no stamp partitions to sample")
    arrays = {name: np.concatenate([a[name] for a in arrays_parts]) for name in arrays_parts[0]}
    return arrays, pa.concat_tables(meta_parts)
