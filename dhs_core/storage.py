"""Partitions in an object store (``s3://bucket/prefix``), read and written without mirroring the prefix.

Layout: a partition's files are objects under ``<prefix>/<asset>/<partition>/<generation>/<name>`` (a generation is a
random hex name, one per publication), and its **marker** ``<prefix>/<asset>/<partition>/_published.json`` lists the
files that make it up: ``{"files": {name: {"key": ..., "size": ...}}}``. Readers trust only the marker.

Why a marker and not copy-then-delete: S3 has no rename, so copying a staged partition into place moves every byte
again (0.5 TB of stamps) and a reader may list a mixture mid-copy; one PUT of a small object is atomic (S3 reads are
strongly consistent since 2020), so the partition changes from the old files to the new ones at once. After the
marker, the objects no longer listed (the previous generation, leftovers of killed runs) are deleted.

A machine works through a local cache folder ``mount``-ed on the store: a step's writes (``dhs_core.tables``) are
published from it as they finish, only new or changed files uploaded; reads go straight to the objects (DuckDB and
pyarrow through the S3 filesystem), or for code that needs files (HDF5, JSON beside the parts), fetch that one
partition into the cache when its marker changed. Work units on other machines upload their parts themselves
(:func:`upload`) and the driver writes the marker (:func:`publish_entries`).

The filesystem is pyarrow's S3 filesystem (C++, parallel multipart uploads, ranged reads for Parquet), wrapped for
DuckDB as an fsspec filesystem (DuckDB's own httpfs extension cannot be installed where extensions are not
downloadable). Credentials come from the usual AWS chain (environment, profile, instance role).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import io
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import pyarrow.fs as pafs
from fsspec.implementations.arrow import ArrowFSWrapper

from dhs_core.errors import ConfigError, InputFileError

MARKER = "_published.json"
RECORD = ".published.json"  # in a cache folder: which object each local file is a copy of
CHUNK = 8 << 20  # bytes per read/write call when copying a file to or from the store


@dataclass(frozen=True)
class ObjectStore:
    """An ``s3://bucket[/prefix]`` data root; ``endpoint_url`` for an S3-compatible server (empty: AWS)."""

    uri: str
    endpoint_url: str = ""

    def __post_init__(self):
        parse_s3_uri(self.uri)  # a malformed URI is refused here, naming it

    @property
    def bucket(self) -> str:
        return parse_s3_uri(self.uri)[0]

    @property
    def prefix(self) -> str:
        return parse_s3_uri(self.uri)[1]

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under the prefix."""
        return "/".join(p for p in (self.prefix, *parts) if p)

    def path(self, key: str) -> str:
        """pyarrow's path of an object key (``bucket/key``)."""
        return f"{self.bucket}/{key}"

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def filesystem(self) -> pafs.S3FileSystem:
        return _filesystem(self.endpoint_url)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (prefix without a trailing slash, may be empty)."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise ConfigError("data_root", uri, "s3://bucket[/prefix]")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise ConfigError("data_root", uri, "s3://bucket[/prefix] with a bucket name")
    return bucket, prefix.strip("/")


@functools.lru_cache(maxsize=8)
def _filesystem(endpoint_url: str) -> pafs.S3FileSystem:
    if not endpoint_url:
        return pafs.S3FileSystem()
    scheme, _, host = endpoint_url.partition("://")
    return pafs.S3FileSystem(endpoint_override=host or scheme, scheme=scheme if host else "https")


class DuckDBS3(ArrowFSWrapper):
    """pyarrow's S3 filesystem as fsspec sees it, for ``DuckDBPyConnection.register_filesystem`` (``s3://`` paths).
    Files open for reading are :class:`PositionalFile`: DuckDB's threads share one handle per file."""

    protocol = "s3"

    def _open(self, path, mode="rb", **kwargs):
        if mode != "rb":
            return super()._open(path, mode, **kwargs)
        return PositionalFile(self.fs.open_input_file(self._strip_protocol(path)))


@functools.lru_cache(maxsize=8)
def duckdb_filesystem(store: ObjectStore) -> DuckDBS3:
    """The store's filesystem for DuckDB, built once per store: every connection of a mounted data root registers it."""
    return DuckDBS3(store.filesystem())


