"""Write the stamps of one manifest partition: work units of whole bricks run in parallel worker processes,
each streaming its stamps to its own Parquet file in bounded memory; the partition is published whole.

Work units are consecutive bricks (sorted by name) packed until they hold ``unit_tasks`` tasks, so the
files and their contents do not depend on the number of workers: a re-run is bit-identical. Inside a
unit a brick's coadds are read once and its tasks go through the engine ``rows_per_group`` at a time,
each batch becoming one Parquet row group; a worker holds one brick and one batch of stamps at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np
import pyarrow as pa

from dhs_core import storage
from dhs_core.bank.store import shared_bank
from dhs_core.cluster import run_unit
from dhs_core.datasets.record import parquet_metadata, write_dataset_file
from dhs_core.datasets.spec import DatasetSpec
from dhs_core.errors import ConfigError
from dhs_core.inject.columns import engine_schema
from dhs_core.inject.engine import EngineConfig
from dhs_core.locks import partition_lock
from dhs_core.stamps.build import brick_groups, engine_tasks, inject_brick, inject_cutouts, join_stamps
from dhs_core.stamps.reasons import CATEGORIES, failure_category
from dhs_core.storage import ObjectStore
from dhs_core.survey.coadds import MISSING_BRICK, NOT_IN_SURVEY, CoaddBrick
from dhs_core.survey.cutout_cache import CachedCutouts
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import (
    DuckDBSettings,
    part_file,
    publish_partition,
    remove_temporaries,
    staging_dir,
    write_batches,
)

# under the worker's temporary folder: the store's objects that a reader needs as files (the bank)
SCRATCH = "dhs-scratch"


@dataclass(frozen=True)
class StampsJob:
    """What every worker needs, by value: survey root and sweep version, source-bank HDF5 path, engine
    settings, tasks per row group (``rows_per_group``) and per work unit (``unit_tasks``), worker processes
    (``workers``, 0 = every core), the DuckDB settings of the Parquet writers and the key-value metadata every file
    carries (``file_metadata``: the dataset spec, set by :func:`write_stamps_partition`). ``cutout_cache``: the
    Parquet files of the galaxy cutout cache partition to crop the stamps from (``dhs_core.stamps.cutouts``); empty:
    cut them from the bricks. ``store``: the object store (``dhs_core.storage``) that ``s3://`` URLs among
    ``cutout_cache`` and ``bank_path`` name, read by the worker itself (the bank copied once to its scratch)."""

    survey_root: str
    bank_path: str
    engine: EngineConfig = EngineConfig()
    sweep_version: str = "10.1"
    rows_per_group: int = 256
    unit_tasks: int = 512
    workers: int = 0
    duckdb: DuckDBSettings = DuckDBSettings()
    file_metadata: tuple[tuple[str, str], ...] = ()
    cutout_cache: tuple[str, ...] = ()
    store: ObjectStore | None = None

    def __post_init__(self):
        for name in ("rows_per_group", "unit_tasks"):
            if getattr(self, name) < 1:
                raise ConfigError(f"stamps.{name}", getattr(self, name), ">= 1")
        if self.workers < 0:
            raise ConfigError("stamps.workers", self.workers, ">= 0 (0: every core)")

    @property
    def processes(self) -> int:
        return self.workers or os.cpu_count() or 1


def work_units(manifest: pa.Table, unit_tasks: int) -> list[np.ndarray]:
    """Row indices of each work unit: whole bricks in name order, the rows spread evenly over as many units as
    ``unit_tasks`` a unit asks for (a unit closes where the running count reaches its share of the total, so units
    differ by at most a brick: a remainder unit left a worker idle at the end of every partition)."""
    share = manifest.num_rows / max(1, math.ceil(manifest.num_rows / unit_tasks))
    units, current, size = [], [], 0
    for _, rows in brick_groups(manifest):
        current.append(rows)
        size += len(rows)
        if size >= (len(units) + 1) * share:
            units.append(np.concatenate(current))
            current = []
    if current:
        units.append(np.concatenate(current))
    return units


def _unit_batches(rows: pa.Table, job: StampsJob, counts: Counter) -> Iterator[pa.RecordBatch]:
    layout = SurveyLayout(job.survey_root, job.sweep_version)
    groups = brick_groups(rows)
    filesystem = job.store.filesystem() if job.store else None
    cache = (
        CachedCutouts(list(job.cutout_cache), [name for name, _ in groups], filesystem)
        if job.cutout_cache
        else None
    )
    bank_path = job.bank_path
    if bank_path.startswith("s3://"):
        bank_path = storage.local_copy(bank_path, job.store, os.path.join(tempfile.gettempdir(), SCRATCH))
    bank = shared_bank(bank_path)
    rows = rows.take(np.concatenate([indices for _, indices in groups])) if groups else rows  # brick order
    first = 0
    for name, indices in groups:
        brick = None if cache else CoaddBrick(layout, name, stamps_expected=len(indices))
        try:
            for start in range(0, len(indices), job.rows_per_group):
                chunk = rows.slice(first + start, min(job.rows_per_group, len(indices) - start))
                stamps = (
                    inject_cutouts(chunk, *cache.cutouts_for(chunk), bank, job.engine)
                    if cache
                    else inject_brick(chunk, layout, bank, job.engine, brick)
                )
                counts.update(stamp_counts(stamps))
                yield from stamps.to_batches()
        finally:
            if brick is not None:
                brick.close()
        first += len(indices)


COUNTS = (
    "stamps",
    "ok",
    "failed",
    "controls",
    "cutout_not_ok",
    "psf_fallback",
    "brick_missing",
    "not_in_survey",
    "failed_unexpected",
    *(f"failed_{category}" for category, _, _ in CATEGORIES),
)


def stamp_counts(stamps: pa.Table) -> Counter:
    """Tasks, ok / failed, controls, cutouts not fully on their brick, PSF fallbacks, rows on bricks without files,
    and on bricks the portal does not have (404); failed rows by category (``dhs_core.stamps.reasons``) and those
    with a problem outside the expected categories."""
    status = stamps["status"].to_numpy(zero_copy_only=False)
    reason = stamps["status_reason"].to_numpy(zero_copy_only=False).astype(str)
    categories = [failure_category(r) for r, s in zip(reason, status) if s != "ok"]
    return Counter(
        {
            **Counter(f"failed_{name}" for name, _ in categories),
            "failed_unexpected": sum(not expected for _, expected in categories),
            "stamps": stamps.num_rows,
            "ok": int(np.sum(status == "ok")),
            "failed": int(np.sum(status != "ok")),
            "controls": int(np.sum(stamps["is_control"].to_numpy(zero_copy_only=False))),
            "cutout_not_ok": int(np.sum(~stamps["cutout_ok"].to_numpy(zero_copy_only=False))),
            "psf_fallback": int(
                np.sum(stamps["psf_fallback_bands"].to_numpy(zero_copy_only=False).astype(str) != "")
            ),
            "brick_missing": int(np.sum(np.char.startswith(reason, MISSING_BRICK))),
            "not_in_survey": int(np.sum(np.char.startswith(reason, NOT_IN_SURVEY))),
        }
    )


def write_unit(job: StampsJob, rows: pa.Table, path: str) -> dict:
    """Inject one work unit's manifest ``rows`` and stream them to ``path``; return its counts."""
    counts: Counter = Counter()
    batches = _unit_batches(rows, job, counts)
    first = next(batches)
    write_batches(
        _chain(first, batches), first.schema, path, job.rows_per_group, job.duckdb, dict(job.file_metadata)
    )
    return dict(counts)


