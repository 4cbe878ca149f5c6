"""The cutout cache crops every stamp exactly as the brick cuts it: pixels bit for bit, sub-pixel position, statuses;
at the brick's edge and off it, and for a brick missing a band."""

import dataclasses
import glob
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq
import pytest

from dhs_core.errors import ConfigError, InputFileError, MissingColumnError
from dhs_core.pixels import pixels_array
from dhs_core.stamps.cutouts import write_cutouts_partition
from dhs_core.stamps.partition import StampsJob, write_stamps_partition
from dhs_core.stamps.read import stamp_files
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.survey.cutout_cache import (
    CACHE_SIZE,
    CachedCutouts,
    cache_findings,
    cache_rows,
    check_galaxies,
    crop,
    write_cache_partition,
)
from dhs_core.survey.cutout_sources import LocalCoadds
from dhs_core.survey.layout import SurveyLayout


def cache_cutouts(brick: CoaddBrick, galaxies: pa.Table, size: int = CACHE_SIZE) -> pa.Table:
    """The cache rows of galaxies on one brick, cut from the local survey root."""
    check_galaxies(galaxies, size)
    return cache_rows(galaxies, LocalCoadds(brick.layout).cut(brick.brickname, galaxies, size), size)


def _galaxies(brick: CoaddBrick, pixels: list[tuple[float, float]]) -> pa.Table:
    ra, dec = brick.pixel_to_sky([p[0] for p in pixels], [p[1] for p in pixels])
    return pa.table(
        {
            "row_id": pa.array(np.arange(len(pixels), dtype=np.int64)),
            "brickname": [brick.brickname] * len(pixels),
            "ra": pa.array(np.atleast_1d(ra), pa.float64()),
            "dec": pa.array(np.atleast_1d(dec), pa.float64()),
        }
    )


def _rows(table: pa.Table) -> list[dict]:
    images, invvars = pixels_array(table["image"], "image"), pixels_array(table["invvar"], "invvar")
    masks = pixels_array(table["maskbits"], "maskbits")
    plain = table.drop_columns(["image", "invvar", "maskbits"]).to_pylist()
    return [
        {**p, "image": images[i], "invvar": invvars[i], "maskbits": masks[i]} for i, p in enumerate(plain)
    ]


def _same(a, b) -> None:
    for name in ("image", "invvar", "maskbits"):
        assert getattr(a, name).dtype == getattr(b, name).dtype
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.x, a.y, a.band_status, a.maskbits_status) == (b.x, b.y, b.band_status, b.maskbits_status)


def test_a_cropped_cache_row_is_the_brick_cutout_bit_for_bit(small_sky):
    brick = CoaddBrick(SurveyLayout(str(small_sky)), _first_brick(small_sky))
    ny, nx = brick.shape
    # inside, a pixel from each edge, a corner, half-way off, entirely off; sub-pixel positions either side of .5
    pixels = [
        (nx / 2 + 0.3, ny / 2 - 0.2),
        (5.4, ny / 2),
        (nx - 3.6, ny / 2 + 0.49),
        (nx / 2, 0.51),
        (2.0, ny - 1.2),
        (-20.0, ny / 2),
        (nx + 200.0, ny + 200.0),
    ]
    table = cache_cutouts(brick, _galaxies(brick, pixels))
    assert table.num_rows == len(pixels) and set(table["source"].to_pylist()) == {"local"}
    for row in _rows(table):
        for size in (64, 33, CACHE_SIZE):
            _same(crop(row, size), brick.cutout_at_pixel(row["x"], row["y"], size))
    statuses = [crop(r).band_status[1] for r in _rows(table)]
    assert statuses[0] == "ok" and "partial" in statuses and statuses[-1] == "outside"


def test_a_brick_missing_a_band_keeps_that_band_missing(small_sky, tmp_path):
    sky = shutil.copytree(small_sky, tmp_path / "sky")
    layout = SurveyLayout(str(sky))
    name = _first_brick(sky)
    os.remove(layout.coadd_path(name, "image", "z"))
    os.remove(layout.coadd_path(name, "invvar", "g"))
    brick = CoaddBrick(layout, name)
    ny, nx = brick.shape
    table = cache_cutouts(brick, _galaxies(brick, [(nx / 2, ny / 2), (3.0, 3.0)]))
    for row in _rows(table):
        cut = crop(row)
        _same(cut, brick.cutout_at_pixel(row["x"], row["y"]))
        assert cut.band_status[2] == "missing" and cut.band_status[0] == "missing invvar"


