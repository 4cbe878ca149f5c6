"""A survey root mirrored from the portal: what a step needs is fetched into a local cache laid out as DR10 is, and
the readers read the cache as a local survey root.

The cache records what the portal does not have (``.<name>.missing`` beside where the file would be, written by
``dhs_core.fetch``): :func:`coverage_gaps` lists them, and Phase 4c names a brick without files "not in the survey
(404)" instead of "no coadd files".
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable, Iterable

import pyarrow as pa

from dhs_core.fetch import Fetcher, FetchPolicy
from dhs_core.survey.plan import coadd_files

GAP_SCHEMA = pa.schema([("brick", pa.string()), ("file", pa.string()), ("http_status", pa.int32()), ("time", pa.string())])
_BRICK = re.compile(r"legacysurvey-(\d{4}[pm]\d{3})-")


def fetch_coadds(url: str, cache: str, bricks: Iterable[str], policy: FetchPolicy = FetchPolicy(),
                 progress: Callable[[int, int, int], None] | None = None) -> pa.Table:
    """Fetch the 7 coadd files of each brick from the portal's region root ``url`` into ``cache`` (complete files are
    not fetched again); the fetch table, one row per file (``dhs_core.fetch``)."""
    return Fetcher(url, cache, policy, progress).fetch(coadd_files(bricks))


def coverage_gaps(cache: str) -> pa.Table:
    """Every file the portal said it does not have, under a cache: ``brick`` (null for files of no brick), ``file``
    (relative path), ``http_status`` and ``time`` (UTC) of the answer; sorted by file."""
    rows = []
    for marker in sorted(glob.glob(os.path.join(glob.escape(cache), "**", ".*.missing"), recursive=True)):
        folder, name = os.path.split(marker)
        relative = os.path.relpath(os.path.join(folder, name[1:].removesuffix(".missing")), cache).replace(os.sep, "/")
        with open(marker) as handle:
            record = json.load(handle)
        brick = _BRICK.search(relative)
        rows.append({"brick": brick.group(1) if brick else None, "file": relative, "http_status": record.get("http_status"),
                     "time": record.get("time")})
    return pa.Table.from_pylist(sorted(rows, key=lambda r: r["file"]), schema=GAP_SCHEMA)
