"""The cutout cache's sources: at a brick's edge a cutout comes whole from a neighbouring brick where one holds it,
else padded and flagged; a corrupt brick file stops the partition naming it with nothing published; the portal's
bricks, fetched one at a time and deleted once cut, give the local rows, and a brick the portal lacks is a named gap."""

import glob
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dhs_core.errors import InputFileError
from dhs_core.fetch import FetchPolicy
from dhs_core.pixels import pixels_array
from dhs_core.stamps.cutouts import with_neighbours, write_cutouts_partition
from dhs_core.survey.bricks import brick_neighbours, read_bricks_table
from dhs_core.survey.coadds import NOT_IN_SURVEY, CoaddBrick
from dhs_core.survey.cutout_cache import CACHE_SIZE, crop
from dhs_core.survey.cutout_sources import LocalCoadds, PortalCoadds
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.plan import coadd_files
from dhs_core.survey.portal import coverage_gaps
from dhs_core.survey.serve import SurveyServer

FAST = FetchPolicy(attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05)


def _rows(folder: str) -> pa.Table:
    return pq.read_table(sorted(glob.glob(f"{glob.escape(folder)}/part-*.parquet")))


def _as_dicts(table: pa.Table) -> list[dict]:
    arrays = {name: pixels_array(table[name], name) for name in ("image", "invvar", "maskbits")}
    plain = table.drop_columns(list(arrays)).to_pylist()
    return [{**p, **{k: v[i] for k, v in arrays.items()}} for i, p in enumerate(plain)]


def _galaxy(row_id: int, brickname: str, brick: CoaddBrick, x: float, y: float) -> dict:
    ra, dec = (float(v) for v in brick.pixel_to_sky(x, y))
    return {"row_id": row_id, "brickname": brickname, "ra": ra, "dec": dec}


def test_at_a_brick_edge_a_neighbour_holding_the_cutout_gives_it_else_it_is_padded(default_sky, tmp_path):
    layout = SurveyLayout(str(default_sky))
    bricks = read_bricks_table(layout.bricks_table_paths())
    pairs = brick_neighbours(bricks)
    own, other = pairs["brickname"][0].as_py(), pairs["neighbour"][0].as_py()
    a, b = CoaddBrick(layout, own), CoaddBrick(layout, other)
    ny, nx = a.shape
    # towards the neighbour, the own brick's image ends: the last pixels before its edge on that side
    bx, by = (float(v) for v in a.sky_to_pixel(*b.pixel_to_sky(b.shape[1] / 2, b.shape[0] / 2)))
    edge = (
        (3.2 if bx < 0 else nx - 3.2, ny / 2)
        if abs(bx - nx / 2) > abs(by - ny / 2)
        else (nx / 2, 3.2 if by < 0 else ny - 3.2)
    )
    galaxies = pa.Table.from_pylist(
        [
            _galaxy(1, own, a, nx / 2, ny / 2),  # inside: its own brick
            _galaxy(
                2, own, b, b.shape[1] / 2, b.shape[0] / 2
            ),  # off its brick, whole on the neighbour's image
            _galaxy(3, own, a, *edge),  # at the edge, whole on no brick: padded
        ]
    )
    galaxies = with_neighbours(galaxies, pairs)
    assert other in galaxies["neighbours"][0].as_py()
    folder, counts = write_cutouts_partition(LocalCoadds(layout), galaxies, str(tmp_path), "c", "train")
    rows = {r["row_id"]: r for r in _as_dicts(_rows(folder))}
    assert counts["from_neighbour"] == 1
    assert [rows[i]["pixels_brick"] for i in (1, 2, 3)] == [own, other, own]
    for i, brick in ((1, a), (2, b), (3, a)):
        want = brick.cutout_at_pixel(rows[i]["x"], rows[i]["y"], CACHE_SIZE)
        got = crop(rows[i], CACHE_SIZE)
        assert np.array_equal(got.image, want.image) and np.array_equal(got.maskbits, want.maskbits)
        assert got.band_status == want.band_status and (got.x, got.y) == (want.x, want.y)
    assert crop(rows[2]).all_ok  # the neighbour's native pixels, nothing padded
    assert set(crop(rows[3]).band_status) == {"partial"} and crop(rows[3]).maskbits_status == "partial"
    assert (crop(rows[3], CACHE_SIZE).invvar == 0).any()  # zero-padded off the image, with invvar 0
    assert "CRVAL1" in rows[2]["brick_wcs"] and rows[2]["brick_wcs"] != rows[1]["brick_wcs"]