def test_bad_requests_are_clear_errors(small_sky):
    brick = CoaddBrick(SurveyLayout(str(small_sky)), _first_brick(small_sky))
    galaxies = _galaxies(brick, [(100.0, 100.0)])
    with pytest.raises(MissingColumnError, match="dec"):
        cache_cutouts(brick, galaxies.drop_columns(["dec"]))
    with pytest.raises(ConfigError, match="even number"):
        cache_cutouts(brick, galaxies, size=63)
    row = _rows(cache_cutouts(brick, galaxies, size=64))[0]
    with pytest.raises(ConfigError, match="at most the cached cutout's 64"):
        crop(row, 96)


def _first_brick(sky) -> str:
    """The first brick (by name) of the survey root ``sky`` with every coadd file (the mock sky leaves bands out of
    some bricks on purpose)."""
    folders = sorted(p.parent for p in sky.glob("coadd/*/*/legacysurvey-*-maskbits.fits.fz"))
    return next(f.name for f in folders if len(list(f.glob("*.fits.fz"))) == 7)


def _cache(sky, manifest: pa.Table, root) -> str:
    """A cutout cache partition of the manifest's galaxies, written as the galaxy_cutouts asset writes it, with units
    of one galaxy: a file per brick."""
    galaxies = manifest.group_by(["row_id", "brickname"]).aggregate([("ra", "min"), ("dec", "min")])
    galaxies = galaxies.rename_columns(["row_id", "brickname", "ra", "dec"])
    folder, counts = write_cutouts_partition(
        LocalCoadds(SurveyLayout(str(sky))), galaxies, str(root), "galaxy_cutouts", "train", unit_galaxies=1
    )
    bricks = len(set(galaxies["brickname"].to_pylist()))
    assert counts["galaxies"] == galaxies.num_rows and counts["bricks"] == bricks
    assert len(glob.glob(f"{glob.escape(folder)}/part-*.parquet")) == bricks
    return folder


def test_stamps_from_the_cache_equal_stamps_from_the_bricks(small_sky, stamp_bank, make_manifest, tmp_path):
    sky = shutil.copytree(small_sky, tmp_path / "sky")
    manifest = make_manifest(sky, per_sweep=12)
    gone = sorted(set(manifest["brickname"].to_pylist()))[-1]  # a brick whose files are all missing
    shutil.rmtree(os.path.dirname(SurveyLayout(str(sky)).coadd_path(gone, "maskbits")))
    cache = _cache(sky, manifest, tmp_path / "cache")
    job = StampsJob(str(sky), stamp_bank, workers=1, unit_tasks=40, rows_per_group=16)
    bricks, _ = write_stamps_partition(manifest, job, str(tmp_path / "a"), "s", "p")
    cached, counts = write_stamps_partition(
        manifest,
        dataclasses.replace(job, cutout_cache=tuple(stamp_files(cache))),
        str(tmp_path / "b"),
        "s",
        "p",
    )
    a, b = (pq.read_table(sorted(glob.glob(f"{f}/part-*.parquet"))) for f in (bricks, cached))
    assert a.num_rows == manifest.num_rows and counts["brick_missing"] > 0
    # every column, every row, every pixel (NaN where both are NaN: a failed stamp's magnification)
    differ = [c for c in a.column_names if not a[c].equals(b[c]) and not _same_floats(a[c], b[c])]
    assert not differ, differ


def _same_floats(a: pa.ChunkedArray, b: pa.ChunkedArray) -> bool:
    return pa.types.is_floating(a.type) and np.array_equal(
        a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False), equal_nan=True
    )


