"""Start ``dagster dev`` (webserver + daemon) on 127.0.0.1 for a test, talk GraphQL to it, and stop it leaving nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
RESTORE_SIGINT_AND_EXEC = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"

LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } } ... on PythonError { message } } } } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DagsterDev:
    """``dagster dev -w workspace.yaml -h 127.0.0.1`` in its own process group, with a temporary DAGSTER_HOME
    (the project's dagster.yaml) and the given environment. ``stop()`` ends the whole group: started from
    a script (no job control), ``dagster dev`` would not pass a signal on to its servers, so every process
    of the group gets SIGINT itself, as a terminal's Ctrl-C would send (measured: all gone in 5 s; SIGTERM
    left them running), then SIGTERM and SIGKILL if any is still there."""

    def __init__(
        self,
        home: Path,
        env: dict,
        log: Path,
        workspace: Path = PROJECT_ROOT / "workspace.yaml",
        location: str = "dhs",
    ):
        self.home, self.port, self.log_path, self.workspace, self.location = (
            home,
            free_port(),
            log,
            workspace,
            location,
        )
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(home)}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> float:
        """Start and wait until the code location is loaded; return the seconds that took."""
        start = time.monotonic()
        self.log = open(self.log_path, "w")  # noqa: SIM115 (the server's log for its lifetime, closed in stop)
        command = [str(DAGSTER), "dev", "-w", str(self.workspace), "-h", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            # a pytest-xdist worker ignores SIGINT, and an ignored signal stays ignored across exec: restore it, or
            # dagster dev never hears the Ctrl-C that stop() sends and every process waits for SIGKILL
            [sys.executable, "-c", RESTORE_SIGINT_AND_EXEC, *command],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited ({self.process.returncode}); see {self.log_path}")
            try:
                entries = self.graphql(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
                loaded = [e for e in entries if e["name"] == self.location and e["loadStatus"] == "LOADED"]
                if loaded:
                    location = loaded[0]["locationOrLoadError"]
                    if location["__typename"] != "RepositoryLocation":
                        raise RuntimeError(f"code location failed to load: {location}")
                    return time.monotonic() - start
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(1)
        raise TimeoutError(f"the code location did not load in {timeout} s; see {self.log_path}")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.load(response)
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def processes(self) -> list[int]:
        """Pids still alive in the server's process group."""
        if self.process is None:
            return []
        alive = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if (
                        os.getpgid(int(entry.name)) == self.process.pid
                        and "Z" not in (entry / "stat").read_text().split()[2]
                    ):
                        alive.append(int(entry.name))
                except (ProcessLookupError, FileNotFoundError, PermissionError):
                    continue
        return alive

    def rss_mb(self) -> float:
        """Resident memory of every process of the server's group, summed (MB)."""
        total = 0
        for pid in self.processes():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total / 1024

    def stop(self, grace: float = 30) -> None:
        """Ctrl-C as a user would: dagster dev shuts its services down; a code server that outlives it (it waits for a
        heartbeat) is then terminated, and anything still alive after that is killed."""
        if self.process is None:
            return
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            # after Ctrl-C, wait for dagster dev itself; after that, for every process of its group
            while time.monotonic() < deadline and (
                self.process.poll() is None if sig == signal.SIGINT else self.processes()
            ):
                time.sleep(0.5)
            if not self.processes():
                break
        self.process.wait(timeout=10)
        self.log.close()