def _complete_bricks(sky) -> list[str]:
    folders = sorted(p.parent for p in sky.glob("coadd/*/*/legacysurvey-*-maskbits.fits.fz"))
    return [f.name for f in folders if len(list(f.glob("*.fits.fz"))) == 7]


def _galaxies_on(layout: SurveyLayout, names: list[str], per_brick: int = 3) -> pa.Table:
    rows = []
    for name in names:
        brick = CoaddBrick(layout, name)
        ny, nx = brick.shape
        for k in range(per_brick):
            rows.append(_galaxy(len(rows), name, brick, nx * (k + 1) / (per_brick + 1), ny / 3 + 7.3 * k))
    return pa.Table.from_pylist(rows)


def test_a_corrupt_brick_file_is_named_and_nothing_is_published(small_sky, tmp_path):
    sky = shutil.copytree(small_sky, tmp_path / "sky")
    layout = SurveyLayout(str(sky))
    names = _complete_bricks(sky)[:3]
    galaxies = _galaxies_on(layout, names)
    data = tmp_path / "data"
    folder, _ = write_cutouts_partition(
        LocalCoadds(layout), galaxies, str(data), "c", "train", unit_galaxies=3
    )
    before = {p: Path(p).read_bytes() for p in glob.glob(f"{folder}/*")}
    broken = layout.coadd_path(names[1], "invvar", "r")
    with open(broken, "r+b") as handle:  # truncated mid-file, as an interrupted copy leaves it
        handle.truncate(os.path.getsize(broken) // 2)
    with pytest.raises(InputFileError, match=broken.replace("+", r"\+")):
        write_cutouts_partition(
            LocalCoadds(layout), galaxies, str(data), "c", "train", unit_galaxies=3, processes=2
        )
    assert {
        p: Path(p).read_bytes() for p in glob.glob(f"{folder}/*")
    } == before  # the last publication, whole
    assert sorted(os.listdir(data / "c")) == ["train"]  # no staging folder left behind


def test_portal_bricks_fetched_one_at_a_time_and_deleted_give_the_local_rows(small_sky, tmp_path):
    portal = shutil.copytree(small_sky, tmp_path / "portal")
    served = SurveyLayout(str(portal))
    names = _complete_bricks(portal)[:3]
    galaxies = _galaxies_on(served, names)
    gone = names[-1]
    shutil.rmtree(served.coadd_dir(gone))  # the portal has no such brick
    local, _ = write_cutouts_partition(LocalCoadds(served), galaxies, str(tmp_path / "local"), "c", "train")
    cache = SurveyLayout(str(tmp_path / "cache"))
    with SurveyServer(str(portal), faults={coadd_files([names[0]])[0]: ["503"]}) as server:
        source = PortalCoadds(cache, server.url, FAST, keep=False)
        folder, counts = write_cutouts_partition(source, galaxies, str(tmp_path / "remote"), "c", "train")
    a, b = _rows(local), _rows(folder)
    assert set(b["source"].to_pylist()) == {"portal"} and counts["bricks_without_files"] == 1
    for column in a.column_names:
        if column in ("x", "y"):  # NaN on the brick without files
            assert np.array_equal(a[column].to_numpy(), b[column].to_numpy(), equal_nan=True)
        elif column not in ("source", "brick_problem"):
            assert a[column].equals(b[column]), column
    on_gone = b.filter(pa.compute.equal(b["brickname"], gone))
    assert set(on_gone["brick_problem"].to_pylist()) == {f"{NOT_IN_SURVEY} {gone}"}
    # deleted once cut: no brick file is left, only the gaps the portal answered
    assert not glob.glob(f"{cache.root}/coadd/*/*/*.fits.fz")
    assert set(coverage_gaps(cache.root)["brick"].to_pylist()) == {gone}


def test_a_brick_the_portal_cannot_send_stops_the_unit_naming_it(small_sky, tmp_path):
    names = _complete_bricks(small_sky)[:2]
    galaxies = _galaxies_on(SurveyLayout(str(small_sky)), names)
    failing = coadd_files([names[1]])[2]
    with SurveyServer(str(small_sky), faults={failing: ["503"] * 5}) as server:
        source = PortalCoadds(SurveyLayout(str(tmp_path / "cache")), server.url, FAST)
        with pytest.raises(InputFileError, match=f"{failing}: could not be fetched"):
            write_cutouts_partition(source, galaxies, str(tmp_path / "data"), "c", "train")
    assert not os.path.exists(tmp_path / "data" / "c" / "train")