def _chain(first, rest):
    yield first
    yield from rest


def empty_stamps(manifest: pa.Table) -> pa.Table:
    """A zero-row stamps table with the schema a partition of ``manifest``'s columns has (its manifest columns,
    then :func:`dhs_core.inject.columns.engine_schema`)."""
    rows = manifest.slice(0, 0)
    engine_tasks(rows)  # a manifest without the engine's columns is refused here too
    return join_stamps(rows, engine_schema().empty_table())


class Progress:
    """Tasks done out of a total, with rate (tasks/s) and time left, for the run's log."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic):
        self.total, self.done, self.clock, self.start = total, 0, clock, clock()

    def advance(self, tasks: int) -> str:
        self.done += tasks
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (
            f"{self.done:,} / {self.total:,} tasks ({100 * self.done / max(self.total, 1):.1f} %), "
            f"{rate:,.0f} tasks/s, ETA {left:,.0f} s"
        )


def die_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Worker initializer: exit as soon as the process that started the pool is gone (``kill -9``, the OOM killer),
    instead of living on as an orphan that writes into the staging area."""

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="dhs-parent-watch", daemon=True).start()


def write_stamps_partition(
    manifest: pa.Table,
    job: StampsJob,
    data_root: str,
    asset: str,
    partition: str,
    log: Callable[[str], None] = lambda message: None,
    owner: str = "",
    pool: Executor | None = None,
    spec: DatasetSpec | None = None,
) -> tuple[str, dict]:
    """Inject every task of ``manifest`` and publish them as ``<data_root>/<asset>/<partition>/part-*.parquet``,
    replacing what was there; return the folder and the counts (``stamp_counts`` summed). Progress goes to ``log``.

    Nothing is visible until every unit is written: a failure or a killed run leaves the old partition. One run
    writes a partition at a time: a second fails at once with ``PartitionBusyError`` naming the first (``owner``,
    e.g. a Dagster run id, is what it names). ``pool``: the worker processes to use (``stamps_pool``; a run shares
    one over its partitions), else a pool of ``job.processes`` for this partition alone. ``spec``: the dataset spec
    the partition is built from, recorded in every file's metadata and in ``dataset.json`` beside them
    (``dhs_core.datasets.record``)."""
    if spec is not None:
        job = dataclasses.replace(job, file_metadata=tuple(parquet_metadata(spec).items()))
    units = work_units(manifest, job.unit_tasks)
    counts: Counter = Counter()
    progress = Progress(manifest.num_rows)

    def done(result: dict, rows: int) -> None:
        counts.update(result)
        if rows:
            log(progress.advance(rows))

    folder = publish_units(
        [(write_unit, (job, manifest.take(rows)), len(rows)) for rows in units]
        or [(write_empty_unit, (job, manifest.slice(0, 0)), 0)],
        data_root,
        asset,
        partition,
        job.processes,
        pool,
        done,
        owner,
        finish=(lambda staging: write_dataset_file(spec, staging)) if spec is not None else None,
    )
    return folder, {**dict.fromkeys(COUNTS, 0), **counts}


