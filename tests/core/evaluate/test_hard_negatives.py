"""Hard negatives: a user catalogue (plain, or Galaxy Zoo DECaLS as published) and the sweep proxy by shape and
colour; bad rows named; known lenses kept out; stamps cut like controls with their status and label 0."""

import collections

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from dhs_core.errors import ConfigError, InputFileError, MissingColumnError
from dhs_core.evaluate.hard_negatives import (
    HardNegativeConfig,
    hard_negative_stamps,
    negative_objects,
    proxy_negatives,
    read_negative_catalog,
)
from dhs_core.evaluate.known_lenses import CATALOG_SCHEMA
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.cutout_sources import LocalCoadds
from dhs_core.survey.layout import SurveyLayout
from tests.pixels import pixels_of


def _csv(path, table: pa.Table):
    pcsv.write_csv(table, path)
    return str(path)


def test_a_plain_catalogue_is_read_and_bad_rows_are_named(tmp_path):
    good = _csv(
        tmp_path / "mine.csv", pa.table({"ra": [10.0, 20.0], "dec": [1.0, -2.0], "class": ["ring", "spiral"]})
    )
    table = read_negative_catalog(good)
    assert table["class"].to_pylist() == ["ring", "spiral"] and table["name"].to_pylist() == [
        "mine.csv:1",
        "mine.csv:2",
    ]
    bad = _csv(
        tmp_path / "bad.csv", pa.table({"ra": [10.0, 400.0], "dec": [1.0, 0.0], "class": ["ring", "ring"]})
    )
    with pytest.raises(InputFileError, match=r"bad.csv: row 2: RA 400.0"):
        read_negative_catalog(bad)
    unclassed = _csv(
        tmp_path / "unclassed.csv", pa.table({"ra": [1.0, 2.0], "dec": [0.0, 0.0], "class": ["ring", ""]})
    )
    with pytest.raises(InputFileError, match="row 2: no class"):
        read_negative_catalog(unclassed)
    with pytest.raises(MissingColumnError, match="nocls.csv"):
        read_negative_catalog(_csv(tmp_path / "nocls.csv", pa.table({"ra": [1.0], "dec": [0.0]})))
    with pytest.raises(InputFileError, match="no such hard-negative catalogue"):
        read_negative_catalog(str(tmp_path / "absent.csv"))
    twice = _csv(
        tmp_path / "twice.csv",
        pa.table({"name": ["g1", "g1"], "ra": [1.0, 1.0], "dec": [0.0, 0.0], "class": ["ring", "ring"]}),
    )
    with pytest.raises(InputFileError, match="'g1' listed 2 times"):
        negative_objects(None, HardNegativeConfig(catalog=twice))


def test_galaxy_zoo_decals_votes_give_the_class(tmp_path):
    featured = "smooth-or-featured_featured-or-disk_fraction"
    rows = {
        "iauname": ["J1", "J2", "J3", "J4"],
        "ra": [1.0, 2.0, 3.0, 4.0],
        "dec": [0.0, 0.0, 0.0, 0.0],
        featured: [0.9, 0.9, 0.1, 0.2],
        "disk-edge-on_yes_fraction": [0.9, 0.1, 0.0, 0.0],
        "disk-edge-on_no_fraction": [0.1, 0.9, 1.0, 1.0],
        "has-spiral-arms_yes_fraction": [0.2, 0.95, 0.0, 0.0],
        "merging_merger_fraction": [0.0, 0.0, 0.0, 0.5],
        "merging_major-disturbance_fraction": [0.0, 0.0, 0.1, 0.2],
    }
    table = read_negative_catalog(_csv(tmp_path / "gz_decals_volunteers_5.csv", pa.table(rows)))
    assert table["class"].to_pylist() == ["edge_on", "spiral", None, "merger"]
    objects, unclassified = negative_objects(
        None, HardNegativeConfig(catalog=str(tmp_path / "gz_decals_volunteers_5.csv"))
    )
    assert dict(zip(objects["name"].to_pylist(), objects["class"].to_pylist())) == {
        "J1": "edge_on",
        "J2": "spiral",
        "J4": "merger",
    }
    assert unclassified == 1


def _sweep(rows: list[dict]) -> pa.Table:
    base = {"brickname": "b1", "type": "EXP", "sersic": 1.0, "shape_e1": 0.0, "shape_e2": 0.0, "gmag": 19.5}
    return pa.Table.from_pylist([{**base, "objid": i, **row} for i, row in enumerate(rows)])


