"""Galaxy cutouts decoded once: one cache row per galaxy holds a ``CACHE_SIZE``-square cutout of image and invvar
(g, r, z) and maskbits around it, cut from its brick, with what is needed to crop any stamp from it exactly as
:meth:`dhs_core.survey.coadds.CoaddBrick.cutout` would cut it from the brick: the same pixels bit for bit, the same
sub-pixel position and the same band statuses.

Why a margin: the stamps are 64 pixels (``STAMP_SIZE``, the only size a manifest has); 16 more pixels on each side
(``CACHE_SIZE`` = 96) let a stamp be recentred or enlarged later without a second pass over the bricks.

Geometry (``docs/conventions.md``): a stamp of ``size`` pixels around a galaxy at brick pixel ``(x, y)`` starts at
``stamp_origin(x, y, size) = round(x) - size // 2``, so every stamp of a galaxy is the cache cropped at the same
offset ``CACHE_SIZE // 2 - size // 2``. Pixels off the brick are zero in the cache as in a brick cutout; the crop's
status (ok, partial, outside) is recomputed from the brick's shape, and a band without files keeps its status.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS, STAMP_SIZE, stamp_origin
from dhs_core.errors import ConfigError, MissingColumnError
from dhs_core.survey.coadds import BAND_OK, BAND_OUTSIDE, BAND_PARTIAL, CoaddBrick, Cutout

CACHE_SIZE = 96  # pixels: a 64-pixel stamp plus 16 pixels on each side
FILE_PRESENT = "present"  # a band's files exist: its crop's status is the crop's geometry
GEOMETRY = (BAND_OK, BAND_PARTIAL, BAND_OUTSIDE)
GALAXY_COLUMNS = ("row_id", "brickname", "ra", "dec")
SOURCE_LOCAL = "local"  # cut from a survey root on disk


def cache_cutouts(
    brick: CoaddBrick, galaxies: pa.Table, size: int = CACHE_SIZE, source: str = SOURCE_LOCAL
) -> pa.Table:
    """The cache rows of ``galaxies`` (``row_id``, ``brickname``, ``ra``, ``dec`` in deg), all on ``brick``: their
    brick pixel position (``x``, ``y``, 0-based), the brick's shape (``brick_nx``, ``brick_ny``), each band's and the
    maskbits' file status, ``image`` and ``invvar`` (3 x size x size float32; nanomaggies, nMgy^-2), ``maskbits``
    (size x size int32) and the ``source`` they were cut from."""
    missing = [c for c in GALAXY_COLUMNS if c not in galaxies.column_names]
    if missing:
        raise MissingColumnError("galaxies to cache", missing)
    if size % 2 or size < STAMP_SIZE:
        raise ConfigError("cutout cache size", size, f"an even number of pixels >= {STAMP_SIZE}")
    x, y = brick.sky_to_pixel(galaxies["ra"].to_numpy(), galaxies["dec"].to_numpy())
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    cutouts = [brick.cutout_at_pixel(float(x[i]), float(y[i]), size) for i in range(galaxies.num_rows)]
    ny, nx = brick.shape
    n = galaxies.num_rows
    return pa.table(
        {
            **{name: galaxies[name] for name in GALAXY_COLUMNS},
            "x": pa.array(x, pa.float64()),
            "y": pa.array(y, pa.float64()),
            "brick_nx": pa.array(np.full(n, nx, np.int32)),
            "brick_ny": pa.array(np.full(n, ny, np.int32)),
            "band_files": pa.array(
                [[_file_status(s) for s in c.band_status] for c in cutouts], pa.list_(pa.string())
            ),
            "maskbits_file": pa.array([_file_status(c.maskbits_status) for c in cutouts], pa.string()),
            "cutout_size": pa.array(np.full(n, size, np.int32)),
            "image": _fixed([c.image for c in cutouts], np.float32, len(BANDS) * size * size),
            "invvar": _fixed([c.invvar for c in cutouts], np.float32, len(BANDS) * size * size),
            "maskbits": _fixed([c.maskbits for c in cutouts], np.int32, size * size),
            "source": pa.array([source] * n, pa.string()),
        }
    )


def crop(row: dict, size: int = STAMP_SIZE) -> Cutout:
    """The ``size``-pixel stamp of one cache row (a dict of its columns, arrays as numpy: ``image`` and ``invvar``
    (3, C, C), ``maskbits`` (C, C)), equal to the brick's own cutout of that size."""
    cache = int(row["cutout_size"])
    if size > cache:
        raise ConfigError("stamp size", size, f"at most the cached cutout's {cache} pixels")
    x, y = float(row["x"]), float(row["y"])
    x0, y0 = (int(v) for v in stamp_origin(x, y, size))
    off = cache // 2 - size // 2
    window = (slice(off, off + size), slice(off, off + size))
    geometry = _geometry(x0, y0, size, int(row["brick_nx"]), int(row["brick_ny"]))
    return Cutout(
        np.ascontiguousarray(row["image"][(slice(None), *window)]),
        np.ascontiguousarray(row["invvar"][(slice(None), *window)]),
        np.ascontiguousarray(row["maskbits"][window]),
        x - x0,
        y - y0,
        "".join(BANDS),
        tuple(geometry if s == FILE_PRESENT else s for s in row["band_files"]),
        geometry if row["maskbits_file"] == FILE_PRESENT else row["maskbits_file"],
    )


def _geometry(x0: int, y0: int, size: int, nx: int, ny: int) -> str:
    """Whether a stamp at origin ``(x0, y0)`` lies on the brick image (ok), partly (partial) or not at all."""
    width = min(x0 + size, nx) - max(x0, 0)
    height = min(y0 + size, ny) - max(y0, 0)
    if width <= 0 or height <= 0:
        return BAND_OUTSIDE
    return BAND_OK if width == size and height == size else BAND_PARTIAL


def _file_status(status: str) -> str:
    return FILE_PRESENT if status in GEOMETRY else status


def _fixed(arrays: list[np.ndarray], dtype, per_row: int) -> pa.FixedSizeListArray:
    flat = (
        np.concatenate([a.astype(dtype, copy=False).ravel() for a in arrays])
        if arrays
        else np.zeros(0, dtype)
    )
    return pa.FixedSizeListArray.from_arrays(pa.array(flat), per_row)
