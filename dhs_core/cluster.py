"""Where work units run: the local worker processes (default) or a Dask distributed cluster given by its scheduler
address. Both are a ``concurrent.futures.Executor``, so the code that submits units (``dhs_core.stamps.partition
.publish_units``) is the same for both, and so are the files: a unit writes its own Parquet part, under a temporary
name then renamed, into the run's staging folder, which must be on storage the workers share (a cluster file system,
or the same machine); under an ``s3://`` data root it puts the part in the bucket itself (``dhs_core.storage``), and
the workers share no disk.

A unit's log records (the ``dhs`` logger: each unit says where it ran and how long it took) are forwarded from the
workers to the process that submitted it, where Dagster puts them in the run's log (``dagster_home/dagster.yaml``
manages the ``dhs`` logger).

Faults are Dask's own: a worker that dies mid-unit has its unit run again on another worker (the part is written
whole or not at all, so nothing is written twice); a unit whose function raises is retried ``retries`` times, then
its error (naming its brick) fails the run; an unreachable scheduler is an error naming the address.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

from dhs_core.errors import DhsError

LOGGER = "dhs"  # the logger of work units, forwarded from a cluster's workers
logging.getLogger(LOGGER).setLevel(logging.INFO)  # a unit's records are INFO: kept, for whoever handles them
DEFAULT_RETRIES = 2  # reruns of a unit whose function raised (a lost worker's units are rerun regardless)
CONNECT_TIMEOUT_S = 10.0


class ClusterError(DhsError, ConnectionError):
    """A Dask scheduler that cannot be reached (its address is the bad value)."""

    def __init__(self, address: str, reason: str):
        self.address = address
        super().__init__(f"Dask scheduler {address}: {reason}")


@contextlib.contextmanager
def dask_executor(
    address: str, retries: int = DEFAULT_RETRIES, timeout_s: float = CONNECT_TIMEOUT_S
) -> Iterator[Executor]:
    """An executor on the Dask cluster whose scheduler is at ``address`` (``tcp://host:8786``): each submitted
    call one task, not cached by value (``pure=False``: a unit writes a file), retried ``retries`` times if it
    raises. Connection is bounded by ``timeout_s``."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(address, f"cannot connect ({type(exc).__name__}: {exc})") from None
    try:
        client.forward_logging(LOGGER, level=logging.INFO)
        yield client.get_executor(pure=False, retries=retries)
    finally:
        client.close()


def run_unit(name: str, function: Callable, *args):
    """Run one work unit ``function(*args)`` and log, on the ``dhs`` logger, where (host, process) and in how many
    seconds it ran; return its result."""
    start = time.perf_counter()
    result = function(*args)
    logging.getLogger(LOGGER).info(
        "%s: written in %.1f s on %s (process %d)",
        name,
        time.perf_counter() - start,
        socket.gethostname(),
        os.getpid(),
    )
    return result
