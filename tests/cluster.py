"""A Dask distributed cluster on loopback for tests and benchmarks: a scheduler and worker processes of one thread
each, every one bound to 127.0.0.1, dashboards off; stopped (killed if need be) on exit."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 60


def _dask(*args: str) -> list[str]:
    return [os.path.join(os.path.dirname(sys.executable), "dask"), *args]


class LoopbackCluster:
    """``address`` of the scheduler, ``workers``: the worker processes (``subprocess.Popen``), so a test can kill
    one."""

    def __init__(self, folder: Path, n_workers: int):
        self.folder, self.n_workers = Path(folder), n_workers
        self.scheduler_file = self.folder / "scheduler.json"
        self.scheduler = None
        self.workers: list[subprocess.Popen] = []

    def start(self) -> LoopbackCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "scheduler.log", "wb") as log:  # the child keeps its own descriptor
            self.scheduler = subprocess.Popen(
                _dask(
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--no-show",
                    "--scheduler-file",
                    str(self.scheduler_file),
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        self.address = None
        while self.address is None:  # the file appears when the scheduler listens (read it whole)
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError(
                    f"the loopback Dask scheduler did not start: {self.folder / 'scheduler.log'}"
                )
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                self.address = json.loads(self.scheduler_file.read_text())["address"]
            time.sleep(0.1)
        for i in range(self.n_workers):
            self.add_worker(i)
        self.wait_for_workers(self.n_workers)
        return self

    def add_worker(self, i: int) -> subprocess.Popen:
        with open(self.folder / f"worker-{i}.log", "wb") as log:
            worker = subprocess.Popen(
                _dask(
                    "worker",
                    self.address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--name",
                    f"w{i}",
                    "--local-directory",
                    str(self.folder / f"w{i}"),
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT_S, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=START_TIMEOUT_S)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [*self.workers, self.scheduler]:
            if process is not None:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


@contextlib.contextmanager
def loopback_cluster(folder: Path, n_workers: int = 2):
    cluster = LoopbackCluster(folder, n_workers)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
