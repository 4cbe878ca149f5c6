import gzip
import shutil

import numpy as np
import pyarrow as pa
import pytest
from astropy.io import fits

from dhs_core.errors import InputFileError, MissingColumnError
from dhs_core.survey.bricks import (
    brick_area_deg2,
    brick_neighbours,
    brickname_from_center,
    bricks_containing,
    read_bricks_table,
)


@pytest.fixture(scope="module")
def real_bricks(reference_data):
    paths = sorted(
        str(p) for p in (reference_data / "legacysurvey_coadds/legacypipe").glob("*/survey-bricks.fits.gz")
    )
    assert len(paths) == 3
    return pa.concat_tables([read_bricks_table(p) for p in paths])


def test_real_bricks_tables_read_with_lower_case_names(real_bricks):
    assert {"brickname", "brickid", "ra", "dec", "ra1", "ra2", "dec1", "dec2", "area_deg2"} <= set(
        real_bricks.column_names
    )
    assert sorted(real_bricks["brickname"].to_pylist()) == ["0091p035", "2447p120", "3465p127"]


def test_brick_names_follow_the_dr10_rule(real_bricks):
    names = brickname_from_center(real_bricks["ra"].to_numpy(), real_bricks["dec"].to_numpy())
    assert names == real_bricks["brickname"].to_pylist()
    assert brickname_from_center([0.05, 359.95, 12.345], [-0.05, 1.05, -31.15]) == [
        "0000m000",
        "3599p010",
        "0123m311",
    ]


def test_brick_area_formula(real_bricks):
    area = real_bricks["area_deg2"].to_numpy()
    expected = (
        np.radians(real_bricks["ra2"].to_numpy() - real_bricks["ra1"].to_numpy())
        * (
            np.sin(np.radians(real_bricks["dec2"].to_numpy()))
            - np.sin(np.radians(real_bricks["dec1"].to_numpy()))
        )
        * (180 / np.pi) ** 2
    )
    np.testing.assert_allclose(area, expected, rtol=1e-14)
    assert np.all((area > 0.06) & (area < 0.0626))  # DR10 bricks: 0.25 deg of Dec, ~0.25/cos(dec) of RA
    # a box across RA = 0/360 has the same area as the same box elsewhere
    assert brick_area_deg2(359.9, 0.1, 0.0, 0.2) == pytest.approx(
        brick_area_deg2(10.0, 10.2, 0.0, 0.2), rel=1e-12
    )


def _grid(ra_edges, dec_edges):
    rows = []
    for d1, d2 in zip(dec_edges[:-1], dec_edges[1:]):
        for r1, r2 in zip(ra_edges[:-1], ra_edges[1:]):
            rows.append((r1 % 360, r2 % 360, d1, d2))
    ra1, ra2, dec1, dec2 = map(np.array, zip(*rows))
    centre_ra = (ra1 + np.mod(ra2 - ra1, 360) / 2) % 360
    names = brickname_from_center(centre_ra, (dec1 + dec2) / 2)
    return pa.table({"brickname": names, "ra1": ra1, "ra2": ra2, "dec1": dec1, "dec2": dec2})


def test_neighbours_wrap_at_ra_zero():
    bricks = _grid([359.5, 359.75, 360.0, 360.25, 360.5], [-0.25, 0.0, 0.25])
    pairs = brick_neighbours(bricks)
    by_brick = {}
    for a, b in zip(pairs["brickname"].to_pylist(), pairs["neighbour"].to_pylist()):
        by_brick.setdefault(a, set()).add(b)
    # 3598m001 (RA 359.75-360, Dec -0.25-0) touches 0001m001 across the wrap, and the row above
    assert by_brick["3598m001"] == {"3596m001", "0001m001", "3596p001", "3598p001", "0001p001"}
    assert by_brick["0003p001"] == {"0001p001", "0001m001", "0003m001"}
    assert all(a in by_brick[b] for a, nb in by_brick.items() for b in nb)  # symmetric


def test_the_brick_holding_a_position_wraps_at_ra_zero():
    # DR10's last brick of a row runs from RA 359.9 to ra2 = 0 (pinned: a lens at RA 359.97 was "outside")
    bricks = _grid([359.5, 359.75, 360.0, 360.25], [-0.25, 0.0, 0.25])
    found = bricks_containing(bricks, [359.97, 0.1, 359.6, 0.3, 10.0], [0.1, -0.1, -0.2, 0.1, 0.0])
    assert found == ["3598p001", "0001m001", "3596m001", None, None]
    assert bricks_containing(bricks, [359.75], [0.0]) == ["3598p001"]  # lower edges belong to the brick


def test_neighbours_across_rows_of_different_widths():
    # DR10 rows at different Dec have different RA widths: neighbours are found by overlap, not by index
    row_a = _grid([10.0, 10.25, 10.5, 10.75], [0.0, 0.25])
    row_b = _grid([10.1, 10.4, 10.7], [0.25, 0.5])
    pairs = brick_neighbours(pa.concat_tables([row_a, row_b]))
    got = set(zip(pairs["brickname"].to_pylist(), pairs["neighbour"].to_pylist()))
    assert ("0101p001", "0102p003") in got and ("0101p001", "0105p003") not in got
    assert (
        ("0106p001", "0105p003") in got
        and ("0103p001", "0102p003") in got
        and ("0103p001", "0105p003") in got
    )


def test_missing_geometry_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "survey-bricks-summary.fits"
    cols = [
        fits.Column(name="brickname", format="8A", array=np.array([b"0001p001"])),
        fits.Column(name="psfsize_r", format="E", array=np.array([1.2])),
    ]
    fits.BinTableHDU.from_columns(cols).writeto(path)
    with pytest.raises(MissingColumnError, match=r"survey-bricks-summary\.fits.*dec1"):
        read_bricks_table(str(path))
    with pytest.raises(InputFileError, match="no survey-bricks"):
        read_bricks_table([])


def test_geometry_and_summary_files_join(tmp_path, reference_data):
    geometry = reference_data / "legacysurvey_coadds/legacypipe/testcase3/survey-bricks.fits.gz"
    shutil.copy(geometry, tmp_path / "survey-bricks.fits.gz")
    cols = [
        fits.Column(name="brickname", format="8A", array=np.array([b"2447p120"])),
        fits.Column(name="psfdepth_r", format="E", array=np.array([24.3])),
        fits.Column(name="psfsize_r", format="E", array=np.array([1.3])),
    ]
    buf = tmp_path / "summary.fits"
    fits.BinTableHDU.from_columns(cols).writeto(buf)
    with open(buf, "rb") as src, gzip.open(tmp_path / "survey-bricks-dr10-south.fits.gz", "wb") as dst:
        dst.write(src.read())
    table = read_bricks_table(
        [str(tmp_path / "survey-bricks.fits.gz"), str(tmp_path / "survey-bricks-dr10-south.fits.gz")]
    )
    assert table.num_rows == 1
    assert table["psfdepth_mag5_r"][0].as_py() == pytest.approx(
        24.3
    )  # 5-sigma mag, renamed so it is unambiguous
    assert "psfdepth_r" not in table.column_names
