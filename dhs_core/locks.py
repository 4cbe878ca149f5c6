"""One writer per partition: an advisory lock that two runs of the same partition cannot both hold.

Dagster's run queue keeps two runs of one partition apart inside an instance (``dagster_home/dagster.yaml``);
this lock holds for runs that share a data root but not an instance (two instances, a shell and the UI, a
script). The lock is ``fcntl.flock`` on ``<data_root>/.staging/<asset>/<partition>.lock``: the kernel releases it
when its holder exits, however it dies (``kill -9``, the OOM killer), so a stale lock never blocks a later run.
The file records who holds it (process, host, start time, owner such as a Dagster run id) so that the second
run's error names the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator

from dhs_core.errors import DhsError

STAGING = ".staging"  # <data_root>/.staging/<asset>/: locks and multi-file partitions being written


class PartitionBusyError(DhsError, RuntimeError):
    """Another live run is writing the same partition."""

    def __init__(self, partition: str, holder: dict):
        self.partition, self.holder = partition, holder
        who = ", ".join(f"{k} {v}" for k, v in holder.items()) or "an unknown process"
        super().__init__(
            f"{partition} is being written by another run ({who}); wait for it to finish or stop it"
        )


def lock_path(data_root: str, asset: str, partition: str) -> str:
    return os.path.join(str(data_root), STAGING, asset, f"{partition}.lock")


@contextlib.contextmanager
def partition_lock(data_root: str, asset: str, partition: str, owner: str = "") -> Iterator[str]:
    """Hold the write lock of one partition for the ``with`` block, or fail at once with
    :class:`PartitionBusyError` naming the run that holds it. ``owner``: who is writing (e.g. a Dagster run id),
    recorded for that message. Yields the lock file's path."""
    path = lock_path(data_root, asset, partition)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 (held open for the lock's lifetime, closed in finally)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except ValueError:
                holder = {}
            raise PartitionBusyError(f"{asset} {partition} under {data_root}", holder) from None
        handle.seek(0)
        handle.truncate()
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if owner:
            holder["owner"] = owner
        handle.write(json.dumps(holder))
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock
