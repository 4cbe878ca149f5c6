"""Galaxy cutouts decoded once: one cache row per galaxy holds a ``CACHE_SIZE``-square cutout of image and invvar
(g, r, z) and maskbits around it, cut by a source (``dhs_core.survey.cutout_sources``: local coadds, the portal's, the
cutout service) from its brick or, at an edge, a neighbour that holds it whole, with what is needed to crop any stamp from it exactly as
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

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.dataset as ds

from dhs_core.conventions import BANDS, STAMP_SIZE, stamp_origin
from dhs_core.errors import ConfigError, InputFileError, MissingColumnError
from dhs_core.pixels import PIXEL_TYPE, pixel_rows, pixels_array
from dhs_core.stamps.build import brick_groups
from dhs_core.survey.coadds import BAND_OK, BAND_OUTSIDE, BAND_PARTIAL, Cutout, stamp_window
from dhs_core.tables import DuckDBSettings, write_batches

CACHE_SIZE = 96  # pixels: a 64-pixel stamp plus 16 pixels on each side
PIXEL_COLUMNS = ("image", "invvar", "maskbits")  # as the stamps store them (``dhs_core.pixels``)
FILE_PRESENT = "present"  # a band's files exist: its crop's status is the crop's geometry
GEOMETRY = (BAND_OK, BAND_PARTIAL, BAND_OUTSIDE)
GALAXY_COLUMNS = ("row_id", "brickname", "ra", "dec")
SOURCE_LOCAL = "local"  # cut from a survey root on disk (the others: dhs_core.survey.cutout_sources)


@dataclass(frozen=True)
class GalaxyCutout:
    """One galaxy's cache-size cutout as a source cut it: the ``cutout`` (its ``x``, ``y`` in cutout pixels), the
    galaxy's position ``x``, ``y`` (0-based) on the image of ``pixels_brick`` (the brick the pixels come from: its own,
    or a neighbour whose image holds the whole cutout), that image's ``shape`` (rows, columns) and WCS (``wcs``, FITS
    header text), and ``problem``: why no stamp can be cut (its brick has no files), empty if one can."""

    cutout: Cutout
    x: float
    y: float
    shape: tuple[int, int]
    pixels_brick: str
    wcs: str
    problem: str = ""


def missing_cutout(brickname: str, size: int, problem: str) -> GalaxyCutout:
    """The cutout of a galaxy on a brick without files: zeros, every band and the maskbits missing."""
    return GalaxyCutout(Cutout.missing("".join(BANDS), size), np.nan, np.nan, (0, 0), brickname, "", problem)


def cache_rows(
    galaxies: pa.Table, cutouts: list[GalaxyCutout], size: int = CACHE_SIZE, source: str = SOURCE_LOCAL
) -> pa.Table:
    """The cache rows of ``galaxies`` (``row_id``, ``brickname``, ``ra``, ``dec`` in deg) from their cutouts: the
    galaxy's pixel position (``x``, ``y``, 0-based) on ``pixels_brick``, that brick's shape (``brick_nx``,
    ``brick_ny``) and WCS (``brick_wcs``), each band's and the maskbits' file status, ``image`` and ``invvar`` (3 x size
    x size float32; nanomaggies, nMgy^-2), ``maskbits`` (size x size int32), ``brick_problem`` (why no stamp can be cut,
    empty if one can) and the ``source`` they were cut from (``local``, ``portal`` or ``service``)."""
    n = galaxies.num_rows
    return pa.table(
        {
            "row_id": pa.array(galaxies["row_id"].to_numpy(), pa.int64()),
            "brickname": galaxies["brickname"].cast(pa.string()),
            "ra": galaxies["ra"].cast(pa.float64()),
            "dec": galaxies["dec"].cast(pa.float64()),
            "x": pa.array([g.x for g in cutouts], pa.float64()),
            "y": pa.array([g.y for g in cutouts], pa.float64()),
            "brick_nx": pa.array([g.shape[1] for g in cutouts], pa.int32()),
            "brick_ny": pa.array([g.shape[0] for g in cutouts], pa.int32()),
            "pixels_brick": pa.array([g.pixels_brick for g in cutouts], pa.string()),
            "brick_wcs": pa.array([g.wcs for g in cutouts], pa.string()),
            "band_files": pa.array(
                [[_file_status(s) for s in g.cutout.band_status] for g in cutouts], pa.list_(pa.string())
            ),
            "maskbits_file": pa.array([_file_status(g.cutout.maskbits_status) for g in cutouts], pa.string()),
            "cutout_size": pa.array(np.full(n, size, np.int32)),
            **{
                name: pixel_rows([getattr(g.cutout, name) for g in cutouts], name, size)
                for name in PIXEL_COLUMNS
            },
            "brick_problem": pa.array([g.problem for g in cutouts], pa.string()),
            "source": pa.array([source] * n, pa.string()),
        },
        schema=cache_cutouts_schema(),
    )


def check_galaxies(galaxies: pa.Table, size: int) -> None:
    """Refuse galaxies without the columns a cache row needs, and a cache size no stamp fits, naming them."""
    missing = [c for c in GALAXY_COLUMNS if c not in galaxies.column_names]
    if missing:
        raise MissingColumnError("galaxies to cache", missing)
    if size % 2 or size < STAMP_SIZE:
        raise ConfigError("cutout cache size", size, f"an even number of pixels >= {STAMP_SIZE}")


def crop(row: dict, size: int = STAMP_SIZE) -> Cutout:
    """The ``size``-pixel stamp of one cache row (a dict of its columns, arrays as numpy: ``image`` and ``invvar``
    (3, C, C), ``maskbits`` (C, C)), equal to the brick's own cutout of that size."""
    cache = int(row["cutout_size"])
    if size > cache:
        raise ConfigError("stamp size", size, f"at most the cached cutout's {cache} pixels")
    if row["brick_problem"]:  # a brick without files: the brick's own missing cutout
        return Cutout.missing("".join(BANDS), size)
    x, y = float(row["x"]), float(row["y"])
    x0, y0 = (int(v) for v in stamp_origin(x, y, size))
    off = cache // 2 - size // 2
    window = (slice(off, off + size), slice(off, off + size))
    geometry = stamp_window(x0, y0, size, (int(row["brick_ny"]), int(row["brick_nx"]))).status
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


