"""Path planning: the bricks table, the sweeps of a footprint and the coadds of a manifest's bricks."""

import pyarrow as pa
import pytest

from dhs_core.errors import ConfigError
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.plan import (
    SkyBox, brick_centre, bricks_table_files, coadd_files, manifest_bricks, sweep_files,
)
from dhs_core.survey.sweeps import parse_sweep_filename


def test_sweeps_of_a_box_a_brick_list_and_everything():
    assert sweep_files(SkyBox(0.5, 9.0, -4.0, 1.0)) == [
        "sweep/10.1/sweep-000m005-005p000.fits", "sweep/10.1/sweep-000p000-005p005.fits",
        "sweep/10.1/sweep-005m005-010p000.fits", "sweep/10.1/sweep-005p000-010p005.fits"]
    # a brick at RA 0.1 reaches over RA = 0 into the last tile; one at Dec 0.0 into both Dec rows
    assert sweep_files(["0001m002"]) == ["sweep/10.1/sweep-000m005-005p000.fits", "sweep/10.1/sweep-355m005-360p000.fits"]
    assert len(sweep_files(["1502p000"])) == 2
    everything = sweep_files()
    assert len(everything) == 72 * 25 and all(parse_sweep_filename(p) for p in everything)  # Dec -90 ... +35
    assert SkyBox(350.0, 10.0, -5.0, 5.0).area_deg2 == pytest.approx(SkyBox(0.0, 20.0, -5.0, 5.0).area_deg2)


def test_coadd_files_are_dr10s_seven_per_brick(small_sky):
    files = coadd_files(["0001m002", "0001m002"])
    assert len(files) == 7 and files[0] == "coadd/000/0001m002/legacysurvey-0001m002-image-g.fits.fz"
    assert files[-1] == "coadd/000/0001m002/legacysurvey-0001m002-maskbits.fits.fz"
    assert len(coadd_files(["0001m002"], psfsize=True)) == 10
    layout = SurveyLayout(str(small_sky))  # the mock sky lays its files out the same way
    brick = sorted(p.name for p in (small_sky / "coadd").glob("*/*"))[0]
    present = [p for p in coadd_files([brick]) if (small_sky / p).exists()]
    assert present == [p for p in coadd_files([brick]) if layout.path(p) and (small_sky / p).exists()] and len(present) >= 5


def test_bricks_of_manifests_and_names():
    assert manifest_bricks(pa.chunked_array([["b", "a"], ["a"]]), ["c"]) == ["a", "b", "c"]
    assert brick_centre("0001m002") == (0.1, -0.2)
    assert bricks_table_files() == {"region": "survey-bricks-dr10-south.fits.gz", "release": "survey-bricks.fits.gz"}
    with pytest.raises(ConfigError, match="brick name"):
        brick_centre("sweep-1")
    with pytest.raises(ConfigError, match="sky box"):
        SkyBox(0, 10, 5, -5)