def test_the_sweep_proxy_finds_pairs_edge_on_and_blue_discs():
    dec = 10.0
    arcsec = 1 / 3600
    table = _sweep(
        [
            {
                "ra": 100.0,
                "dec": dec,
                "rmag": 18.0,
                "shape_r": 0.5,
                "type": "DEV",
                "sersic": 4.0,
            },  # pair centre
            {
                "ra": 100.0 + 4 * arcsec / np.cos(np.radians(dec)),
                "dec": dec,
                "rmag": 19.0,
                "shape_r": 0.5,
                "type": "DEV",
                "sersic": 4.0,
            },
            {"ra": 101.0, "dec": dec, "rmag": 18.5, "shape_r": 3.0, "shape_e1": 0.6},  # q = 0.25: edge-on
            {"ra": 102.0, "dec": dec, "rmag": 18.5, "shape_r": 3.0, "gmag": 19.0},  # g - r = 0.5: blue disc
            {"ra": 103.0, "dec": dec, "rmag": 18.5, "shape_r": 3.0, "gmag": 20.0},  # red disc: no
            {"ra": 104.0, "dec": dec, "rmag": 21.0, "shape_r": 3.0, "gmag": 21.2},  # too faint
            {
                "ra": 105.0,
                "dec": dec,
                "rmag": 18.0,
                "shape_r": 0.5,
                "type": "DEV",
                "sersic": 4.0,
            },  # a companion at 12"
            {
                "ra": 105.0 + 12 * arcsec / np.cos(np.radians(dec)),
                "dec": dec,
                "rmag": 18.2,
                "shape_r": 0.5,
                "type": "DEV",
                "sersic": 4.0,
            },
        ]
    )
    found = proxy_negatives(table)
    assert dict(zip(found["name"].to_pylist(), found["class"].to_pylist())) == {
        "b1-0": "close_pair",
        "b1-2": "edge_on_disc",
        "b1-3": "blue_disc",
    }
    # at most max_per_class, the same ones every time
    many = _sweep(
        [{"ra": 100.0 + i, "dec": 0.0, "rmag": 18.0, "shape_r": 3.0, "gmag": 18.2} for i in range(30)]
    )
    first = proxy_negatives(many, HardNegativeConfig(max_per_class=5))
    assert first.num_rows == 5 and first.equals(proxy_negatives(many, HardNegativeConfig(max_per_class=5)))
    with pytest.raises(MissingColumnError, match="sweep_lrgs"):
        proxy_negatives(many.drop_columns(["shape_r"]))
    with pytest.raises(ConfigError, match="pair_separation_arcsec"):
        HardNegativeConfig(pair_separation_arcsec=(5.0, 2.0))


def test_stamps_are_cut_like_controls_and_known_lenses_kept_out(small_sky):
    layout = SurveyLayout(str(small_sky))
    bricks = read_bricks_table(layout.bricks_table_paths())
    row = next(r for r in bricks.to_pylist() if min(r[f"nexp_{b}"] for b in "grz") > 0)  # every band there
    objects = pa.table(
        {
            "name": ["near-lens", "plain", "outside"],
            "ra": [row["ra"], row["ra"] + 0.01, 180.0],
            "dec": [row["dec"], row["dec"] + 0.01, -60.0],
            "class": ["ring", "spiral", "merger"],
        }
    )
    lens = {f.name: None for f in CATALOG_SCHEMA}
    lenses = pa.Table.from_pylist(
        [{**lens, "name": "L1", "ra": row["ra"], "dec": row["dec"] + 2 / 3600}], schema=CATALOG_SCHEMA
    )
    stamps, excluded = hard_negative_stamps(objects, bricks, LocalCoadds(layout), lenses, selection="test")
    assert excluded["name"].to_pylist() == ["near-lens"] and excluded["known_lens"].to_pylist() == ["L1"]
    by_name = {r["name"]: r for r in stamps.to_pylist()}
    assert set(by_name) == {"plain", "outside"}
    assert by_name["plain"]["task_id"] == "negative/plain" and by_name["plain"]["label"] == 0
    assert (
        by_name["plain"]["status"] in ("ok", "partial")
        and by_name["outside"]["status"] == "outside_footprint"
    )
    image = pixels_of(by_name["plain"]["image"])
    assert np.abs(image).sum() > 0 and collections.Counter(stamps["selection"].to_pylist()) == {"test": 2}