# cache rows per Parquet row group (2 MB of pixels): a stamps unit reads little beyond its bricks'
ROWS_PER_GROUP = 8


def write_cache_partition(
    source,
    galaxies: pa.Table,
    path: str,
    size: int = CACHE_SIZE,
    settings: DuckDBSettings = DuckDBSettings(),
) -> dict:
    """Cut the cache rows of ``galaxies`` (``row_id``, ``brickname``, ``ra``, ``dec``; optionally ``neighbours``, the
    bricks touching each galaxy's) brick by brick from ``source`` (``dhs_core.survey.cutout_sources``), in brick and
    row_id order, and stream them to the Parquet file ``path`` (written under a temporary name, then renamed): each
    brick's files are decoded once, whole, for all its galaxies, and memory holds one brick's rows. A galaxy listed
    twice is an error naming it. Returns counts: galaxies, bricks, bricks without files, cutouts from a neighbour."""
    check_galaxies(galaxies, size)
    ids = galaxies["row_id"].to_numpy()
    unique, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        raise InputFileError(
            path, f"galaxy row_id {int(unique[counts > 1][0])} listed twice for the cutout cache"
        )
    galaxies = galaxies.sort_by([("brickname", "ascending"), ("row_id", "ascending")])
    groups = brick_groups(galaxies)
    stats = {
        "galaxies": galaxies.num_rows,
        "bricks": len(groups),
        "bricks_without_files": 0,
        "from_neighbour": 0,
    }

    def batches():
        for name, rows in groups:
            on_brick = galaxies.take(rows)
            cached = cache_rows(on_brick, source.cut(name, on_brick, size), size, source.name)
            stats["bricks_without_files"] += bool(cached["brick_problem"][0].as_py())
            stats["from_neighbour"] += (
                pa.compute.sum(pa.compute.not_equal(cached["pixels_brick"], cached["brickname"])).as_py() or 0
            )
            yield from cached.to_batches(max_chunksize=ROWS_PER_GROUP)

    empty = cache_cutouts_schema().empty_table()
    write_batches(_nonempty(batches(), empty), empty.schema, path, ROWS_PER_GROUP, settings)
    return stats


