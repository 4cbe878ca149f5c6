"""A local data root mirrored to an object store (``s3://bucket/prefix``): pull before work, push after.

The pipeline reads and writes a local working copy (atomic renames, DuckDB globs and HDF5 need files);
``pull`` brings objects that are missing or differ locally, ``push`` uploads what changed since a
snapshot and deletes the objects of files that went away (a replaced partition's old parts). Each
object is written whole by one PUT, so a reader of the bucket never sees half a file. The client is any
boto3 S3 client (``dagster_aws.s3.S3Resource.get_client()`` in the assets).
"""

from __future__ import annotations

import os

from dhs_core.errors import ConfigError
from dhs_core.tables import STAGING

Snapshot = dict[str, tuple[int, int]]  # relative path -> (size in bytes, mtime in ns)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (prefix without a trailing slash, may be empty)."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise ConfigError("data_root", uri, "s3://bucket[/prefix]")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise ConfigError("data_root", uri, "s3://bucket[/prefix] with a bucket name")
    return bucket, prefix.strip("/")


def snapshot(local: str) -> Snapshot:
    """Every file under ``local`` but staging folders and hidden temporaries, with its size and mtime."""
    files: Snapshot = {}
    for folder, dirs, names in os.walk(local):
        dirs[:] = [d for d in dirs if d != STAGING]
        for name in names:
            if name.startswith("."):
                continue
            path = os.path.join(folder, name)
            stat = os.stat(path)
            files[os.path.relpath(path, local)] = (stat.st_size, stat.st_mtime_ns)
    return files


def _key(prefix: str, relative: str) -> str:
    relative = relative.replace(os.sep, "/")
    return f"{prefix}/{relative}" if prefix else relative


def remote_files(client, uri: str) -> dict[str, int]:
    """Relative path -> size of every object under the URI."""
    bucket, prefix = parse_s3_uri(uri)
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""
    ):
        for item in page.get("Contents", []):
            found[item["Key"][len(prefix) + 1 if prefix else 0 :]] = item["Size"]
    return found


def pull(client, uri: str, local: str) -> list[str]:
    """Download objects missing locally or of another size (to a temporary name, then renamed); return them."""
    bucket, prefix = parse_s3_uri(uri)
    have = snapshot(local) if os.path.isdir(local) else {}
    fetched = []
    for relative, size in sorted(remote_files(client, uri).items()):
        if have.get(relative, (None,))[0] == size:
            continue
        path = os.path.join(local, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.download")
        client.download_file(bucket, _key(prefix, relative), temporary)
        os.replace(temporary, path)
        fetched.append(relative)
    return fetched


def push(client, local: str, uri: str, before: Snapshot) -> tuple[list[str], list[str]]:
    """Upload files new or changed since ``before`` and delete the objects of files gone since; return both lists."""
    bucket, prefix = parse_s3_uri(uri)
    after = snapshot(local)
    changed = sorted(path for path, state in after.items() if before.get(path) != state)
    gone = sorted(set(before) - set(after))
    for relative in changed:
        client.upload_file(os.path.join(local, relative), bucket, _key(prefix, relative))
    for relative in gone:
        client.delete_object(Bucket=bucket, Key=_key(prefix, relative))
    return changed, gone
