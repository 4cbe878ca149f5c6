"""How pixels are stored in Parquet: one binary value per row holding the row's planes as little-endian bytes.

``image``, ``arc`` and ``invvar`` are float32 (bands x size x size: g, r, z; nanomaggies, nMgy^-2), ``maskbits`` int32
(size x size), each row's values in C order. The stamps, the galaxy cutout cache and the real stamps (anchors, hard
negatives) all store them so; ``stamp_size`` (or ``cutout_size``) beside them gives the size.

Why bytes and not Parquet lists: DuckDB writes a list value by value (with its repetition levels), about 25 ns per
pixel, which made the writer half the cost of a stamp; a binary value is copied whole, and identical ones (the invvar
and maskbits of the ~80 stamps of one galaxy, a control's image) are dictionary-encoded once per row group. Read a
value with ``np.frombuffer(value, "<f4").reshape(3, size, size)``, or with :func:`pixels_array`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS, STAMP_SIZE
from dhs_core.errors import InputFileError

PIXEL_DTYPES = {"image": "<f4", "arc": "<f4", "invvar": "<f4", "maskbits": "<i4"}
PIXEL_TYPE = pa.large_binary()  # 64-bit offsets: a cache partition's column may pass 2 GB


def planes_of(name: str) -> int:
    """Planes per row of pixel column ``name``: one for ``maskbits``, one per band for the others."""
    return 1 if name == "maskbits" else len(BANDS)


def plane_shape(name: str, size: int) -> tuple[int, ...]:
    """One row's array of pixel column ``name`` for ``size``-pixel stamps: (S, S) for maskbits, else (bands, S, S)."""
    return (size, size) if planes_of(name) == 1 else (planes_of(name), size, size)


def pixel_column(pixels: np.ndarray, name: str) -> pa.Array:
    """(N, ...) pixels of column ``name`` as N binary values (without copying when they are already contiguous
    little-endian ``PIXEL_DTYPES[name]``)."""
    flat = np.ascontiguousarray(pixels, dtype=PIXEL_DTYPES[name])
    rows = len(flat)
    width = flat[0].nbytes if rows else 0
    offsets = np.arange(rows + 1, dtype=np.int64) * width
    return pa.Array.from_buffers(
        PIXEL_TYPE, rows, [None, pa.py_buffer(offsets), pa.py_buffer(flat.reshape(-1))]
    )


def pixel_rows(rows: list[np.ndarray], name: str, size: int) -> pa.Array:
    """:func:`pixel_column` of one array per row (``plane_shape(name, size)`` each; none: an empty column)."""
    return pixel_column(np.stack(rows) if rows else np.zeros((0, *plane_shape(name, size))), name)


def pixels_array(column: pa.ChunkedArray | pa.Array, name: str) -> np.ndarray:
    """(N, bands, S, S) or, for maskbits, (N, S, S): the binary values of pixel column ``name`` as one array, without
    copying a single chunk; S from each row's length. Values of another type, of unequal lengths or null are an
    error naming the column."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    dtype, planes = np.dtype(PIXEL_DTYPES[name]), planes_of(name)
    parts = [_chunk_values(chunk, name, dtype) for chunk in chunks if len(chunk)]
    flat = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros((0, 0), dtype)
    per_row = flat.shape[1] if len(flat) else planes * STAMP_SIZE**2
    size = int(round(np.sqrt(per_row / planes)))
    if planes * size * size != per_row:
        raise InputFileError(name, f"{per_row} pixels per row is not {planes} square planes")
    return flat.reshape((len(flat), *plane_shape(name, size)))


def _chunk_values(chunk: pa.Array, name: str, dtype: np.dtype) -> np.ndarray:
    """One chunk's rows as (rows, values), a view of its data buffer."""
    if not (pa.types.is_binary(chunk.type) or pa.types.is_large_binary(chunk.type)):
        raise InputFileError(
            name,
            f"pixel column of type {chunk.type}, not binary: written before dhs stored pixels as bytes; "
            "materialize the partition again",
        )
    if chunk.null_count:
        raise InputFileError(name, f"{chunk.null_count} null pixel value(s)")
    _, offsets, data = chunk.buffers()
    offsets = np.frombuffer(offsets, np.int64 if pa.types.is_large_binary(chunk.type) else np.int32)
    offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
    widths = np.diff(offsets)
    if np.any(widths != widths[0]) or widths[0] % dtype.itemsize:
        raise InputFileError(
            name, f"pixel values of unequal or partial lengths ({sorted(set(widths.tolist()))[:5]} bytes)"
        )
    values = np.frombuffer(
        data, dtype, count=len(chunk) * int(widths[0]) // dtype.itemsize, offset=int(offsets[0])
    )
    return values.reshape(len(chunk), -1)
