"""Pixels stored as bytes (``dhs_core.pixels``): what goes in comes back bit for bit through DuckDB's writer and both
readers, a galaxy's repeated planes are stored once per row group, the files are LZ4_RAW in v1 pages, and a column of
anything else is refused by name."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dhs_core.errors import InputFileError
from dhs_core.pixels import pixel_column, pixels_array
from dhs_core.tables import connect, write_batches


def _planes(rng, rows, size=8):
    image = rng.normal(0, 0.003, (rows, 3, size, size)).astype(np.float32)
    image[0, 0, 0, 0] = -0.0  # kept bit for bit
    maskbits = rng.integers(0, 2**20, (rows, size, size)).astype(np.int32)
    return image, maskbits


def test_pixels_come_back_bit_for_bit_through_duckdb_and_pyarrow(tmp_path):
    image, maskbits = _planes(np.random.default_rng(1), 40)
    invvar = np.repeat(
        np.full((1, 3, 8, 8), 4e5, np.float32), 40, axis=0
    )  # one galaxy's, shared by its stamps
    table = pa.table(
        {
            "task_id": [f"t{i}" for i in range(40)],
            "image": pixel_column(image, "image"),
            "invvar": pixel_column(invvar, "invvar"),
            "maskbits": pixel_column(maskbits, "maskbits"),
        }
    )
    path = write_batches(
        iter(table.to_batches(max_chunksize=16)), table.schema, str(tmp_path / "p.parquet"), 20
    )
    read = pq.read_table(path)
    with connect() as con:
        through_duckdb = con.sql(f"SELECT * FROM read_parquet('{path}') ORDER BY task_id").to_arrow_table()
    order = np.argsort([f"t{i}" for i in range(40)], kind="stable")
    for name, planes in (("image", image), ("invvar", invvar), ("maskbits", maskbits)):
        assert pixels_array(read[name], name).tobytes() == planes.tobytes()
        assert pixels_array(through_duckdb[name], name).tobytes() == planes[order].tobytes()
    assert (
        pixels_array(read["image"].slice(7, 5), "image").tobytes() == image[7:12].tobytes()
    )  # a chunk's offset
    metadata = pq.ParquetFile(path).metadata
    encodings = metadata.row_group(0).column(2).encodings
    assert "PLAIN_DICTIONARY" in encodings  # v1's dictionary: the repeated invvar, once per row group
    # the pixel files' format (tables.PIXEL_FILE_FORMAT): LZ4_RAW, which plain Parquet readers know, in v1 pages
    with connect() as con:  # DuckDB names the file's codec as written (pyarrow calls LZ4_RAW "LZ4")
        codecs = con.sql(f"SELECT DISTINCT compression FROM parquet_metadata('{path}')").fetchall()
    assert codecs == [("LZ4_RAW",)] and metadata.format_version == "1.0"


def test_a_pixel_column_of_another_form_is_refused_by_name():
    image, _ = _planes(np.random.default_rng(2), 2)
    as_lists = pa.FixedSizeListArray.from_arrays(pa.array(image.ravel()), 3 * 8 * 8)
    with pytest.raises(InputFileError, match="image.*not binary.*materialize the partition again"):
        pixels_array(as_lists, "image")
    with pytest.raises(InputFileError, match="invvar.*unequal"):
        pixels_array(pa.array([b"\0" * 768, b"\0" * 764], pa.binary()), "invvar")
    with pytest.raises(InputFileError, match="maskbits.*1 null"):
        pixels_array(pa.array([b"\0" * 256, None], pa.binary()), "maskbits")
    with pytest.raises(InputFileError, match="image.*not 3 square planes"):
        pixels_array(pa.array([b"\0" * 4 * 100], pa.binary()), "image")