def test_a_galaxy_missing_from_the_cache_is_an_error_naming_it(
    small_sky, stamp_bank, make_manifest, tmp_path
):
    manifest = make_manifest(small_sky, per_sweep=4)
    first = manifest["row_id"][0]
    cache = _cache(
        small_sky, manifest.filter(pa.compute.not_equal(manifest["row_id"], first)), tmp_path / "cache"
    )
    job = StampsJob(str(small_sky), stamp_bank, workers=1, cutout_cache=tuple(stamp_files(cache)))
    with pytest.raises(
        InputFileError, match=f"row_id {manifest['row_id'][0].as_py()} is not in the cutout cache"
    ):
        write_stamps_partition(manifest, job, str(tmp_path / "out"), "s", "p")


def test_a_cache_partition_refuses_a_galaxy_twice_and_may_be_empty(small_sky, tmp_path):
    brick = CoaddBrick(SurveyLayout(str(small_sky)), _first_brick(small_sky))
    galaxies = _galaxies(brick, [(100.0, 100.0), (200.0, 300.0)])
    twice = pa.concat_tables([galaxies, galaxies.slice(0, 1)])
    with pytest.raises(InputFileError, match="row_id 0 listed twice"):
        write_cache_partition(
            LocalCoadds(SurveyLayout(str(small_sky))), twice, str(tmp_path / "twice.parquet")
        )
    assert not (tmp_path / "twice.parquet").exists()
    empty = tmp_path / "empty.parquet"
    stats = write_cache_partition(LocalCoadds(SurveyLayout(str(small_sky))), galaxies.slice(0, 0), str(empty))
    assert (
        stats == {"galaxies": 0, "bricks": 0, "bricks_without_files": 0, "from_neighbour": 0}
        and pq.read_table(empty).num_rows == 0
    )
    whole = tmp_path / "whole.parquet"
    write_cache_partition(LocalCoadds(SurveyLayout(str(small_sky))), galaxies, str(whole))
    cached = CachedCutouts([str(whole)], [brick.brickname])
    rows = pa.table({"row_id": [1, 0], "stamp_size": [64, 64]})
    cutouts, problem = cached.cutouts_for(rows)
    assert problem is None
    _same(
        cutouts[1],
        brick.cutout_at_pixel(
            *map(float, brick.sky_to_pixel(galaxies["ra"][0].as_py(), galaxies["dec"][0].as_py()))
        ),
    )


def test_a_cache_partition_is_the_same_bytes_whatever_the_workers(small_sky, make_manifest, tmp_path):
    manifest = make_manifest(small_sky, per_sweep=6)
    galaxies = manifest.group_by(["row_id", "brickname"]).aggregate([("ra", "min"), ("dec", "min")])
    galaxies = galaxies.rename_columns(["row_id", "brickname", "ra", "dec"])
    digests = []
    for processes, root in ((1, tmp_path / "one"), (2, tmp_path / "two")):
        folder, _ = write_cutouts_partition(
            LocalCoadds(SurveyLayout(str(small_sky))),
            galaxies,
            str(root),
            "c",
            "val",
            unit_galaxies=1,
            processes=processes,
        )
        files = sorted(glob.glob(f"{glob.escape(folder)}/part-*.parquet"))
        digests.append([hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files])
    assert len(digests[0]) > 1 and digests[0] == digests[1]


def test_the_cache_check_finds_missing_unexpected_doubled_and_mis_sized_rows():
    parents = pa.table({"row_id": pa.array([1, 2, 3], pa.int64())})

    def cached(ids, sizes=None, problems=None):
        return pa.table(
            {
                "row_id": pa.array(ids, pa.int64()),
                "cutout_size": pa.array(sizes or [CACHE_SIZE] * len(ids), pa.int32()),
                "brick_problem": problems or [""] * len(ids),
            }
        )

    good = cache_findings(cached([1, 2, 3], problems=["", "no coadd files for brick x", ""]), parents)
    assert good["passed"] and good["rows_on_bricks_without_files"] == 1
    bad = cache_findings(cached([1, 1, 4], sizes=[CACHE_SIZE, CACHE_SIZE, 64]), parents)
    assert not bad["passed"]
    assert (bad["missing"], bad["unexpected"], bad["twice"], bad["wrong_size"]) == (2, 1, 1, 1)
