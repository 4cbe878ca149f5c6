"""sha256 digests of a partition's files, on disk or in a bucket, for tests and benchmarks that compare outputs byte for
byte."""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os

from tests.s3 import BUCKET


def file_digests(folder, pattern: str = "part-*.parquet") -> dict[str, str]:
    """File name -> sha256 of the files of ``folder`` matching ``pattern`` (the folder's name taken literally)."""
    return {
        os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest()
        for p in sorted(glob.glob(os.path.join(glob.escape(str(folder)), pattern)))
    }


def object_digests(
    client, files: dict[str, dict], pattern: str = "part-*.parquet", bucket: str = BUCKET
) -> dict:
    """File name -> sha256 of the objects a partition's marker lists (``files``: name -> ``{"key", ...}``) whose names
    match ``pattern``."""
    return {
        name: hashlib.sha256(client.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()).hexdigest()
        for name, entry in sorted(files.items())
        if fnmatch.fnmatchcase(name, pattern)
    }
