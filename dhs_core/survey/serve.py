"""Serve a survey root over HTTP on the loopback interface, as the public portal serves DR10.

    with SurveyServer("data/mock_sky") as server:
        fetch(server.url, ["survey-bricks-dr10-south.fits.gz"], "cache")

It answers GET and HEAD with ``Content-Length``, ``Accept-Ranges`` and ``Range`` requests (206 with
``Content-Range``), 404 for a file that is not there. For ``make demo-http``, the tests and the benchmarks it can
also behave like a slow or failing portal: ``latency_s`` before every answer, ``rate_bytes_s`` per connection, and
``faults``: relative path -> a list of faults used up one request at a time:

==================== =====================================================================================
``"503"``, ``"404"`` that status (any), no body (``"503:2"`` or ``"429:2"``: with ``Retry-After: 2``)
``"drop"``           headers and half the body, then the connection closes
``"short"``          a ``Content-Length`` larger than the body it sends
``"ignore-range"``   the whole file with 200, whatever Range asked
``"slow:<s>"``       wait ``s`` seconds before answering
``"corrupt"``        the body with one byte changed in its middle
==================== =====================================================================================

It binds 127.0.0.1 only, on a free port unless one is given.
"""

from __future__ import annotations

import http.server
import os
import socket
import socketserver
import threading
import time
from collections import defaultdict
from urllib.parse import unquote, urlsplit

LOOPBACK = "127.0.0.1"


class SurveyServer:
    """A threaded HTTP server of ``root`` on 127.0.0.1 (see the module's docstring); a context manager."""

    def __init__(
        self,
        root: str,
        port: int = 0,
        latency_s: float = 0.0,
        rate_bytes_s: float | None = None,
        faults: dict[str, list[str]] | None = None,
    ):
        self.root = os.path.abspath(root)
        self.latency_s, self.rate_bytes_s = latency_s, rate_bytes_s
        self.faults = defaultdict(list, {k: list(v) for k, v in (faults or {}).items()})
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Range header) of every request
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _ThreadingServer((LOOPBACK, port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="dhs-survey-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._httpd.server_address[1]}"

    def start(self) -> SurveyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> SurveyServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def next_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def record(self, method: str, path: str, range_header: str) -> None:
        with self._lock:
            self.requests.append((method, path, range_header))


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    server_state: SurveyServer
    protocol_version = "HTTP/1.1"  # keep-alive, as a portal

    def setup(self):
        super().setup()
        # as web servers do (nginx's tcp_nodelay): without it the last small segment of each answer waits for
        # the client's delayed ACK, 40 ms a request on a keep-alive connection
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # quiet: the tests and benchmarks report what matters

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self._answer(body=False)

    def do_GET(self):  # noqa: N802
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        state = self.server_state
        relative = unquote(urlsplit(self.path).path).lstrip("/")
        state.record(self.command, relative, self.headers.get("Range", ""))
        if state.latency_s:
            time.sleep(state.latency_s)
        fault = state.next_fault(relative)
        if fault and fault.startswith("slow:"):
            time.sleep(float(fault.split(":")[1]))
            fault = None
        if fault and fault.split(":")[0].isdigit():  # an HTTP status, e.g. 503, 429:2, 404
            status, _, after = fault.partition(":")
            self.send_response(int(status))
            if after:
                self.send_header("Retry-After", after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = os.path.realpath(os.path.join(state.root, relative))
        if not path.startswith(state.root + os.sep) or not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(path)
        start, end = 0, size - 1
        ranged = self.headers.get("Range", "")
        partial = ranged.startswith("bytes=") and fault != "ignore-range"
        if partial:
            first, _, last = ranged[6:].partition("-")
            start, end = int(first or 0), (int(last) if last else size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        length = end - start + 1
        self.send_response(206 if partial else 200)
        self.send_header("Accept-Ranges", "bytes")
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not body:
            return
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(length)
        if fault == "corrupt":
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        if fault in ("drop", "short"):
            self._send(data[: len(data) // 2])
            self.close_connection = True
            return
        self._send(data)

    def _send(self, data: bytes) -> None:
        rate = self.server_state.rate_bytes_s
        step = 64 * 1024
        started = time.monotonic()
        for offset in range(0, len(data), step):
            self.wfile.write(data[offset : offset + step])
            if rate:  # pace this connection: never ahead of rate bytes per second
                ahead = (offset + step) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
