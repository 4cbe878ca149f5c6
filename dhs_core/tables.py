"""Parquet tables under the data root, read and written through DuckDB.

Layout: ``<data_root>/<asset>/<partition>/part-00000.parquet``; an unpartitioned asset uses the
partition name ``all``. Writes go to a hidden temporary file in the same folder and are renamed into
place, so a reader (DuckDB globbing ``part-*.parquet``) never sees a half-written file and a re-run
replaces the partition instead of adding to it.

A data root ``mount``-ed on an object store (``dhs_core.storage``) is a cache: each write here publishes its partition
to the store as it finishes, Parquet reads go to the published objects, and :func:`partition_dir` brings one
published partition into the cache for readers of files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dhs_core import storage
from dhs_core.asset_names import ASSET_NAMES, DATASET_SPECS, MODEL_SCORES
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.locks import STAGING, partition_lock
from dhs_core.survey.layout import REMOTE_SCHEMES

UNPARTITIONED = "all"
# folders of files users drop in, not partitions of Parquet parts
DROP_FOLDERS = (DATASET_SPECS, MODEL_SCORES)
PART_FILE = "part-00000.parquet"
# Streamed pixel files (stamps, the cutout cache): LZ4_RAW in v1 pages, 13 % more stamps a second than zstd level 1 in
# v2 pages for 14 % more bytes (docs/stamps.md). Their columns are binary pixels, so v2's byte-stream-split gains
# nothing; LZ4_RAW is a standard Parquet codec (DuckDB, pyarrow, Spark >= 3.4) and decodes faster for training too.
PIXEL_FILE_FORMAT = "COMPRESSION lz4_raw, PARQUET_VERSION v1"


def partition_dir(data_root: str, asset: str, partition: str = UNPARTITIONED) -> str:
    """Folder of one partition of an asset (``partition`` may be a glob such as ``grid|*``, for readers). Under a
    data root mounted on an object store, the files of the published partitions it names are brought into the cache
    first, but for their Parquet parts: :func:`partition_files` and ``dhs_core.stamps.read.stamp_files`` of the
    folder list those in the store, and :func:`parquet_file` opens them there."""
    folder = _folder(data_root, asset, partition)
    store = storage.store_of(data_root)
    if store is not None:
        storage.fetch_matching(store, str(data_root), asset, partition, parts=False)
    return folder


def _folder(data_root: str, asset: str, partition: str) -> str:
    if str(data_root).startswith(REMOTE_SCHEMES):
        raise ConfigError("data_root", data_root, "a local folder (an s3:// data root is mounted on one)")
    if not partition or "/" in partition or partition.startswith("."):
        raise ConfigError("partition", partition, "a non-empty name without '/' that does not start with '.'")
    return os.path.join(str(data_root), asset, partition)


def published(
    path: str, uploaded: dict[str, dict] | None = None, keep: Callable[[str], bool] = lambda name: False
) -> str:
    """Publish what was just written at ``path`` (a partition folder, or a file in one: then every other file of the
    partition stays) to the store its data root is mounted on, if any, with ``uploaded`` (files work units put in the
    store themselves) and the published files ``keep(name)`` names; return ``path``. Every write here calls it once
    its files are whole. A file in a folder users drop files into (dataset specs, model scores) is uploaded as it
    is."""
    found = storage.mount_of(path)
    if found is None:
        return path
    root, store = found
    parts = os.path.relpath(path, root).split(os.sep)
    if parts[0] in DROP_FOLDERS and os.path.isfile(path):
        storage.upload(store, path, store.key(*parts))
    elif parts[0] in ASSET_NAMES and len(parts) >= 2 and parts[0] not in DROP_FOLDERS:
        keep = (lambda name: True) if len(parts) > 2 else keep  # a file added to a partition
        storage.publish_folder(
            store, os.path.join(root, parts[0], parts[1]), parts[0], parts[1], uploaded, keep
        )
    return path


MEMORY_LIMIT = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


@dataclass(frozen=True)
class DuckDBSettings:
    """``threads`` (0: DuckDB's default, every core) and ``memory_limit`` (e.g. ``4GB``; empty: DuckDB's default, 80 %
    of RAM) of a connection. Values are checked here and handed to DuckDB as connection settings, never written into
    SQL text. A run's settings travel by value: the Dagster resource gives them to its steps and the stamps job to
    its worker processes."""

    threads: int = 0
    memory_limit: str = ""

    def __post_init__(self):
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ConfigError("duckdb.threads", self.threads, "an integer >= 0 (0: every core)")
        if self.memory_limit and not MEMORY_LIMIT.match(self.memory_limit):
            raise ConfigError(
                "duckdb.memory_limit",
                self.memory_limit,
                "a size such as 512MB, 4GB or 2GiB (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
            )

    def config(self) -> dict:
        return {k: v for k, v in (("threads", self.threads), ("memory_limit", self.memory_limit)) if v}


def connect(settings: DuckDBSettings = DuckDBSettings()) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up as dhs uses it (insertion order preserved, for reproducible output), with
    ``settings``."""
    con = duckdb.connect(config={"preserve_insertion_order": True, **settings.config()})
    con.execute("SET enable_progress_bar = false")  # logs, not a terminal: progress is reported by dhs
    stores = storage.mounted_stores()
    if stores:  # s3:// paths of a mounted data root (a connection has one filesystem per protocol)
        con.register_filesystem(storage.duckdb_filesystem(stores[0]))
    return con


