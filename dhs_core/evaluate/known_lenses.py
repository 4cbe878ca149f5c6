"""Known lenses and lens candidates from catalogues in the lenscat format, merged, with tiers.

The format (lenscat's ``lenscat_catalog.csv``, the DESI candidates, the mock sky's ``mock_lenscat.csv``): a CSV with
a header row and the columns name, RA, Dec (deg; headed ``RA [deg]``/``DEC [deg]`` or ``ra``/``dec``), zlens (free
text in lenscat: ``0.405``, ``0.3?``, ``0.0123 | 0.0131``, ``not measured``, ``-``; kept as written, and its leading
number in ``zlens_value`` where it has one), type (galaxy, group, cluster, ...), grading (``confident`` or ``probable``), ref. Tier A is
``confident``, tier B ``probable``.

Several catalogues are merged: entries within ``radius_arcsec`` (default 2") of each other, within or across files,
are one object (linked transitively), placed at its best-graded entry (the first such in file order), with the best
tier of its entries and every name it goes by.

Known-lens exclusion: no galaxy within ``KNOWN_LENS_RADIUS_ARCSEC`` of a known lens or candidate (any tier) may be a
host or a control, or its stamp would show a real lens labelled as an injection or as a non-lens. The default radius
is a 64-pixel stamp's half-diagonal, 64 x 0.262" / sqrt(2) = 11.9": no known lens then lies on any stamp of it.
"""

from __future__ import annotations

import csv
import math
import re

import numpy as np
import pyarrow as pa
from astropy import units as u
from astropy.coordinates import SkyCoord

from dhs_core.conventions import PIXEL_SCALE_ARCSEC, STAMP_SIZE
from dhs_core.errors import InputFileError

KNOWN_LENS_RADIUS_ARCSEC = STAMP_SIZE * PIXEL_SCALE_ARCSEC / math.sqrt(2)
TIERS = {"confident": "A", "probable": "B"}
MERGE_RADIUS_ARCSEC = 2.0
HEADERS = {
    "name": ("name",),
    "ra": ("ra [deg]", "ra"),
    "dec": ("dec [deg]", "dec"),
    "zlens": ("zlens",),
    "type": ("type",),
    "grading": ("grading",),
    "ref": ("ref",),
}
CATALOG_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("ra", pa.float64()),
        ("dec", pa.float64()),
        ("zlens", pa.string()),
        ("zlens_value", pa.float64()),
        ("type", pa.string()),
        ("grading", pa.string()),
        ("tier", pa.string()),
        ("ref", pa.string()),
        ("file", pa.string()),
        ("line", pa.int64()),
    ]
)