class PositionalFile(io.RawIOBase):
    """A read-only object file whose position is each thread's own, read with positional (ranged) reads.

    Why: DuckDB reads a file's row groups from several threads through one handle, as ``seek`` then ``read``; with
    one shared position, two threads interleave and one decodes the other's bytes (``TProtocolException: Invalid
    data``, seen on every few runs). ``read_at`` is thread-safe in pyarrow."""

    def __init__(self, native):
        super().__init__()
        self._native, self._size, self._local = native, native.size(), threading.local()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return getattr(self._local, "position", 0)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.tell(), io.SEEK_END: self._size}[whence]
        self._local.position = max(0, base + offset)
        return self._local.position

    def read(self, size: int = -1) -> bytes:
        start = self.tell()
        size = self._size - start if size is None or size < 0 else min(size, self._size - start)
        data = self._native.read_at(max(size, 0), start) if size > 0 else b""
        self._local.position = start + len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._native.close()
        super().close()


# --- objects -------------------------------------------------------------------------------------------------------


def new_generation() -> str:
    return uuid.uuid4().hex


def upload(store: ObjectStore, local: str, key: str) -> dict:
    """Copy the file ``local`` to the object ``key`` (visible only once whole: a killed upload leaves no object);
    return its marker entry."""
    with open(local, "rb") as source, store.filesystem().open_output_stream(store.path(key)) as sink:
        shutil.copyfileobj(source, sink, CHUNK)
    return {"key": key, "size": os.path.getsize(local)}


def unit_to_store(store: ObjectStore, key: str, function, *args) -> tuple[object, dict]:
    """Run a work unit ``function(*args, path)`` that writes one file, on a scratch file of this machine, and put the
    file in the store at ``key``; return the unit's result and the file's marker entry. Run again (a lost worker's
    unit), it puts the same bytes under the same key."""
    scratch = tempfile.mkdtemp(prefix="dhs-unit-")
    try:
        path = os.path.join(scratch, key.rsplit("/", 1)[1])
        result = function(*args, path)
        return result, upload(store, path, key)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def download(store: ObjectStore, key: str, local: str) -> None:
    """Copy the object ``key`` to ``local`` (a temporary name, then renamed). A missing object is an error naming it."""
    os.makedirs(os.path.dirname(local), exist_ok=True)
    temporary = f"{local}.{uuid.uuid4().hex}.download"
    try:
        with store.filesystem().open_input_stream(store.path(key)) as source, open(temporary, "wb") as sink:
            shutil.copyfileobj(source, sink, CHUNK)
        os.replace(temporary, local)
    except FileNotFoundError:
        raise InputFileError(
            store.url(key), "listed by its partition's marker but not in the store"
        ) from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def marker(store: ObjectStore, asset: str, partition: str) -> dict | None:
    """The files of a published partition (name -> ``{"key", "size"}``), or None when it is not published."""
    try:
        with store.filesystem().open_input_stream(store.path(store.key(asset, partition, MARKER))) as stream:
            return json.loads(stream.read())["files"]
    except FileNotFoundError:
        return None


def published_partitions(store: ObjectStore, asset: str) -> list[str]:
    """Partitions of ``asset`` that have a marker, sorted."""
    selector = pafs.FileSelector(store.path(store.key(asset)), recursive=False, allow_not_found=True)
    folders = [
        i.base_name for i in store.filesystem().get_file_info(selector) if i.type == pafs.FileType.Directory
    ]
    infos = store.filesystem().get_file_info([store.path(store.key(asset, p, MARKER)) for p in folders])
    return sorted(p for p, info in zip(folders, infos) if info.type == pafs.FileType.File)


def partition_urls(store: ObjectStore, asset: str, partition: str, suffix: str = ".parquet") -> list[str]:
    """``s3://`` URLs of a published partition's files ending in ``suffix``, by name; empty when not published."""
    files = marker(store, asset, partition) or {}
    return [store.url(files[name]["key"]) for name in sorted(files) if name.endswith(suffix)]


def publish_entries(store: ObjectStore, asset: str, partition: str, files: dict[str, dict]) -> None:
    """Make ``files`` (name -> ``{"key", "size"}``, already uploaded) the partition, by one PUT of its marker; then
    delete every other object under the partition (the previous generation, parts of killed runs)."""
    filesystem = store.filesystem()
    folder = store.key(asset, partition)
    with filesystem.open_output_stream(store.path(f"{folder}/{MARKER}")) as stream:
        stream.write(json.dumps({"files": files}, indent=1, sort_keys=True).encode())
    keep = {entry["key"] for entry in files.values()} | {f"{folder}/{MARKER}"}
    selector = pafs.FileSelector(store.path(folder), recursive=True, allow_not_found=True)
    stale = [
        key
        for key in (
            i.path[len(store.bucket) + 1 :]
            for i in filesystem.get_file_info(selector)
            if i.type == pafs.FileType.File
        )
        if key not in keep
    ]
    delete(store, stale)


