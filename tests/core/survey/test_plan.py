"""Path planning: the bricks table, the sweeps of a footprint and the coadds of a manifest's bricks."""

import pyarrow as pa
import pytest

from dhs_core.errors import ConfigError
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.plan import (
    SkyBox,
    brick_centre,
    bricks_table_files,
    coadd_files,
    footprint_bricks,
    manifest_bricks,
    release_root,
    sweep_files,
)
from dhs_core.survey.sweeps import parse_sweep_filename


def test_sweeps_of_a_box_a_brick_list_and_everything():
    assert sweep_files(SkyBox(0.5, 9.0, -4.0, 1.0)) == [
        "sweep/10.1/sweep-000m005-005p000.fits",
        "sweep/10.1/sweep-000p000-005p005.fits",
        "sweep/10.1/sweep-005m005-010p000.fits",
        "sweep/10.1/sweep-005p000-010p005.fits",
    ]
    # a brick at RA 0.1 reaches over RA = 0 into the last tile; one at Dec 0.0 into both Dec rows
    assert sweep_files(["0001m002"]) == [
        "sweep/10.1/sweep-000m005-005p000.fits",
        "sweep/10.1/sweep-355m005-360p000.fits",
    ]
    assert len(sweep_files(["1502p000"])) == 2
    everything = sweep_files()
    assert len(everything) == 72 * 25 and all(parse_sweep_filename(p) for p in everything)  # Dec -90 ... +35
    assert SkyBox(350.0, 10.0, -5.0, 5.0).area_deg2 == pytest.approx(SkyBox(0.0, 20.0, -5.0, 5.0).area_deg2)


def test_sweeps_of_a_bricks_table_are_exactly_the_tiles_its_boxes_overlap(small_sky):
    def table(*boxes):
        return pa.table(
            {name: [float(b[i]) for b in boxes] for i, name in enumerate(("ra1", "ra2", "dec1", "dec2"))}
        )

    tile = "sweep/10.1/sweep-{}.fits".format
    assert sweep_files(table((4.75, 5.0, 4.75, 5.0))) == [
        tile("000p000-005p005")
    ]  # ending on a tile edge: not the next tile
    assert sweep_files(table((4.9, 5.1, -0.1, 0.1))) == [
        tile(t) for t in ("000m005-005p000", "000p000-005p005", "005m005-010p000", "005p000-010p005")
    ]
    assert sweep_files(table((359.9, 0.1, 10.0, 10.25))) == [
        tile("000p010-005p015"),
        tile("355p010-360p015"),
    ]  # across RA 0
    assert sweep_files(table((359.9, 360.1, 10.0, 10.25))) == [
        tile("000p010-005p015"),
        tile("355p010-360p015"),
    ]
    assert sweep_files(table((10.0, 10.25, 89.8, 90.0))) == [tile("010p085-015p090")]
    sky = read_bricks_table(
        SurveyLayout(str(small_sky)).bricks_table_paths()
    )  # the mock sky: exactly the sweeps it wrote
    assert [p.rsplit("/", 1)[1] for p in sweep_files(sky)] == sorted(
        p.name for p in (small_sky / "sweep" / "10.1").glob("*.fits")
    )


def test_footprints_parse_contain_and_select_bricks():
    box = SkyBox.parse("350,10,-5,5")  # across RA 0
    assert box == SkyBox(350.0, 10.0, -5.0, 5.0) and str(box) == "350,10,-5,5"
    assert box.contains([355.0, 5.0, 10.0, 20.0, -5.0], [0.0, 4.99, 0.0, 0.0, 0.0]).tolist() == [
        True,
        True,
        False,
        False,
        True,
    ]
    for text in ("1,2,3", "a,b,c,d", "10,20,5,0"):
        with pytest.raises(ConfigError, match="footprint|sky box"):
            SkyBox.parse(text)
    bricks = pa.table({"brickname": ["a", "b"], "ra": [355.0, 20.0], "dec": [0.0, 0.0]})
    assert (
        footprint_bricks(bricks, box)["brickname"].to_pylist() == ["a"]
        and footprint_bricks(bricks, None) is bricks
    )
    assert release_root("https://portal/dr10/south/") == "https://portal/dr10"


def test_coadd_files_are_dr10s_seven_per_brick(small_sky):
    files = coadd_files(["0001m002", "0001m002"])
    assert len(files) == 7 and files[0] == "coadd/000/0001m002/legacysurvey-0001m002-image-g.fits.fz"
    assert files[-1] == "coadd/000/0001m002/legacysurvey-0001m002-maskbits.fits.fz"
    assert len(coadd_files(["0001m002"], psfsize=True)) == 10
    layout = SurveyLayout(str(small_sky))  # the mock sky lays its files out the same way
    brick = sorted(p.name for p in (small_sky / "coadd").glob("*/*"))[0]
    present = [p for p in coadd_files([brick]) if (small_sky / p).exists()]
    assert (
        present == [p for p in coadd_files([brick]) if layout.path(p) and (small_sky / p).exists()]
        and len(present) >= 5
    )


def test_bricks_of_manifests_and_names():
    assert manifest_bricks(pa.chunked_array([["b", "a"], ["a"]]), ["c"]) == ["a", "b", "c"]
    assert brick_centre("0001m002") == (0.1, -0.2)
    assert bricks_table_files() == {
        "region": "survey-bricks-dr10-south.fits.gz",
        "release": "survey-bricks.fits.gz",
    }
    with pytest.raises(ConfigError, match="brick name"):
        brick_centre("sweep-1")
    with pytest.raises(ConfigError, match="sky box"):
        SkyBox(0, 10, 5, -5)
