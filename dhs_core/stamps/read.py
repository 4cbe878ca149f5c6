"""Read injected stamps back as numpy arrays, for users and for the diagnostics."""

from __future__ import annotations

import glob
import os

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS
from dhs_core.errors import InputFileError
from dhs_core.stamps.build import ARRAY_COLUMNS
from dhs_core.tables import sql_path, connect


def stamp_files(path_or_glob: str) -> str:
    """The Parquet glob for a file, a partition folder, an asset folder (every partition) or a glob."""
    path = str(path_or_glob)
    if os.path.isdir(path):
        inside = os.path.join(path, "part-*.parquet")
        path = inside if glob.glob(inside) else os.path.join(path, "*", "part-*.parquet")
    if not glob.glob(path):
        raise InputFileError(path_or_glob, "no stamp Parquet files there")
    return path


def read_stamps(path_or_glob: str, columns: list[str] | None = None, filter: str | None = None) -> tuple[dict, pa.Table]:
    """Stamps as numpy arrays plus their metadata table.

    ``columns``: the columns to read (default: all); array columns among them (``image``, ``invvar``,
    ``arc``: float32 (N, 3, S, S), bands g r z, nanomaggies and nMgy^-2; ``maskbits``: int32 (N, S, S))
    come back as arrays, the others in the table, row for row. ``filter``: a DuckDB SQL condition on the
    columns, e.g. ``"status = 'ok' AND theta_e_arcsec >= 1"``; it may use columns not read.

    Example::

        arrays, meta = read_stamps("data/injected_stamps", ["task_id", "is_control", "image"], "status = 'ok'")
        arrays["image"].shape    # (N, 3, 64, 64)
    """
    source = f"read_parquet('{sql_path(stamp_files(path_or_glob))}')"
    select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    where = f" WHERE {filter}" if filter else ""
    with connect() as con:
        table = con.sql(f"SELECT {select} FROM {source}{where}").to_arrow_table()
    arrays = {name: _pixels(table[name], name) for name in ARRAY_COLUMNS if name in table.column_names}
    return arrays, table.drop_columns(list(arrays))


def _pixels(column: pa.ChunkedArray, name: str) -> np.ndarray:
    """(N, bands, S, S) or, for maskbits, (N, S, S): the flat fixed-size lists reshaped without copying rows."""
    values = column.combine_chunks()
    per_row = values.type.list_size if pa.types.is_fixed_size_list(values.type) else None
    flat = values.flatten().to_numpy(zero_copy_only=False)
    if per_row is None:  # a variable-size list (not written by dhs): every row must have the same length
        per_row = len(flat) // max(len(values), 1)
    planes = 1 if name == "maskbits" else len(BANDS)
    size = int(round(np.sqrt(per_row / planes)))
    shape = (len(values), size, size) if name == "maskbits" else (len(values), planes, size, size)
    return flat.reshape(shape)