@functools.lru_cache(maxsize=4)
def _writer(settings: DuckDBSettings, pid: int) -> duckdb.DuckDBPyConnection:
    """One DuckDB database per process (``pid``: a forked child makes its own) and settings for the streaming writers,
    each writer a cursor of it: opening a database costs ~15 ms, a stamps work unit's whole Parquet file ~0.1 s. One
    thread: the caller runs writers in parallel."""
    return connect(dataclasses.replace(settings, threads=1))


def write_table(
    table: pa.Table,
    data_root: str,
    asset: str,
    partition: str = UNPARTITIONED,
    con: duckdb.DuckDBPyConnection | None = None,
    metadata: dict[str, str] | None = None,
) -> str:
    """Write ``table`` as the partition's only Parquet file (zstd level 1: 15 % faster than the default level
    for 3 % more bytes), atomically; return its path.

    ``con``: a connection from :func:`connect` to reuse (a new one otherwise); ``metadata``: key-value pairs for
    the file's footer."""
    folder = _folder(data_root, asset, partition)
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, PART_FILE)
    with partition_lock(data_root, asset, partition):
        remove_temporaries(
            folder
        )  # of a write that was killed: nobody else writes here while we hold the lock
        temporary = os.path.join(folder, f".{PART_FILE}.{uuid.uuid4().hex}.tmp")
        try:
            with connect() if con is None else contextlib.nullcontext(con) as writer:
                writer.register("source_table", table)
                writer.execute(
                    f"COPY source_table TO '{sql_path(temporary)}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"
                    f"{kv_metadata(metadata)})"
                )
                writer.unregister("source_table")
            os.replace(temporary, final)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        for stale in glob.glob(os.path.join(glob.escape(folder), "part-*.parquet")):
            if stale != final:
                os.remove(stale)
        published(folder, keep=lambda name: not name.startswith("part-"))  # its part replaced, the rest kept
    return final


def kv_metadata(metadata: dict[str, str] | None) -> str:
    """The ``KV_METADATA`` option of a DuckDB Parquet ``COPY`` for ``metadata`` (empty for none)."""
    if not metadata:
        return ""
    pairs = ", ".join(f"{_sql_text(k)}: {_sql_text(v)}" for k, v in metadata.items())
    return f", KV_METADATA {{{pairs}}}"


def _sql_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def remove_temporaries(folder: str) -> list[str]:
    """Remove the hidden ``.<name>.<uuid>.tmp`` files dhs writes before a rename (left by a killed write); return them.
    Call it only while holding the folder's partition lock."""
    stale = glob.glob(os.path.join(glob.escape(folder), ".*.tmp"))
    for path in stale:
        os.remove(path)
    return stale


