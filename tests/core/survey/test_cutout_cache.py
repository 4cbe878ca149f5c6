"""The cutout cache crops every stamp exactly as the brick cuts it: pixels bit for bit, sub-pixel position, statuses;
at the brick's edge and off it, and for a brick missing a band."""

import os
import shutil

import numpy as np
import pyarrow as pa
import pytest

from dhs_core.errors import ConfigError, MissingColumnError
from dhs_core.stamps.read import pixels_array
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.survey.cutout_cache import CACHE_SIZE, cache_cutouts, crop
from dhs_core.survey.layout import SurveyLayout


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