def read_lens_catalog(path: str) -> pa.Table:
    """One lenscat-format file as a table (``CATALOG_SCHEMA``: RA, Dec in deg, zlens as written and its leading number, the tier, and
    the file and line each row came from). A row that is not one lens — wrong number of fields, RA outside [0, 360),
    Dec outside [-90, 90], a number that is not one, an unknown grading — is an error naming the file and line."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise InputFileError(path, "empty: no header row")
    index = _columns(path, [h.strip().lower() for h in rows[0]])
    records = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(field.strip() for field in row):
            continue
        if len(row) != len(rows[0]):
            raise InputFileError(path, f"line {line}: {len(row)} fields, the header has {len(rows[0])}")
        records.append(_record(path, line, {key: row[i].strip() for key, i in index.items()}))
    return pa.Table.from_pylist(records, schema=CATALOG_SCHEMA)


def _columns(path: str, header: list[str]) -> dict[str, int]:
    index = {}
    for key, names in HEADERS.items():
        found = [header.index(n) for n in names if n in header]
        if not found:
            raise InputFileError(path, f"no column {names[0]!r} in the header {header}")
        index[key] = found[0]
    return index


def _record(path: str, line: int, fields: dict) -> dict:
    try:
        ra, dec = float(fields["ra"]), float(fields["dec"])
    except ValueError as exc:
        raise InputFileError(path, f"line {line}: {exc}") from None
    if not 0 <= ra < 360 or not -90 <= dec <= 90 or not (np.isfinite(ra) and np.isfinite(dec)):
        raise InputFileError(path, f"line {line}: RA {ra} / Dec {dec} outside [0, 360) / [-90, 90] deg")
    grading = fields["grading"].lower()
    if grading not in TIERS:
        raise InputFileError(
            path, f"line {line}: grading {fields['grading']!r}, expected one of {sorted(TIERS)}"
        )
    return {
        **{k: fields[k] for k in ("name", "type", "ref")},
        "ra": ra,
        "dec": dec,
        "zlens": fields["zlens"],
        "zlens_value": _leading_number(fields["zlens"]),
        "grading": grading,
        "tier": TIERS[grading],
        "file": path,
        "line": line,
    }


LEADING_NUMBER = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)")


def _leading_number(text: str) -> float | None:
    """The number a zlens entry starts with (``0.3?`` -> 0.3, ``0.0123 | 0.0131`` -> 0.0123), None if none."""
    match = LEADING_NUMBER.match(text)
    return float(match.group(1)) if match else None


def merge_lens_catalogs(catalogs: list[pa.Table], radius_arcsec: float = MERGE_RADIUS_ARCSEC) -> pa.Table:
    """The catalogues' entries merged into objects (see the module's docstring): ``CATALOG_SCHEMA`` of each object's
    representative entry with its best ``tier`` and ``grading``, plus ``names`` (every name, in file order) and
    ``n_entries``; sorted by RA then Dec."""
    table = pa.concat_tables(catalogs) if catalogs else CATALOG_SCHEMA.empty_table()
    n = table.num_rows
    parent = np.arange(n)
    if n > 1:
        coords = SkyCoord(table["ra"].to_numpy() * u.deg, table["dec"].to_numpy() * u.deg)
        first, second, _, _ = coords.search_around_sky(coords, radius_arcsec * u.arcsec)
        for a, b in zip(first, second):
            if a < b:
                _union(parent, a, b)
    group = np.array([_find(parent, i) for i in range(n)], dtype=np.int64)
    tier = np.array(table["tier"].to_pylist(), dtype=object)
    names = table["name"].to_pylist()
    keep, merged_names, counts = [], [], []
    order = np.argsort(group, kind="stable")  # each group's members together, in file order
    for members in np.split(order, np.flatnonzero(np.diff(group[order])) + 1) if n else []:
        best = members[np.argsort(tier[members], kind="stable")][0]  # "A" before "B", then file order
        keep.append(best)
        merged_names.append([names[i] for i in members])
        counts.append(len(members))
    merged = table.take(pa.array(keep, pa.int64()))
    merged = merged.append_column("names", pa.array(merged_names, pa.list_(pa.string())))
    merged = merged.append_column("n_entries", pa.array(counts, pa.int64()))
    return merged.sort_by([("ra", "ascending"), ("dec", "ascending")])


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return int(i)


def _union(parent: np.ndarray, a: int, b: int) -> None:
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


def known_lens_table(paths: list[str], radius_arcsec: float = MERGE_RADIUS_ARCSEC) -> pa.Table:
    """The catalogues at ``paths`` read and merged (:func:`merge_lens_catalogs`); an empty table for no path."""
    return merge_lens_catalogs([read_lens_catalog(p) for p in paths], radius_arcsec)


def nearest_known_lens(ra, dec, lenses: pa.Table, radius_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    """For each position (``ra``, ``dec`` in deg): the row of ``lenses`` nearest to it within ``radius_arcsec``
    (-1 where none) and its separation (arcsec; NaN where none)."""
    ra, dec = np.atleast_1d(np.asarray(ra, np.float64)), np.atleast_1d(np.asarray(dec, np.float64))
    index, separation = np.full(len(ra), -1, np.int64), np.full(len(ra), np.nan)
    if len(ra) == 0 or lenses.num_rows == 0 or radius_arcsec <= 0:
        return index, separation
    here = SkyCoord(ra * u.deg, dec * u.deg)
    known = SkyCoord(lenses["ra"].to_numpy() * u.deg, lenses["dec"].to_numpy() * u.deg)
    lens_row, galaxy_row, apart, _ = here.search_around_sky(known, radius_arcsec * u.arcsec)
    apart = apart.to_value(u.arcsec)
    farthest_first = np.argsort(-apart, kind="stable")  # the nearest lens is written last
    index[galaxy_row[farthest_first]] = lens_row[farthest_first]
    separation[galaxy_row[farthest_first]] = apart[farthest_first]
    return index, separation


def exclude_known_lenses(
    galaxies: pa.Table, lenses: pa.Table, radius_arcsec: float = KNOWN_LENS_RADIUS_ARCSEC
) -> tuple[pa.Table, pa.Table]:
    """``(kept, excluded)``: the rows of ``galaxies`` (``ra``, ``dec`` in deg) farther than ``radius_arcsec`` from
    every known lens, and the others with the lens they are near (``known_lens``, its name) and
    ``known_lens_separation_arcsec``."""
    index, separation = nearest_known_lens(
        galaxies["ra"].to_numpy(), galaxies["dec"].to_numpy(), lenses, radius_arcsec
    )
    near = index >= 0
    names = np.array(lenses["name"].to_pylist() or [""], dtype=object)
    excluded = galaxies.filter(pa.array(near))
    excluded = excluded.append_column("known_lens", pa.array(names[index[near]].tolist(), pa.string()))
    excluded = excluded.append_column("known_lens_separation_arcsec", pa.array(separation[near]))
    return galaxies.filter(pa.array(~near)), excluded