def part_file(index: int) -> str:
    """Name of the ``index``-th Parquet file of a partition."""
    return f"part-{index:05d}.parquet"


def write_batches(
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    path: str,
    row_group_rows: int,
    settings: DuckDBSettings = DuckDBSettings(),
    metadata: dict[str, str] | None = None,
) -> str:
    """Stream record batches into one Parquet file at ``path`` (written under a temporary name, then renamed),
    ``row_group_rows`` rows per row group, in bounded memory, with ``metadata`` (key-value pairs) in its footer;
    return ``path``.

    Format: :data:`PIXEL_FILE_FORMAT`; pixels are binary values (``dhs_core.pixels``), dictionary-encoded where a
    row group repeats them. One DuckDB thread per writer, each a cursor of this process's writer database
    (:func:`_writer`): the caller runs writers in parallel."""
    temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    failure: list[BaseException] = []

    def producing():
        try:
            yield from batches
        except Exception as exc:  # DuckDB would re-raise it as its own error, without its type
            failure.append(exc)
            raise

    try:
        with _writer(settings, os.getpid()).cursor() as con:
            con.register("source_batches", pa.RecordBatchReader.from_batches(schema, producing()))
            try:
                con.execute(
                    f"COPY source_batches TO '{sql_path(temporary)}' (FORMAT parquet, {PIXEL_FILE_FORMAT}, "
                    f"ROW_GROUP_SIZE {int(row_group_rows)}{kv_metadata(metadata)})"
                )
            except duckdb.Error:
                if (
                    failure
                ):  # the producer's own error (e.g. a corrupt input file, named), not DuckDB's wrapper
                    raise failure[0] from None
                raise
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def staging_dir(data_root: str, asset: str, partition: str = UNPARTITIONED) -> str:
    """A new, empty folder where a multi-file partition is written before :func:`publish_partition` moves it
    into place; outside ``<root>/<asset>/`` so no reader's glob sees it. Leftovers of killed runs of the
    same partition are removed first: call it only while holding the partition's lock
    (``dhs_core.locks.partition_lock``), so that no live run's folder is among them."""
    _folder(data_root, asset, partition)  # validates the names
    parent = os.path.join(str(data_root), STAGING, asset)
    for stale in glob.glob(os.path.join(glob.escape(parent), f"{glob.escape(partition)}.*")):
        shutil.rmtree(stale, ignore_errors=True)
    folder = os.path.join(parent, f"{partition}.{uuid.uuid4().hex}")
    os.makedirs(folder)
    return folder


def publish_partition(
    staging: str,
    data_root: str,
    asset: str,
    partition: str = UNPARTITIONED,
    uploaded: dict[str, dict] | None = None,
) -> str:
    """Move a finished staging folder into place as the partition, replacing the old one whole; return it. Under a
    mounted data root, publish it to the store, with ``uploaded``: the files work units put there themselves.

    Two renames: the old folder out to the staging area, the new one in. A reader sees the old files or
    the new ones, or (between the renames) no partition, never a mixture or a half-written file."""
    final = _folder(data_root, asset, partition)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    return published(replace_folder(staging, final), uploaded)


def replace_folder(staging: str, final: str) -> str:
    """Move the finished folder ``staging`` to ``final``, replacing what was there whole (two renames, the old folder
    out beside ``staging`` first); return ``final``."""
    retired = f"{staging}.retired"
    if os.path.exists(final):
        os.replace(final, retired)
    os.replace(staging, final)
    shutil.rmtree(retired, ignore_errors=True)
    return final


