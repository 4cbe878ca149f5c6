"""An S3 API server on loopback for tests and benchmarks: moto's threaded server bound to 127.0.0.1 on a free port,
with test credentials and one bucket; stopped on exit."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import boto3
from moto.server import ThreadedMotoServer

from tests.e2e.server import free_port

BUCKET = "dhs-test"
CREDENTIALS = {  # set for the whole test session (tests/conftest.py), so that workers started early have them too
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask a metadata address for credentials
}


@contextlib.contextmanager
def loopback_s3(bucket: str = BUCKET) -> Iterator[tuple[str, object]]:
    """``(endpoint URL, boto3 client)`` of a fresh S3 server on 127.0.0.1 holding the empty ``bucket`` (clients need
    :data:`CREDENTIALS` in their environment)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._port}"
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket=bucket)
        yield endpoint, client
    finally:
        server.stop()


def object_keys(client, bucket: str = BUCKET, prefix: str = "") -> list[str]:
    """Every object key under ``prefix``, sorted."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
