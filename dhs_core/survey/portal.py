"""A survey root mirrored from the portal: what a step needs is fetched into a local cache laid out as DR10 is, and
the readers read the cache as a local survey root.

The cache records what the portal does not have (``.<name>.missing`` beside where the file would be, written by
``dhs_core.fetch``): :func:`coverage_gaps` lists them, and Phase 4c names a brick without files "not in the survey
(404)" instead of "no coadd files".
"""

from __future__ import annotations

import functools
import glob
import json
import os
import re
from collections.abc import Callable

import pyarrow as pa
from astropy.io import fits

from dhs_core.errors import InputFileError
from dhs_core.fetch import Fetcher, FetchPolicy, not_in_survey
from dhs_core.survey.bricks import GEOMETRY_COLUMNS, read_bricks_table
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.plan import (
    RELEASE_GEOMETRY_FILE,
    SkyBox,
    bricks_table_files,
    footprint_bricks,
    release_root,
    sweep_files,
)

Progress = Callable[[int, int, int], None]

GAP_SCHEMA = pa.schema(
    [("brick", pa.string()), ("file", pa.string()), ("http_status", pa.int32()), ("time", pa.string())]
)
_BRICK = re.compile(r"legacysurvey-(\d{4}[pm]\d{3})-")


def fetch_bricks_table(
    url: str, cache: str, policy: FetchPolicy = FetchPolicy(), progress: Progress | None = None
) -> pa.Table:
    """Fetch the region's bricks summary (``survey-bricks-dr10-south.fits.gz``) from the region root ``url`` into
    ``cache``, and, when it lacks the brick boxes (as DR10's does), the release's geometry file (``survey-bricks.fits.gz``,
    in the release root) beside it, where ``read_bricks_table`` joins the two. The fetch rows; an error naming the URL
    when either file could not be had."""
    summary = bricks_table_files()["region"]
    rows = Fetcher(url, cache, policy, progress).fetch([summary])
    _require_ok(rows, url)
    if all(column in _column_names(os.path.join(cache, summary)) for column in GEOMETRY_COLUMNS):
        return rows
    geometry = Fetcher(release_root(url), cache, policy, progress).fetch([RELEASE_GEOMETRY_FILE])
    _require_ok(geometry, release_root(url))
    return pa.concat_tables([rows, geometry])


def _column_names(path: str) -> list[str]:
    header = fits.getheader(path, 1)
    return [str(header[f"TTYPE{i}"]).strip().lower() for i in range(1, int(header["TFIELDS"]) + 1)]


def _require_ok(rows: pa.Table, url: str) -> None:
    for row in rows.to_pylist():
        if row["status"] != "ok":
            raise InputFileError(
                f"{url}/{row['path']}", f"{row['status']} (HTTP {row['http_status']}): {row['error']}"
            )


def planned_sweep_files(root: str, version: str, footprint: SkyBox | None = None) -> dict[str, str]:
    """The sweep files a survey root's bricks need, by partition key (sorted): the tiles overlapped by the bricks of
    its bricks table (those in the footprint), as paths under ``root`` (fetched or not yet, for a cache), leaving out
    tiles the portal said it does not have. An error naming the root when it has no bricks table yet: it is the plan."""
    layout = SurveyLayout(root, version)
    bricks = _cached_bricks(tuple((path, os.stat(path).st_mtime_ns) for path in layout.bricks_table_paths()))
    if bricks is None:
        raise InputFileError(
            root,
            "no bricks table there yet: materialize survey_bricks first (the sweep partitions of a "
            "portal survey root or a footprint are planned from it)",
        )
    files = {}
    for relative in sweep_files(footprint_bricks(bricks, footprint), version):
        path = layout.path(relative)
        if not_in_survey(path) is None:
            files[os.path.basename(relative).removesuffix(".fits")] = path
    return files


@functools.lru_cache(maxsize=4)
def _cached_bricks(files: tuple[tuple[str, int], ...]) -> pa.Table | None:
    """The bricks table's geometry, read once per version of its files (a sensor plans every minute)."""
    return (
        read_bricks_table([path for path, _ in files]).select(
            ["brickname", "ra", "dec", "ra1", "ra2", "dec1", "dec2"]
        )
        if files
        else None
    )


def coverage_gaps(cache: str) -> pa.Table:
    """Every file the portal said it does not have, under a cache: ``brick`` (null for files of no brick), ``file``
    (relative path), ``http_status`` and ``time`` (UTC) of the answer; sorted by file."""
    rows = []
    for marker in sorted(glob.glob(os.path.join(glob.escape(cache), "**", ".*.missing"), recursive=True)):
        folder, name = os.path.split(marker)
        relative = os.path.relpath(os.path.join(folder, name[1:].removesuffix(".missing")), cache).replace(
            os.sep, "/"
        )
        with open(marker) as handle:
            record = json.load(handle)
        brick = _BRICK.search(relative)
        rows.append(
            {
                "brick": brick.group(1) if brick else None,
                "file": relative,
                "http_status": record.get("http_status"),
                "time": record.get("time"),
            }
        )
    return pa.Table.from_pylist(sorted(rows, key=lambda r: r["file"]), schema=GAP_SCHEMA)
