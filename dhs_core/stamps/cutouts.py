"""A partition of the galaxy cutout cache (one split's galaxies): written as the stamps are, in work units of whole
bricks (each brick decoded once), in parallel worker processes, published whole.

Units are consecutive bricks (sorted by name) packed until they hold ``unit_galaxies`` galaxies, one Parquet file
each, so the files do not depend on the number of workers: a re-run is bit-identical. Readers take the rows of the
bricks they need (``dhs_core.survey.cutout_cache.CachedCutouts``; row-group statistics skip the others).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from concurrent.futures import Executor, as_completed

import pyarrow as pa

from dhs_core.locks import partition_lock
from dhs_core.stamps.partition import stamps_pool, work_units
from dhs_core.survey.cutout_cache import write_cache_partition
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import DuckDBSettings, part_file, publish_partition, staging_dir

UNIT_GALAXIES = 256  # galaxies per work unit and file (about 65 MB of cutouts)
COUNTS = ("galaxies", "bricks", "bricks_without_files")


def write_cutouts_partition(
    layout: SurveyLayout,
    galaxies: pa.Table,
    data_root: str,
    asset: str,
    partition: str,
    unit_galaxies: int = UNIT_GALAXIES,
    processes: int = 1,
    settings: DuckDBSettings = DuckDBSettings(),
    log: Callable[[str], None] = lambda message: None,
    owner: str = "",
    pool: Executor | None = None,
) -> tuple[str, dict]:
    """Cut the cache rows of ``galaxies`` (``row_id``, ``brickname``, ``ra``, ``dec`` in deg) and publish them as
    ``<data_root>/<asset>/<partition>/part-*.parquet``, replacing what was there; return the folder and the counts.
    Nothing is visible until every unit is written; ``pool``: worker processes to use (else ``processes`` of its
    own, 1: in this process)."""
    units = work_units(galaxies, unit_galaxies)
    counts = dict.fromkeys(COUNTS, 0)
    with partition_lock(data_root, asset, partition, owner):
        staging = staging_dir(data_root, asset, partition)
        try:
            jobs = [
                (galaxies.take(rows), os.path.join(staging, part_file(i))) for i, rows in enumerate(units)
            ]
            jobs = jobs or [(galaxies.slice(0, 0), os.path.join(staging, part_file(0)))]
            if processes == 1 and pool is None or len(jobs) == 1:
                results = [
                    write_cache_partition(layout, rows, path, settings=settings) for rows, path in jobs
                ]
            else:
                with (
                    contextlib.nullcontext(pool)
                    if pool
                    else stamps_pool(min(processes, len(jobs))) as workers
                ):
                    futures = [
                        workers.submit(write_cache_partition, layout, rows, path, settings=settings)
                        for rows, path in jobs
                    ]
                    results = [f.result() for f in as_completed(futures)]
            for result in results:
                for name in COUNTS:
                    counts[name] += result[name]
            log(f"{counts['galaxies']} galaxies on {counts['bricks']} bricks in {len(jobs)} file(s)")
            folder = publish_partition(staging, data_root, asset, partition)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return folder, counts
