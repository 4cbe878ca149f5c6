"""Anchors cut from the survey: every known lens of the chosen tiers kept, usable or not, with why; ids the scores
can name; tiers and band validated."""

import os

import pyarrow as pa
import pytest

from dhs_core.errors import ConfigError
from dhs_core.evaluate.anchors import AnchorConfig, anchor_stamps
from dhs_core.evaluate.known_lenses import CATALOG_SCHEMA
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.cutout_sources import LocalCoadds
from dhs_core.survey.layout import SurveyLayout
from tests.pixels import pixels_of


def _lens(name: str, ra: float, dec: float, grading: str = "confident") -> dict:
    return {
        "name": name,
        "ra": ra,
        "dec": dec,
        "zlens": "-",
        "zlens_value": None,
        "type": "galaxy",
        "grading": grading,
        "tier": {"confident": "A", "probable": "B"}[grading],
        "ref": "test",
        "file": "test",
        "line": 2,
    }


@pytest.fixture(scope="module")
def survey(small_sky, tmp_path_factory):
    """The small sky with one brick's coadd files gone (a brick the bricks table lists but the survey lacks)."""
    root = tmp_path_factory.mktemp("anchors") / "sky"
    layout = SurveyLayout(str(small_sky))
    bricks = read_bricks_table([str(small_sky / "survey-bricks-dr10-south.fits.gz")])
    gone = bricks["brickname"][1].as_py()
    root.mkdir()
    os.symlink(small_sky / "survey-bricks-dr10-south.fits.gz", root / "survey-bricks-dr10-south.fits.gz")
    for name in bricks["brickname"].to_pylist():
        if name != gone:
            target = root / os.path.relpath(layout.coadd_dir(name), str(small_sky))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(layout.coadd_dir(name), target)
    return root, bricks, gone


def test_every_anchor_is_kept_with_its_status_and_reason(survey):
    root, bricks, gone = survey
    whole = next(
        r for r in bricks.to_pylist() if r["brickname"] != gone and min(r[f"nexp_{b}"] for b in "grz") > 0
    )
    missing_brick = next(r for r in bricks.to_pylist() if r["brickname"] == gone)
    lenses = pa.Table.from_pylist(
        [
            _lens("ON-A-BRICK", whole["ra"], whole["dec"]),
            _lens("ON-A-MISSING-BRICK", missing_brick["ra"], missing_brick["dec"]),
            _lens("OUTSIDE", 180.0, -60.0),
            _lens("TIER-B", whole["ra"] + 0.01, whole["dec"], "probable"),
        ],
        schema=CATALOG_SCHEMA,
    )
    anchors = anchor_stamps(lenses, bricks, LocalCoadds(SurveyLayout(str(root))))
    by_name = {r["name"]: r for r in anchors.to_pylist()}
    assert set(by_name) == {"ON-A-BRICK", "ON-A-MISSING-BRICK", "OUTSIDE"}  # tier A only by default
    assert by_name["ON-A-BRICK"]["status"] == "ok" and by_name["ON-A-BRICK"]["arc_snr_peak"] >= 0
    assert by_name["ON-A-BRICK"]["task_id"] == "anchor/ON-A-BRICK"
    missing = by_name["ON-A-MISSING-BRICK"]
    assert (
        missing["status"] == "no_pixels"
        and gone in missing["status_reason"]
        and missing["arc_snr_peak"] is None
    )
    assert missing["brickname"] == gone
    outside = by_name["OUTSIDE"]
    assert outside["status"] == "outside_footprint" and outside["brickname"] is None
    assert "bricks table" in outside["status_reason"] and pixels_of(outside["image"]).shape == (3, 64, 64)
    both = anchor_stamps(lenses, bricks, LocalCoadds(SurveyLayout(str(root))), AnchorConfig(tiers=("A", "B")))
    assert both.num_rows == 4 and anchors["task_id"].to_pylist() == sorted(anchors["task_id"].to_pylist())


@pytest.mark.parametrize("config", [{"tiers": ()}, {"tiers": ("C",)}, {"snr_band": "i"}])
def test_bad_anchor_settings_are_refused(config):
    with pytest.raises(ConfigError):
        AnchorConfig(**config)


def test_snr_bins_from_anchors_hold_equal_shares():
    from dhs_core.evaluate.anchors import snr_bins_from_anchors

    bins = snr_bins_from_anchors([25.7, 30.0, 39.0, 40.0, 55.0, 60.5, None, float("nan")])
    assert [b[:2] for b in bins] == [(25.7, 36.0), (36.0, 45.0), (45.0, 60.51)]
    assert [b[2] for b in bins] == [0.3333] * 3 and bins[0][0] == 25.7
    assert (
        snr_bins_from_anchors(range(1, 101))[-1][1] == 100.01
        and len(snr_bins_from_anchors(range(1, 101))) == 4
    )
    assert snr_bins_from_anchors([5.0]) == ()
