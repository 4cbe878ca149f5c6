"""An S3 API server on loopback for tests and benchmarks: moto's threaded server bound to 127.0.0.1 on a free port,
with test credentials and one bucket; stopped on exit."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import boto3
import botocore.exceptions
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
def loopback_s3(bucket: str = BUCKET, own_process: bool = False) -> Iterator[tuple[str, object]]:
    """``(endpoint URL, boto3 client)`` of a fresh S3 server on 127.0.0.1 holding the empty ``bucket`` (clients need
    :data:`CREDENTIALS` in their environment). ``own_process``: run it as a separate process (benchmarks: a server
    thread would compete for this process's interpreter lock), else as a thread of this one."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    if own_process:
        server = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "moto_server"),
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stop = server.terminate
    else:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        stop = server.stop
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        _wait_for(client)
        # moto keeps its buckets in one store per process, shared by every server of that process: start empty
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
        )
        client.create_bucket(Bucket=bucket)
        yield endpoint, client
    finally:
        stop()


def _wait_for(client, timeout_s: float = 30) -> None:
    """Return once the server answers (bounded in time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.list_buckets()
            return
        except botocore.exceptions.EndpointConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def object_keys(client, bucket: str = BUCKET, prefix: str = "") -> list[str]:
    """Every object key under ``prefix``, sorted."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