def delete(store: ObjectStore, keys: list[str]) -> None:
    """Delete these objects, a thousand per request. Through boto3: pyarrow's filesystem would leave an empty
    "folder" object behind each folder it empties."""
    client = _client(store.endpoint_url)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start : start + 1000]]
        client.delete_objects(Bucket=store.bucket, Delete={"Objects": batch, "Quiet": True})


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str):
    return boto3.client("s3", endpoint_url=endpoint_url or None)


# --- a local cache folder mounted on a store -----------------------------------------------------------------------

_MOUNTS: dict[str, ObjectStore] = {}


def mount(local_root: str, store: ObjectStore) -> None:
    """Make the folder ``local_root`` this process's cache of ``store``: ``dhs_core.tables`` then publishes what is
    written under it and reads what is published in the store."""
    _MOUNTS[os.path.abspath(str(local_root))] = store


def unmount(local_root: str) -> None:
    _MOUNTS.pop(os.path.abspath(str(local_root)), None)


def store_of(local_root: str) -> ObjectStore | None:
    """The store ``local_root`` is mounted on, or None (a plain local data root)."""
    return _MOUNTS.get(os.path.abspath(str(local_root))) if _MOUNTS else None


def mount_of(path: str) -> tuple[str, ObjectStore] | None:
    """``(cache folder, store)`` of the mount that holds ``path``, or None."""
    path = os.path.abspath(str(path))
    for root, store in _MOUNTS.items():
        if path.startswith(root + os.sep):
            return root, store
    return None


def published_files_at(path: str) -> list[str] | None:
    """The ``s3://`` URLs of the published Parquet parts that a local path under a mount stands for: a partition
    folder (``<root>/<asset>/<partition>``, the partition may be a glob), its ``part-*.parquet`` glob, or an asset
    folder (every partition). None when ``path`` is under no mount."""
    found = mount_of(path)
    if found is None:
        return None
    root, store = found
    parts = os.path.relpath(os.path.abspath(str(path)), root).split(os.sep)
    asset, pattern = parts[0], parts[1] if len(parts) > 1 else "*"
    return part_urls(store, asset, matching_partitions(store, asset, pattern))


def matching_partitions(store: ObjectStore, asset: str, pattern: str) -> list[str]:
    """The partitions a name or a glob (``grid|*``) stands for: a name without glob characters as it is (published
    or not: one marker to read, no listing), else the published partition of exactly that name, or those matching."""
    if not any(c in pattern for c in "*?["):
        return [pattern]
    names = published_partitions(store, asset)
    return [pattern] if pattern in names else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def part_urls(store: ObjectStore, asset: str, partitions: list[str]) -> list[str]:
    """The ``s3://`` URLs of the published Parquet parts of these partitions, partition by partition, parts by name."""
    return [
        url
        for name in partitions
        for url in partition_urls(store, asset, name)
        if _is_part(os.path.basename(url))
    ]


def filesystem_of(path: str) -> tuple[pafs.FileSystem | None, str]:
    """``(filesystem, path)`` to open ``path`` with pyarrow: a mounted store's S3 filesystem and the path without its
    scheme for an ``s3://`` URL of it, else ``(None, path)`` (a local file)."""
    if str(path).startswith("s3://"):
        bucket = path[5:].split("/", 1)[0]
        for store in _MOUNTS.values():
            if store.bucket == bucket:
                return store.filesystem(), path[5:]
    return None, path


def mounted_stores() -> list[ObjectStore]:
    return list(_MOUNTS.values())