def write_file(data: bytes, path: str) -> str:
    """Write ``data`` to ``path`` atomically (a temporary name in the same folder, then a rename); return ``path``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return published(path)


def parquet_source(data_root: str, asset: str, partition: str | list[str] | None = UNPARTITIONED) -> str:
    """A DuckDB ``read_parquet([...])`` expression over one partition, several (a list) or all (``None``) of an
    asset (:func:`partition_files`)."""
    return read_parquet(partition_files(data_root, asset, partition))


def partition_files(
    data_root: str, asset: str, partition: str | list[str] | None = UNPARTITIONED
) -> list[str]:
    """The Parquet parts of one partition, several (a list) or all (``None``) of an asset, in order: local paths, or
    under a data root mounted on an object store, the ``s3://`` URLs its markers list (read in place, not fetched).

    The files are listed here and handed to readers by name, so a data root or partition with glob characters
    (``data [run1]``) is read literally. Raises :class:`InputFileError` when nothing is materialized there yet.
    """
    patterns = ["*"] if partition is None else [partition] if isinstance(partition, str) else list(partition)
    store = storage.store_of(data_root)
    files = (
        _published_files(store, asset, patterns)
        if store is not None
        else sorted(
            f
            for p in patterns
            for f in glob.glob(
                os.path.join(
                    glob.escape(str(data_root)), asset, p if p == "*" else glob.escape(p), "part-*.parquet"
                )
            )
        )
    )
    if not files:
        where = os.path.join(str(data_root), asset, ",".join(patterns))
        raise InputFileError(where, f"no materialized data for asset {asset!r} (no part-*.parquet there)")
    return files


def _published_files(store: storage.ObjectStore, asset: str, patterns: list[str]) -> list[str]:
    """The published part files of these partitions (``*``: every one; other names literal), in the order the local
    files sort."""
    names = storage.published_partitions(store, asset)
    return storage.part_urls(store, asset, names if "*" in patterns else [n for n in names if n in patterns])


def folder_parts(folder: str) -> list[str]:
    """The Parquet parts of a partition folder, in order (none: empty): local files, or under a data root mounted on
    an object store, the ``s3://`` URLs of the published parts."""
    published = storage.published_files_at(folder)
    if published is not None:
        return published
    return sorted(glob.glob(os.path.join(glob.escape(str(folder)), "part-*.parquet")))


def parquet_file(path: str) -> pq.ParquetFile:
    """The Parquet file at ``path``: local, or an ``s3://`` URL of a mounted store (read by ranged requests)."""
    filesystem, where = storage.filesystem_of(path)
    return pq.ParquetFile(where, filesystem=filesystem)


def read_parquet(files: list[str], positions: bool = False) -> str:
    """DuckDB's ``read_parquet`` of these files, named one by one (never a pattern DuckDB would expand).
    ``positions``: with each row's ``filename`` and ``file_row_number``, to order by (``ORDERED``)."""
    options = ", filename = true, file_row_number = true" if positions else ""
    return "read_parquet([" + ", ".join(f"'{sql_path(f)}'" for f in files) + "]" + options + ")"


# rows in file order, then row order: what a query over several files returns only when asked (a filtered or joined
# scan of several files comes back in whatever order DuckDB's threads finish)
ORDERED = "ORDER BY filename, file_row_number"


def materialized_partitions(data_root: str, asset: str) -> list[str]:
    """Partitions of an asset that have a data file, sorted (published ones, under a mounted data root)."""
    store = storage.store_of(data_root)
    if store is not None:
        return [
            p
            for p in storage.published_partitions(store, asset)
            if PART_FILE in (storage.marker(store, asset, p) or {})
        ]
    return sorted(
        os.path.basename(os.path.dirname(p))
        for p in glob.glob(os.path.join(glob.escape(str(data_root)), asset, "*", PART_FILE))
    )


def read_table(
    data_root: str, asset: str, partition: str | None = UNPARTITIONED, columns: list[str] | None = None
) -> pa.Table:
    """Read one partition (or every partition, ``partition=None``) of an asset as an Arrow table."""
    source = parquet_source(data_root, asset, partition)
    select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    with connect() as con:
        return con.sql(f"SELECT {select} FROM {source}").to_arrow_table()


def sql_path(path: str) -> str:
    return path.replace("'", "''")