@contextlib.contextmanager
def stamps_pool(processes: int) -> Iterator[Executor]:
    """``processes`` worker processes for stamps units, started as units arrive and stopped on exit; each dies with
    the process that started it. Spawned, not forked: the caller (a Dagster run) has threads, which fork would copy
    mid-state."""
    with ProcessPoolExecutor(
        processes, mp_context=get_context("spawn"), initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        yield pool


def publish_units(
    units: list[tuple[Callable, tuple, int]],
    data_root: str,
    asset: str,
    partition: str,
    processes: int = 1,
    pool: Executor | None = None,
    done: Callable[[object, int], None] = lambda result, weight: None,
    owner: str = "",
    finish: Callable[[str], None] | None = None,
) -> str:
    """Write a partition of one Parquet file per unit and publish it whole; return its folder.

    ``units``: ``(function, arguments, weight)``, each called as ``function(*arguments, path)`` to write
    ``part-<i>.parquet`` into a staging folder: in this process when ``processes`` is 1 or there is one unit (unless
    ``pool`` is a cluster's: ``dhs_core.cluster``), else in ``pool`` (or worker processes of its own). ``done(result, weight)`` as each unit finishes (counts, progress);
    ``finish(staging)`` before publication (files beside the parts). Nothing is visible until every unit is written:
    a failure or a killed run leaves the old partition; one writer at a time (``partition_lock``, naming ``owner``)."""
    store = storage.store_of(data_root)
    generation = storage.new_generation()
    uploaded: dict[str, dict] = {}
    with partition_lock(data_root, asset, partition, owner):
        staging = staging_dir(data_root, asset, partition)
        try:
            work = []
            for i, (function, args, weight) in enumerate(units):
                name = part_file(i)
                if store is None:  # the unit writes its part into the staging folder
                    call = (function, *args, os.path.join(staging, name))
                else:  # the unit puts its part in the store itself, under the new generation: no shared disk needed
                    key = store.key(asset, partition, generation, name)
                    call = (storage.unit_to_store, store, key, function, *args)
                work.append((run_unit, (f"{asset}/{partition}/{name}", *call), weight))

            def finished(result, weight):
                if store is not None:
                    result, entry = result
                    uploaded[entry["key"].rsplit("/", 1)[1]] = entry
                done(result, weight)

            # in this process when that is as fast; a cluster's executor is always used (its workers do the work)
            if (pool is None or isinstance(pool, ProcessPoolExecutor)) and (processes == 1 or len(work) == 1):
                for function, args, weight in work:
                    finished(function(*args), weight)
            else:
                with (
                    contextlib.nullcontext(pool)
                    if pool
                    else stamps_pool(min(processes, len(work))) as workers
                ):
                    futures = {workers.submit(function, *args): weight for function, args, weight in work}
                    for future in as_completed(futures):
                        finished(future.result(), futures[future])
            remove_temporaries(
                staging
            )  # of a unit whose worker died mid-write (its rerun wrote the part whole)
            if finish is not None:
                finish(staging)
            return publish_partition(staging, data_root, asset, partition, uploaded)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def write_empty_unit(job: StampsJob, rows: pa.Table, path: str) -> dict:
    """The one file of a partition without tasks: no rows, the columns of ``rows``' stamps."""
    empty = empty_stamps(rows)
    write_batches(iter(empty.to_batches()), empty.schema, path, 1, job.duckdb, dict(job.file_metadata))
    return {}
