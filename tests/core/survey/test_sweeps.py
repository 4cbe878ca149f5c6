import gzip
import shutil

import numpy as np
import pyarrow as pa
import pytest

from dhs_core.errors import InputFileError, MissingColumnError
from dhs_core.survey.sweeps import (
    SweepTile,
    parse_sweep_filename,
    read_sweep,
    sweep_filename,
    sweep_tile_for,
)

REAL_SWEEPS = ("sweep-310m005-320p000.fits", "sweep-320m005-330p000.fits", "sweep-330m005-340p000.fits")


@pytest.fixture(scope="module")
def sweep_dir(reference_data):
    return reference_data / "legacysurvey_dr8_sweeps"


def test_real_dr8_sweeps_read_case_insensitively(sweep_dir):
    for name in REAL_SWEEPS:
        table = read_sweep(
            str(sweep_dir / name),
            ["ra", "Dec", "TYPE", "brickname", "MASKBITS", "FLUX_R", "PSFDEPTH_G", "objid"],
        )
        assert table.column_names == [
            "ra",
            "dec",
            "type",
            "brickname",
            "maskbits",
            "flux_r",
            "psfdepth_ivar_g",
            "objid",
        ]
        assert table.num_rows == 6
        assert table.schema.field("maskbits").type == pa.int32()  # DR8 stores int16
        assert (
            table.schema.field("ra").type == pa.float64()
            and table.schema.field("flux_r").type == pa.float32()
        )
        types = table["type"].to_pylist()
        assert all(t == t.strip() and t in {"PSF", "REX", "EXP", "DEV", "COMP", "SER", "DUP"} for t in types)
        tile = parse_sweep_filename(name)
        ra = table["ra"].to_numpy()
        assert np.all((ra >= tile.ra_min) & (ra < tile.ra_max))


def test_only_requested_columns_are_returned(sweep_dir):
    table = read_sweep(str(sweep_dir / REAL_SWEEPS[0]), ["FLUX_Z"])
    assert table.column_names == ["flux_z"]


def test_missing_columns_name_the_file_and_columns(sweep_dir):
    # DR8 has no PSFSIZE_* or SHAPE_R: a DR10 read of it must say so
    with pytest.raises(MissingColumnError) as info:
        read_sweep(str(sweep_dir / REAL_SWEEPS[0]), ["RA", "PSFSIZE_R", "shape_r"])
    assert info.value.columns == ["psfsize_r", "shape_r"]
    assert REAL_SWEEPS[0] in str(info.value)


def test_truncated_file_is_an_error_naming_it(sweep_dir, tmp_path):
    damaged = tmp_path / "sweep-000m005-005p000.fits"
    data = (sweep_dir / REAL_SWEEPS[0]).read_bytes()
    damaged.write_bytes(data[: len(data) - 1500])  # inside the table data
    with pytest.raises(InputFileError, match=r"sweep-000m005-005p000\.fits.*truncated"):
        read_sweep(str(damaged), ["RA"])
    damaged.write_bytes(data[: len(data) - 4000])  # inside the table's header
    with pytest.raises(InputFileError, match=r"sweep-000m005-005p000\.fits"):
        read_sweep(str(damaged), ["RA"])


def test_corrupt_file_is_an_error_naming_it(sweep_dir, tmp_path):
    damaged = tmp_path / "sweep-005m005-010p000.fits"
    data = bytearray((sweep_dir / REAL_SWEEPS[0]).read_bytes())
    data[:80] = b"GARBAGE " * 10
    damaged.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match=r"sweep-005m005-010p000\.fits"):
        read_sweep(str(damaged), ["RA"])
    with pytest.raises(InputFileError, match="file not found"):
        read_sweep(str(tmp_path / "absent.fits"), ["RA"])


def test_gzipped_sweep_reads_the_same(sweep_dir, tmp_path):
    plain = sweep_dir / REAL_SWEEPS[1]
    packed = tmp_path / (REAL_SWEEPS[1] + ".gz")
    with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert read_sweep(str(packed), ["RA", "TYPE"]).equals(read_sweep(str(plain), ["RA", "TYPE"]))


def test_sweep_names_round_trip():
    for name in REAL_SWEEPS + (
        "sweep-000m005-005p000.fits",
        "sweep-355p000-360p005.fits",
        "sweep-150m035-155m030.fits",
    ):
        tile = parse_sweep_filename(name)
        assert tile.name == name
    assert parse_sweep_filename("/a/b/sweep-150m035-155m030.fits.gz") == SweepTile(150, -35, 155, -30)
    assert sweep_filename(355, 0, 360, 5) == "sweep-355p000-360p005.fits"
    with pytest.raises(InputFileError, match="not a sweep file name"):
        parse_sweep_filename("sweep-1-2.fits")


def test_sweep_tile_for_positions():
    assert sweep_tile_for(359.99, 1.0).name == "sweep-355p000-360p005.fits"
    assert sweep_tile_for(0.01, -0.01).name == "sweep-000m005-005p000.fits"
    assert sweep_tile_for(-0.01, 0.0).name == "sweep-355p000-360p005.fits"
    assert sweep_tile_for(150.05, -31.05).name == "sweep-150m035-155m030.fits"
    assert sweep_tile_for(314.6, -3.37).name == "sweep-310m005-315p000.fits"


def test_a_truncated_gzip_sweep_says_it_is_truncated(sweep_dir, tmp_path):
    """Item 10: a truncated .fits.gz used to report "HDU 1 is not a binary table"."""
    packed = tmp_path / (REAL_SWEEPS[1] + ".gz")
    with open(sweep_dir / REAL_SWEEPS[1], "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    data = packed.read_bytes()
    packed.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputFileError, match=f"{packed.name}: truncated or corrupt gzip file"):
        read_sweep(str(packed), ["RA"])
