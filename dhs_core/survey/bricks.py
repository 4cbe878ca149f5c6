"""The DR10 bricks table: reading it, brick names, brick areas and brick neighbours.

Geometry comes from the table (``ra1, ra2, dec1, dec2`` in deg), never from a hard-coded brick size,
so the same code serves real 0.25-deg bricks and the mock sky's smaller ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BRICK_DEPTH_SUFFIX, DEG2_PER_SR, unambiguous_depth_names
from dhs_core.errors import InputFileError, MissingColumnError
from dhs_core.survey.fits_table import read_fits_columns

GEOMETRY_COLUMNS = ("brickname", "ra", "dec", "ra1", "ra2", "dec1", "dec2")


def brickname_from_center(ra, dec) -> list[str]:
    """DR10 brick names from brick centres (deg): ``%04d`` of int(RA*10), ``p``/``m``, ``%03d`` of int(|Dec|*10).

    >>> brickname_from_center([244.7234], [12.0])
    ['2447p120']
    """
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64))
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    ra_part = (ra * 10).astype(np.int64)
    dec_part = (np.abs(dec) * 10).astype(np.int64)
    signs = np.where(dec >= 0, "p", "m")
    return [f"{r:04d}{s}{d:03d}" for r, s, d in zip(ra_part, signs, dec_part)]


def brick_area_deg2(ra1, ra2, dec1, dec2):
    """Area (deg^2) of RA/Dec boxes: ``(ra2 - ra1)[rad] * (sin dec2 - sin dec1) * (180/pi)^2``.

    A box with ``ra2 < ra1`` crosses RA = 0/360 and its width is taken modulo 360.
    """
    width = np.mod(np.asarray(ra2, dtype=np.float64) - np.asarray(ra1, dtype=np.float64), 360.0)
    dec1r = np.radians(np.asarray(dec1, dtype=np.float64))
    dec2r = np.radians(np.asarray(dec2, dtype=np.float64))
    return np.radians(width) * (np.sin(dec2r) - np.sin(dec1r)) * DEG2_PER_SR


def read_bricks_table(paths: Sequence[str] | str) -> pa.Table:
    """Read one or more ``survey-bricks*.fits[.gz]`` files into one table, joined on ``brickname``.

    DR10 ships the geometry (``survey-bricks.fits.gz``) and the per-release summary
    (``survey-bricks-dr10-south.fits.gz``, lower-case columns) separately; either may carry both.
    Column names are lower-cased; the summary's depth columns, 5-sigma AB magnitudes, are renamed
    ``psfdepth_mag5_<band>`` / ``galdepth_mag5_<band>`` so that they cannot be mistaken for the
    sweeps' inverse-variance depths. Rows come out sorted by brickname.
    """
    paths = [paths] if isinstance(paths, str) else list(paths)
    if not paths:
        raise InputFileError("<survey root>", "no survey-bricks*.fits[.gz] file found")
    merged: pa.Table | None = None
    for path in paths:
        table = read_fits_columns(path, None)
        table = table.rename_columns(unambiguous_depth_names(table.column_names, BRICK_DEPTH_SUFFIX))
        if "brickname" not in table.column_names:
            raise MissingColumnError(path, ["brickname"])
        if merged is None:
            merged = table
        else:
            new = [c for c in table.column_names if c not in merged.column_names]
            merged = merged.join(table.select(["brickname", *new]), "brickname", join_type="inner")
    missing = [c for c in GEOMETRY_COLUMNS if c not in merged.column_names]
    if missing:
        raise MissingColumnError(", ".join(paths), missing)
    area = brick_area_deg2(*(merged[c].to_numpy() for c in ("ra1", "ra2", "dec1", "dec2")))
    merged = merged.append_column("area_deg2", pa.array(area))
    return merged.sort_by("brickname")


def brick_neighbours(bricks: pa.Table, tolerance_deg: float = 1e-6) -> pa.Table:
    """Pairs of bricks whose boxes touch, overlap or come within ``tolerance_deg`` on the sky.

    RA wraps at 0/360 and RA gaps are measured on the sky (scaled by cos Dec at the brick's edge
    farthest from the equator), so the same tolerance means the same angle at every Dec. Returns a
    table ``(brickname, neighbour)`` with both orders of each pair, sorted. Bricks are grouped into rows
    of equal ``(dec1, dec2)``; for each row and each row within reach in Dec, the bricks whose RA
    intervals come within reach are found by binary search, so the cost is O(N log N).
    """
    names = np.asarray(bricks["brickname"].to_pylist(), dtype=object)
    ra1 = np.mod(bricks["ra1"].to_numpy(), 360.0)
    width = np.mod(bricks["ra2"].to_numpy() - bricks["ra1"].to_numpy(), 360.0)
    width = np.where((width == 0) & (bricks["ra2"].to_numpy() != bricks["ra1"].to_numpy()), 360.0, width)
    dec1 = bricks["dec1"].to_numpy()
    dec2 = bricks["dec2"].to_numpy()
    cos_edge = np.cos(np.radians(np.minimum(np.maximum(np.abs(dec1), np.abs(dec2)), 89.999)))
    ra_tolerance = tolerance_deg / cos_edge
    row_keys = np.round(np.stack([dec1, dec2], axis=1), 9)
    unique_rows, row_of = np.unique(row_keys, axis=0, return_inverse=True)
    row_of = row_of.ravel()
    members = [np.flatnonzero(row_of == r) for r in range(len(unique_rows))]
    for r, idx in enumerate(members):
        members[r] = idx[np.argsort(ra1[idx], kind="stable")]
    pairs_a, pairs_b = [], []
    for r, idx in enumerate(members):
        lo, hi = unique_rows[r]
        touching = np.flatnonzero(
            (unique_rows[:, 0] <= hi + tolerance_deg) & (unique_rows[:, 1] >= lo - tolerance_deg)
        )
        for other in touching:
            cand = members[other]
            starts = ra1[cand]
            ends = starts + width[cand]
            for shift in (-360.0, 0.0, 360.0):  # RA wrap: compare against the shifted copies
                q_lo = ra1[idx] + shift - ra_tolerance[idx]
                q_hi = ra1[idx] + width[idx] + shift + ra_tolerance[idx]
                # candidates with start <= q_hi and end >= q_lo; starts are sorted and intervals in a row
                # do not overlap, so ends are sorted too
                first = np.searchsorted(ends, q_lo, side="left")
                last = np.searchsorted(starts, q_hi, side="right")
                for i, a, b in zip(idx, first, last):
                    for j in cand[a:b]:
                        if j != i:
                            pairs_a.append(i)
                            pairs_b.append(j)
    table = pa.table(
        {
            "brickname": pa.array(names[pairs_a].tolist(), pa.string()),
            "neighbour": pa.array(names[pairs_b].tolist(), pa.string()),
        }
    )
    return (
        table.group_by(["brickname", "neighbour"])
        .aggregate([])
        .sort_by([("brickname", "ascending"), ("neighbour", "ascending")])
    )


def bricks_containing(bricks: pa.Table, ra, dec) -> list[str | None]:
    """The brick of ``bricks`` (``brickname``, ``ra1``, ``ra2``, ``dec1``, ``dec2`` in deg) whose unique area
    (``ra1 <= ra < ra2``, ``dec1 <= dec < dec2``, RA wrapping at 0/360: DR10's last bricks have ``ra2 = 0``) holds each
    position (deg); None where none does (outside the footprint)."""
    ra, dec = np.atleast_1d(np.asarray(ra, np.float64)), np.atleast_1d(np.asarray(dec, np.float64))
    names = bricks["brickname"].to_pylist()
    ra1, ra2, dec1, dec2 = (bricks[c].to_numpy().astype(np.float64) for c in ("ra1", "ra2", "dec1", "dec2"))
    width = np.mod(ra2 - ra1, 360.0)
    width = np.where((width == 0) & (ra2 != ra1), 360.0, width)
    found: list[str | None] = []
    for r, d in zip(ra, dec):
        inside = np.flatnonzero((np.mod(r - ra1, 360.0) < width) & (dec1 <= d) & (d < dec2))
        found.append(names[inside[0]] if len(inside) else None)
    return found
