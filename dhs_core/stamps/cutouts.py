"""A partition of the galaxy cutout cache (one split's galaxies): written as the stamps are, in work units of whole
bricks (each brick decoded once), in parallel worker processes, published whole.

Units are consecutive bricks (sorted by name) packed until they hold ``unit_galaxies`` galaxies, one Parquet file
each, so the files do not depend on the number of workers: a re-run is bit-identical. Readers take the rows of the
bricks they need (``dhs_core.survey.cutout_cache.CachedCutouts``; row-group statistics skip the others).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Executor

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute

from dhs_core.stamps.partition import publish_units, work_units
from dhs_core.survey.cutout_cache import write_cache_partition
from dhs_core.tables import DuckDBSettings

UNIT_GALAXIES = 256  # galaxies per work unit and file (about 65 MB of cutouts)
COUNTS = ("galaxies", "bricks", "bricks_without_files", "from_neighbour")


def write_cutouts_partition(
    source,
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
    """Cut the cache rows of ``galaxies`` (``row_id``, ``brickname``, ``ra``, ``dec`` in deg; optionally
    ``neighbours``, :func:`with_neighbours`) from ``source`` (``dhs_core.survey.cutout_sources``) and publish them as
    ``<data_root>/<asset>/<partition>/part-*.parquet``, replacing what was there; return the folder and the counts.
    Nothing is visible until every unit is written; units run in this process when ``processes`` is 1, else in
    ``pool`` (or ``processes`` workers of its own) (``dhs_core.stamps.partition.publish_units``)."""
    counts = dict.fromkeys(COUNTS, 0)

    def done(result: dict, weight: int) -> None:
        for name in COUNTS:
            counts[name] += result[name]

    write = functools.partial(write_cache_partition, settings=settings)
    units = [
        (write, (source, galaxies.take(rows)), len(rows)) for rows in work_units(galaxies, unit_galaxies)
    ]
    folder = publish_units(
        units or [(write, (source, galaxies.slice(0, 0)), 0)],
        data_root,
        asset,
        partition,
        processes,
        pool,
        done,
        owner,
    )
    log(
        f"{counts['galaxies']} galaxies on {counts['bricks']} bricks in {len(units) or 1} file(s), "
        f"{counts['from_neighbour']} cut from a neighbouring brick"
    )
    return folder, counts


def with_neighbours(galaxies: pa.Table, touching: pa.Table) -> pa.Table:
    """``galaxies`` with ``neighbours``: the names of the bricks whose boxes touch each galaxy's brick, sorted, from
    ``touching`` (the survey's pairs of touching bricks, ``dhs_core.survey.bricks.brick_neighbours``: found once for
    every split); where a cutout that does not lie wholly on its own brick is looked for."""
    near = pa.compute.is_in(touching["brickname"], pa.array(galaxies["brickname"].unique()))
    lists = touching.filter(near).group_by("brickname").aggregate([("neighbour", "list")])
    by_brick = dict(zip(lists["brickname"].to_pylist(), lists["neighbour_list"].to_pylist()))
    return galaxies.append_column(
        "neighbours",
        pa.array(
            [sorted(by_brick.get(b, [])) for b in galaxies["brickname"].to_pylist()], pa.list_(pa.string())
        ),
    )