def cache_cutouts_schema() -> pa.Schema:
    """The columns of a cache row (:func:`cache_rows`)."""
    return pa.schema(
        [
            ("row_id", pa.int64()),
            ("brickname", pa.string()),
            ("ra", pa.float64()),
            ("dec", pa.float64()),
            ("x", pa.float64()),
            ("y", pa.float64()),
            ("brick_nx", pa.int32()),
            ("brick_ny", pa.int32()),
            ("pixels_brick", pa.string()),
            ("brick_wcs", pa.string()),
            ("band_files", pa.list_(pa.string())),
            ("maskbits_file", pa.string()),
            ("cutout_size", pa.int32()),
            *((name, PIXEL_TYPE) for name in PIXEL_COLUMNS),
            ("brick_problem", pa.string()),
            ("source", pa.string()),
        ]
    )


def _nonempty(batches, empty: pa.Table):
    """The batches, or one empty batch of the schema when there are none (a partition with no galaxy)."""
    first = next(batches, None)
    if first is None:
        yield from empty.to_batches() or [pa.RecordBatch.from_pylist([], schema=empty.schema)]
        return
    yield first
    yield from batches


class CachedCutouts:
    """The cache rows of some bricks, read from the cache's Parquet files, cropped into stamps for manifest rows.

    ``files``: the cache files (any number; ``s3://`` URLs read through ``filesystem``, pyarrow's S3 filesystem);
    ``bricks``: the bricks whose rows to keep (Parquet statistics skip the row groups of other bricks, so only theirs
    are read, with ranged reads from an object store)."""

    def __init__(self, files: list[str], bricks: list[str], filesystem=None):
        paths = [f.removeprefix("s3://") for f in files] if filesystem is not None else files
        dataset = ds.dataset(paths, format="parquet", filesystem=filesystem)
        table = dataset.to_table(filter=ds.field("brickname").isin(bricks))
        self.source = ", ".join(files)
        self._plain = table.drop_columns(["image", "invvar", "maskbits"]).to_pylist()
        self._arrays = {name: pixels_array(table[name], name) for name in PIXEL_COLUMNS}
        self._crops: dict[tuple[int, int], Cutout] = {}
        self._index = {row["row_id"]: i for i, row in enumerate(self._plain)}
        if len(self._index) != len(self._plain):
            raise InputFileError(self.source, "a galaxy (row_id) cached twice")

    def cutouts_for(self, rows: pa.Table) -> tuple[list[Cutout], str | None]:
        """The stamps of manifest ``rows`` (one brick), cropped to their ``stamp_size``, and why they all fail if
        their brick has no files (None otherwise). A galaxy not in the cache is an error naming the files."""
        size = int(rows["stamp_size"][0].as_py())
        cutouts = []
        for row_id in rows["row_id"].to_pylist():
            if row_id not in self._index:
                raise InputFileError(self.source, f"galaxy row_id {row_id} is not in the cutout cache")
            # one Cutout per galaxy: its tasks share it (and its arrays)
            if (row_id, size) not in self._crops:
                i = self._index[row_id]
                self._crops[row_id, size] = crop(
                    {**self._plain[i], **{k: v[i] for k, v in self._arrays.items()}}, size
                )
            cutouts.append(self._crops[row_id, size])
        problems = {self._plain[self._index[r]]["brick_problem"] for r in rows["row_id"].to_pylist()}
        problem = problems.pop() if len(problems) == 1 else ""
        return cutouts, problem or None


def _file_status(status: str) -> str:
    return FILE_PRESENT if status in GEOMETRY else status


def cache_findings(cached: pa.Table, galaxies: pa.Table) -> dict:
    """How a cache partition (its ``row_id``, ``cutout_size``, ``brick_problem``) matches the ``galaxies`` it was cut
    for (``row_id``): galaxies missing from it, rows of no galaxy, galaxies cached twice, cutouts of the wrong size,
    and bricks without files; ``passed`` when the first four are zero."""
    ids = cached["row_id"].to_numpy()
    wanted = set(galaxies["row_id"].to_pylist())
    found = set(ids.tolist())
    sizes = cached["cutout_size"].to_numpy()
    findings = {
        "galaxies": len(wanted),
        "missing": len(wanted - found),
        "unexpected": len(found - wanted),
        "twice": int(len(ids) - len(found)),
        "wrong_size": int((sizes != CACHE_SIZE).sum()),
        "rows_on_bricks_without_files": int(sum(bool(p) for p in cached["brick_problem"].to_pylist())),
    }
    findings["passed"] = not any(findings[k] for k in ("missing", "unexpected", "twice", "wrong_size"))
    return findings
