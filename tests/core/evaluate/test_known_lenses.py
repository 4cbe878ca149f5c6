"""Lens catalogues in the lenscat format: the reference catalogues read whole, merged within 2" into objects with
their best tier, and malformed rows refused naming the file and line."""

import math

import pyarrow as pa
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from dhs_core.errors import InputFileError
from dhs_core.evaluate.known_lenses import (
    KNOWN_LENS_RADIUS_ARCSEC,
    exclude_known_lenses,
    known_lens_table,
    merge_lens_catalogs,
    nearest_known_lens,
    read_lens_catalog,
)

HEADER = "name,RA [deg],DEC [deg],zlens,type,grading,ref\n"


def test_the_reference_catalogues_are_read_whole_and_merged(reference_data):
    lenscat = read_lens_catalog(str(reference_data / "catalogs" / "lenscat_catalog.csv"))
    desi = read_lens_catalog(
        str(reference_data / "catalogs" / "desi_lens_candidates.csv")
    )  # lower-case header
    assert (lenscat.num_rows, desi.num_rows) == (32_838, 5_104)
    assert lenscat["tier"].to_pylist().count("A") == 2_038 + 262 + 9  # confident galaxies, clusters, groups
    values = dict(zip(lenscat["zlens"].to_pylist(), lenscat["zlens_value"].to_pylist()))
    assert values["not measured"] is None and values["0.3?"] == 0.3 and values["0.0123 | 0.0131"] == 0.0123
    merged = merge_lens_catalogs([lenscat, desi])
    assert sum(merged["n_entries"].to_pylist()) == lenscat.num_rows + desi.num_rows
    assert merged.num_rows < lenscat.num_rows + desi.num_rows  # the DESI candidates are in lenscat too
    coords = SkyCoord(merged["ra"].to_numpy() * u.deg, merged["dec"].to_numpy() * u.deg)
    _, separation, _ = coords.match_to_catalog_sky(coords, nthneighbor=2)
    assert separation.arcsec.min() >= 2.0  # no two objects left within the merge radius


def test_an_object_takes_its_best_tier_and_every_name(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(HEADER + "L1,10.0,-5.0,0.5,galaxy,probable,x\nL2,20.0,1.0,-,galaxy,probable,x\n")
    b.write_text(
        HEADER.lower() + "D1,10.0003,-5.0002,-,galaxy,confident,y\nD2,20.01,1.0,-,galaxy,probable,y\n"
    )
    merged = merge_lens_catalogs([read_lens_catalog(str(a)), read_lens_catalog(str(b))])
    rows = {r["names"][0]: r for r in merged.to_pylist()}
    assert set(rows) == {"L1", "L2", "D2"}  # D1 lies 1.3" from L1; D2 36" from L2
    assert rows["L1"]["names"] == ["L1", "D1"] and rows["L1"]["tier"] == "A" and rows["L1"]["name"] == "D1"
    assert rows["L2"]["zlens_value"] is None and rows["L1"]["zlens_value"] is None  # D1 represents it: "-"


@pytest.mark.parametrize(
    "row, message",
    [
        ("X,360.0,0.0,-,galaxy,confident,r", "line 2: RA 360.0 / Dec 0.0 outside"),
        ("X,-1.0,0.0,-,galaxy,confident,r", "line 2: RA -1.0"),
        ("X,1.0,95.0,-,galaxy,confident,r", "Dec 95.0 outside"),
        ("X,abc,0.0,-,galaxy,confident,r", "line 2: could not convert string to float: 'abc'"),
        ("X,1.0,0.0,-,galaxy,maybe,r", "line 2: grading 'maybe'"),
        ("X,1.0,0.0,-,galaxy", "line 2: 5 fields, the header has 7"),
    ],
)
def test_a_malformed_row_is_an_error_naming_the_file_and_line(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + row + "\n")
    with pytest.raises(InputFileError, match=f"bad.csv.*{message}"):
        read_lens_catalog(str(path))


def test_the_default_exclusion_radius_is_a_stamps_half_diagonal():
    assert pytest.approx(64 * 0.262 / math.sqrt(2)) == KNOWN_LENS_RADIUS_ARCSEC  # 11.86"


def test_galaxies_near_a_known_lens_are_excluded_with_the_nearest_lens(tmp_path):
    path = tmp_path / "lenses.csv"
    path.write_text(HEADER + "A,150.0,2.0,-,galaxy,confident,x\nB,150.003,2.0,-,galaxy,probable,x\n")
    lenses = known_lens_table([str(path)])
    offset = 1 / 3600  # 1" in Dec
    galaxies = pa.table(
        {
            "row_id": [1, 2, 3, 4],
            "ra": [150.0, 150.0, 150.0015, 151.0],
            "dec": [
                2.0,
                2.0 + 11.5 * offset,
                2.0,
                2.0,
            ],  # on A; 11.5" from A; between A and B (5.4" each); far
        }
    )
    kept, excluded = exclude_known_lenses(galaxies, lenses)
    assert kept["row_id"].to_pylist() == [4]
    assert excluded["row_id"].to_pylist() == [1, 2, 3]
    assert excluded["known_lens"].to_pylist()[:2] == ["A", "A"]
    assert excluded["known_lens_separation_arcsec"].to_pylist()[1] == pytest.approx(11.5, abs=1e-3)
    index, separation = nearest_known_lens([150.0028], [2.0], lenses, 12.0)  # nearer B (0.7") than A (10.1")
    assert lenses["name"][int(index[0])].as_py() == "B" and separation[0] == pytest.approx(0.72, abs=0.01)
    kept, excluded = exclude_known_lenses(galaxies, lenses, radius_arcsec=0.0)  # 0: no exclusion
    assert kept.num_rows == 4 and excluded.num_rows == 0
    assert (
        exclude_known_lenses(galaxies, known_lens_table([]))[0].num_rows == 4
    )  # no catalogue: nothing excluded