def _read_record(folder: str) -> dict:
    try:
        with open(os.path.join(folder, RECORD)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def _write_record(folder: str, record: dict) -> None:
    temporary = os.path.join(folder, f"{RECORD}.{uuid.uuid4().hex}.tmp")
    with open(temporary, "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    os.replace(temporary, os.path.join(folder, RECORD))


def _local_state(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def _local_files(folder: str) -> list[str]:
    """The files of a cache folder that belong to the partition: not hidden (temporaries, the record)."""
    return sorted(
        os.path.relpath(os.path.join(d, n), folder)
        for d, dirs, names in os.walk(folder)
        for n in names
        if not n.startswith(".")
    )


def publish_folder(
    store: ObjectStore,
    folder: str,
    asset: str,
    partition: str,
    uploaded: dict[str, dict] | None = None,
    keep: Callable[[str], bool] = lambda name: False,
) -> dict[str, dict]:
    """Publish the cache folder ``folder`` as the partition: upload its files that are new or changed since they were
    last published or fetched (under a new generation), add ``uploaded`` (entries of files work units put in the
    store themselves) and the published files that ``keep(name)`` and this cache does not hold (a partition's parts
    are read in place, never fetched, so a file written beside them must not drop them), write the marker, delete
    what it no longer lists; return the marker's files."""
    record, generation = _read_record(folder), new_generation()
    files = {name: entry for name, entry in (marker(store, asset, partition) or {}).items() if keep(name)}
    files.update(uploaded or {})
    for name in _local_files(folder):
        path, known = os.path.join(folder, name), record.get(name)
        if known is not None and known["state"] == _local_state(path):
            files[name] = {"key": known["key"], "size": known["size"]}
        else:
            files[name] = upload(
                store, path, store.key(asset, partition, generation, name.replace(os.sep, "/"))
            )
    publish_entries(store, asset, partition, files)
    _write_record(folder, _record(folder, files))
    return files


def _record(folder: str, files: dict[str, dict]) -> dict:
    return {
        name: {**entry, "state": _local_state(os.path.join(folder, name))}
        for name, entry in files.items()
        if os.path.exists(os.path.join(folder, name))
    }


def fetch_partition(store: ObjectStore, folder: str, asset: str, partition: str, parts: bool = True) -> bool:
    """Bring the cache folder of a published partition up to date with its marker: download files missing or of
    another object (``parts`` False: all but its Parquet parts, which readers take from the store in place), remove
    files it no longer lists. Returns False when the partition is not published (the folder is left as it is)."""
    files = marker(store, asset, partition)
    if files is None:
        return False
    wanted = files if parts else {n: e for n, e in files.items() if not _is_part(n)}
    os.makedirs(folder, exist_ok=True)
    record = _read_record(folder)
    for name, entry in wanted.items():
        path, known = os.path.join(folder, name), record.get(name)
        if (
            known
            and known["key"] == entry["key"]
            and os.path.exists(path)
            and known["state"] == _local_state(path)
        ):
            continue
        download(store, entry["key"], path)
    for name in _local_files(folder):  # what is left: files not just fetched
        path, known, current = os.path.join(folder, name), record.get(name), files.get(name)
        up_to_date = (
            known and current and known["key"] == current["key"] and known["state"] == _local_state(path)
        )
        if name not in wanted and not up_to_date:
            os.remove(path)  # gone from the partition, or an old copy of a part read in place
    _write_record(folder, _record(folder, files))
    return True


def fetch_matching(store: ObjectStore, local_root: str, asset: str, pattern: str, parts: bool = True) -> None:
    """Fetch every published partition of ``asset`` whose name matches the glob ``pattern`` into the cache
    (``parts``: with its Parquet parts)."""
    for partition in matching_partitions(store, asset, pattern):
        fetch_partition(store, os.path.join(local_root, asset, partition), asset, partition, parts)


def _is_part(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".parquet")


def fetch_prefix(store: ObjectStore, local_root: str, folder: str) -> list[str]:
    """Download the objects under ``<prefix>/<folder>/`` that are missing locally or of another size (small folders
    users drop files into: dataset specs, model scores); return their relative paths."""
    filesystem, base = store.filesystem(), store.key(folder)
    selector = pafs.FileSelector(store.path(base), recursive=True, allow_not_found=True)
    fetched = []
    for info in filesystem.get_file_info(selector):
        if info.type != pafs.FileType.File:
            continue
        relative = info.path[len(store.path(base)) + 1 :]
        local = os.path.join(local_root, folder, relative)
        if not (os.path.exists(local) and os.path.getsize(local) == info.size):
            download(store, info.path[len(store.bucket) + 1 :], local)
            fetched.append(relative)
    return fetched


def local_copy(url: str, store: ObjectStore, scratch: str) -> str:
    """A local copy of the object at ``url`` under ``scratch`` (downloaded once: objects are never rewritten under the
    same key), for readers that need a file (HDF5)."""
    key = url[len(f"s3://{store.bucket}/") :]
    local = os.path.join(scratch, store.bucket, key)
    if not os.path.exists(local):
        download(store, key, local)
    return local


@contextlib.contextmanager
def mounted(local_root: str, store: ObjectStore):
    """``mount`` for the duration of a block."""
    mount(local_root, store)
    try:
        yield
    finally:
        unmount(local_root)
