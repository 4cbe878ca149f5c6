"""Fetch survey files from an HTTP(S) portal into a local cache: bounded parallel connections, retries with
capped exponential backoff and jitter, resume by ``Range``, integrity checks, never a half file under its name.

    table = fetch("https://portal/.../dr10/south", ["survey-bricks-dr10-south.fits.gz"], "/cache/dr10/south")

Each path lands at ``dest/<path>``. Per path, one output row: ``path``, ``status`` (``ok`` | ``missing`` |
``failed``), ``http_status`` (the last answer; null when none came), ``bytes`` (of the file in the cache),
``attempts`` (requests made; 0 for a file already complete), ``sha256``, ``error``.

* ``missing``: the server says the file does not exist (404, 410): a coverage gap, recorded, not retried.
* ``failed``: attempts exhausted on connection errors, timeouts, short bodies, 5xx or 429, or a checksum that
  stays wrong; or another 4xx (not retried); or a local write error (disk full), named with the file.
* Backoff before attempt k + 1: ``min(cap, base * 2**(k-1))`` seconds times a jitter in [0.75, 1.25) drawn from
  the path and k (reproducible); a ``Retry-After`` on 429/503 is honoured instead (at most ``backoff_cap_s``).
* Resume: the bytes of an interrupted attempt (or run) stay in ``dest/<dir>/.<name>.part`` and the next request
  asks for the rest (``Range: bytes=<n>-``); a server that answers 200 instead of 206 sends the whole file and
  the download restarts from its first byte.
* Integrity: the size is checked against ``Content-Length`` (``Content-Range``'s total for a resume); a FITS
  file that carries ``CHECKSUM``/``DATASUM`` keywords has them verified (astropy), a mismatch is fetched again
  from scratch (then ``failed``). Only then is the file renamed to its name and its size and SHA-256 recorded
  beside it (``.<name>.fetched.json``), so a re-run skips complete files without a request. A file the portal does
  not have is recorded as ``.<name>.missing`` (status and time): the coverage gaps, which readers can name.

HTTP client: ``requests`` over ``urllib3`` (one keep-alive connection per worker thread, ``connections`` threads):
the most used Python HTTP stack, already a dependency of Dagster, with streaming bodies and exact control of
headers and retries (its own retry layer is off: the policy above is dhs's). Threads, not asyncio: the work per
byte is I/O and hashing, which release the GIL.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import requests
from requests.adapters import HTTPAdapter

from dhs_core.errors import ConfigError, InputFileError
from dhs_core.tables import write_file

STATUSES = ("ok", "missing", "failed")
GONE = (404, 410)
RETRY_STATUSES = (429, 500, 502, 503, 504)
CHUNK_BYTES = 1 << 16  # a dropped connection loses at most this much of what came
FETCH_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("status", pa.string()),
        ("http_status", pa.int32()),
        ("bytes", pa.int64()),
        ("attempts", pa.int32()),
        ("sha256", pa.string()),
        ("error", pa.string()),
    ]
)


@dataclass(frozen=True)
class FetchPolicy:
    """Connections (parallel downloads), attempts per file, backoff base and cap (s), timeout (s) of a connect and
    of each read; see the module's docstring."""

    connections: int = 8
    attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    timeout_s: float = 180.0

    def __post_init__(self):
        if self.connections < 1 or self.attempts < 1:
            raise ConfigError("fetch connections/attempts", (self.connections, self.attempts), ">= 1 each")
        if not (self.backoff_base_s >= 0 and self.backoff_cap_s >= 0 and self.timeout_s > 0):
            raise ConfigError(
                "fetch backoff/timeout",
                (self.backoff_base_s, self.backoff_cap_s, self.timeout_s),
                "backoff >= 0 s, timeout > 0 s",
            )

    def backoff(self, path: str, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) of ``path``."""
        jitter = random.Random(f"{path}#{attempt}").uniform(0.75, 1.25)
        return min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1)) * jitter


def fetch(
    base_url: str,
    paths: list[str],
    dest: str,
    *,
    connections: int = 8,
    attempts: int = 5,
    backoff_base_s: float = 1.0,
    backoff_cap_s: float = 60.0,
    timeout_s: float = 180.0,
) -> pa.Table:
    """Fetch ``base_url/<path>`` for every relative ``path`` into ``dest/<path>``; one row per path, in order (see
    the module's docstring for the columns, the statuses and the policy)."""
    policy = FetchPolicy(connections, attempts, backoff_base_s, backoff_cap_s, timeout_s)
    return Fetcher(base_url, dest, policy).fetch(paths)


def fetch_bytes(
    url: str, policy: FetchPolicy = FetchPolicy(), sleep: Callable[[float], None] = time.sleep
) -> bytes:
    """The body of one GET of ``url`` (a small answer, e.g. a cutout), with the policy's attempts, backoff and
    ``Retry-After`` on connection errors, timeouts, 429 and 5xx; another status is not retried. An error naming the
    URL, the last status and the attempts when no attempt succeeded."""
    error = ""
    for attempt in range(1, policy.attempts + 1):
        wait = policy.backoff(url, attempt)
        try:
            response = requests.get(url, timeout=policy.timeout_s)
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                return response.content
            error = f"HTTP {response.status_code}"
            if response.status_code not in RETRY_STATUSES:
                break
            wait = _retry_after(response.headers.get("Retry-After"), policy.backoff_cap_s) or wait
        if attempt < policy.attempts:
            sleep(wait)
    raise InputFileError(url, f"the request failed after {attempt} attempt(s): {error}")


class Fetcher:
    """:func:`fetch` with a progress callback: ``progress(done_files, total_files, bytes_so_far)`` after each file."""

    def __init__(
        self,
        base_url: str,
        dest: str,
        policy: FetchPolicy = FetchPolicy(),
        progress: Callable[[int, int, int], None] | None = None,
    ):
        if not str(base_url).startswith(("http://", "https://")):
            raise ConfigError("fetch base_url", base_url, "an http:// or https:// URL")
        self.base_url, self.dest, self.policy, self.progress = (
            str(base_url).rstrip("/"),
            str(dest),
            policy,
            progress,
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._done, self._bytes = 0, 0

    def fetch(self, paths: list[str]) -> pa.Table:
        for path in paths:
            _check_relative(path)
        total = len(paths)
        self._done, self._bytes = 0, 0
        with ThreadPoolExecutor(
            max_workers=min(self.policy.connections, max(total, 1)), thread_name_prefix="dhs-fetch"
        ) as pool:
            rows = list(pool.map(lambda p: self._one(p, total), paths))
        return pa.Table.from_pylist(rows, schema=FETCH_SCHEMA)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        return session

    def _one(self, path: str, total: int) -> dict:
        row = self._download(path)
        with self._lock:
            self._done += 1
            self._bytes += row["bytes"] or 0
            done, fetched = self._done, self._bytes
        if self.progress:
            self.progress(done, total, fetched)
        return row

    def _download(self, path: str) -> dict:
        final = os.path.join(self.dest, *path.split("/"))
        folder, name = os.path.split(final)
        partial = os.path.join(folder, f".{name}.part")
        record_path = os.path.join(folder, f".{name}.fetched.json")
        complete = _complete_record(final, record_path)
        if complete:
            return _row(path, "ok", None, complete["bytes"], 0, complete["sha256"], None)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            return _row(path, "failed", None, None, 0, None, f"{folder}: {exc.strerror or exc}")
        http_status, error, attempt = None, None, 0
        while attempt < self.policy.attempts:
            attempt += 1
            outcome = self._attempt(path, partial)
            http_status, error = outcome.http_status, outcome.error
            if outcome.status == "missing":
                _remove(partial)
                _write_json(
                    missing_marker(final),
                    {"http_status": http_status, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                )
                return _row(path, "missing", http_status, None, attempt, None, error)
            if outcome.status == "done":
                problem = fits_checksum_problem(partial, name)
                if problem is None:
                    try:
                        digest, size = _sha256(partial), os.path.getsize(partial)
                        os.replace(partial, final)
                        _write_json(record_path, {"bytes": size, "sha256": digest})
                        _remove(missing_marker(final))  # there now, whatever an earlier run was told
                    except OSError as exc:
                        return _row(
                            path,
                            "failed",
                            http_status,
                            None,
                            attempt,
                            None,
                            f"{final}: {exc.strerror or exc}",
                        )
                    return _row(path, "ok", http_status, size, attempt, digest, None)
                _remove(partial)  # corrupted in transit (or at the source): fetch it whole again
                error = f"{final}: {problem}"
            elif outcome.status == "fatal":
                return _row(path, "failed", http_status, None, attempt, None, error)
            if attempt < self.policy.attempts:
                time.sleep(
                    outcome.retry_after
                    if outcome.retry_after is not None
                    else self.policy.backoff(path, attempt)
                )
        return _row(path, "failed", http_status, None, attempt, None, f"{attempt} attempt(s): {error}")

    def _attempt(self, path: str, partial: str) -> _Outcome:
        have = os.path.getsize(partial) if os.path.exists(partial) else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        url = f"{self.base_url}/{path}"
        try:
            with self._session().get(
                url, headers=headers, stream=True, timeout=self.policy.timeout_s
            ) as response:
                status = response.status_code
                if status in GONE:
                    return _Outcome("missing", status, f"HTTP {status}: not in the survey")
                if status == 416:  # our part is not a prefix of the file any more: start again
                    _remove(partial)
                    return _Outcome("retry", status, "HTTP 416: range not satisfiable, restarting")
                if status in RETRY_STATUSES or 500 <= status < 600:
                    after = (
                        _retry_after(response.headers.get("Retry-After"), self.policy.backoff_cap_s)
                        if status in (429, 503)
                        else None
                    )
                    return _Outcome("retry", status, f"HTTP {status}", after)
                if status not in (200, 206):
                    return _Outcome("fatal", status, f"HTTP {status} for {url}")
                start, expected = _span(response, have)
                if start is None:
                    return _Outcome(
                        "retry", status, f"HTTP 206 with a Content-Range that does not start at byte {have}"
                    )
                return self._body(response, partial, start, expected, status)
        except requests.RequestException as exc:  # connection refused or reset, timeouts
            return _Outcome("retry", None, f"{type(exc).__name__}: {exc}")

    def _body(self, response, partial: str, start: int, expected: int | None, status: int) -> _Outcome:
        try:
            with open(partial, "r+b" if start and os.path.exists(partial) else "wb") as handle:
                handle.seek(start)
                handle.truncate()
                for chunk in response.iter_content(CHUNK_BYTES):
                    handle.write(chunk)
        except requests.RequestException as exc:  # before OSError: requests' errors are OSErrors too
            return _Outcome(
                "retry",
                status,
                f"connection lost mid-body after {os.path.getsize(partial)} bytes ({type(exc).__name__})",
            )
        except OSError as exc:  # a local write error (disk full): retrying will not help
            return _Outcome("fatal", status, f"{partial}: cannot write ({exc.strerror or exc})")
        size = os.path.getsize(partial)
        if expected is not None and size != expected:
            return _Outcome("retry", status, f"body ended at {size} of {expected} bytes")
        return _Outcome("done", status, None)


@dataclass(frozen=True)
class _Outcome:
    status: str  # done | missing | retry | fatal
    http_status: int | None
    error: str | None
    retry_after: float | None = None


def _row(path, status, http_status, size, attempts, digest, error) -> dict:
    return {
        "path": path,
        "status": status,
        "http_status": http_status,
        "bytes": size,
        "attempts": attempts,
        "sha256": digest,
        "error": error,
    }


def _check_relative(path: str) -> None:
    parts = str(path).split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ConfigError("fetch path", path, "a relative survey path without '.', '..' or empty parts")


def _span(response, have: int) -> tuple[int | None, int | None]:
    """``(first byte the body starts at, total size of the file)``: 0 and Content-Length for a 200 (a server that
    ignores Range sends it whole), the Content-Range of a 206 (None if it does not start at ``have``)."""
    if response.status_code == 200:
        length = response.headers.get("Content-Length")
        return 0, int(length) if length is not None else None
    value = response.headers.get("Content-Range", "")  # bytes first-last/total
    try:
        first = int(value.split()[1].split("-")[0])
        total = value.split("/")[1]
    except (IndexError, ValueError):
        return None, None
    if first != have:
        return None, None
    return first, (int(total) if total != "*" else None)


def _retry_after(value: str | None, cap: float) -> float | None:
    """Seconds of a ``Retry-After`` (delta seconds or an HTTP date), at most ``cap``; None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, cap))


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete_record(final: str, record_path: str) -> dict | None:
    """The recorded size and digest of a file already fetched whole, if the file still has that size."""
    try:
        with open(record_path) as handle:
            record = json.load(handle)
        return record if os.path.getsize(final) == record["bytes"] and record.get("sha256") else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_json(path: str, record: dict) -> None:
    write_file(json.dumps(record).encode(), path)


def missing_marker(path: str) -> str:
    """Where the cache records that the survey does not have ``path`` (a 404 / 410): ``.<name>.missing`` beside it."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.missing")


def not_in_survey(path: str) -> dict | None:
    """The record (``http_status``, ``time``) of a file the portal said it does not have, or None."""
    try:
        with open(missing_marker(path)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


FITS_SUFFIXES = (".fits", ".fits.fz", ".fits.gz")
BLOCK = 2880  # bytes of a FITS record


def fits_checksum_problem(path: str, name: str) -> str | None:
    """Why a downloaded FITS file (``name`` ends in .fits, .fits.fz or .fits.gz) fails its own ``CHECKSUM`` /
    ``DATASUM`` keywords, or None (also for an HDU that carries none).

    The FITS checksum convention (Seaman et al. 2002, as astropy and CFITSIO write it): ``DATASUM`` is the 32-bit
    ones'-complement sum of the HDU's data records, and the sum over its header and data records, ``CHECKSUM``
    included, is all ones. Summed here on the raw bytes (numpy, 64 MB at a time), so a compressed image is checked
    without being decompressed. A body that is not FITS at all (an error page, a truncated file) is a problem too."""
    if not name.endswith(FITS_SUFFIXES):
        return None
    import gzip
    import mmap

    with open(path, "rb") as handle:
        if name.endswith(".gz"):
            try:
                data = memoryview(gzip.decompress(handle.read()))
            except (OSError, EOFError) as exc:
                return f"not a readable gzip file ({exc})"
        else:
            if os.fstat(handle.fileno()).st_size == 0:
                return "empty file, not FITS"
            data = memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
    if bytes(data[:9]) != b"SIMPLE  =":
        return "not a FITS file (no SIMPLE card at its start)"
    offset, index = 0, 0
    while offset < len(data):
        header = _header(data, offset)
        if header is None:
            return f"HDU {index}: header without END (truncated?)"
        cards, header_bytes = header
        try:
            end = offset + header_bytes + _padded(_data_bytes(cards))
        except ValueError as exc:  # a corrupted size card
            return f"HDU {index}: unreadable header ({exc})"
        if end > len(data):
            return f"HDU {index}: {len(data)} bytes, the headers promise {end} (truncated)"
        datasum = _ones_complement_sum(data[offset + header_bytes : end])
        if "DATASUM" in cards and cards["DATASUM"].strip("' ") not in ("", str(datasum)):
            recorded = cards["DATASUM"].strip("' ")
            return f"FITS checksum mismatch (HDU {index}: DATASUM {recorded} but the data sum to {datasum})"
        if (
            "CHECKSUM" in cards
            and _fold(_ones_complement_sum(data[offset : offset + header_bytes]) + datasum) != 0xFFFFFFFF
        ):
            return f"FITS checksum mismatch (HDU {index}: CHECKSUM does not verify)"
        offset, index = end, index + 1
    return None


def _header(data, offset: int) -> tuple[dict, int] | None:
    """The cards (keyword -> raw value text) of the header at ``offset`` and its length in bytes (whole records)."""
    cards, position = {}, offset
    while position + BLOCK <= len(data):
        block = bytes(data[position : position + BLOCK]).decode("ascii", "replace")
        position += BLOCK
        for i in range(0, BLOCK, 80):
            card = block[i : i + 80]
            keyword = card[:8].strip()
            if keyword == "END":
                return cards, position - offset
            if card[8:10] == "= ":
                cards[keyword] = card[10:].split(" /")[0].strip()
    return None


def _data_bytes(cards: dict) -> int:
    naxis = int(cards.get("NAXIS", 0))
    if naxis == 0:
        return 0
    count = 1
    for axis in range(1, naxis + 1):
        count *= int(cards.get(f"NAXIS{axis}", 0))
    return (
        abs(int(cards.get("BITPIX", 8)))
        // 8
        * int(cards.get("GCOUNT", 1))
        * (int(cards.get("PCOUNT", 0)) + count)
    )


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _ones_complement_sum(data) -> int:
    """32-bit ones'-complement sum of big-endian words (the length is a multiple of 4: FITS records are)."""
    total, step = 0, 1 << 26
    for start in range(0, len(data), step):
        words = np.frombuffer(data[start : start + step], dtype=">u4")
        total += int(words.sum(dtype=np.uint64))
    return _fold(total)


def _fold(value: int) -> int:
    while value >> 32:
        value = (value & 0xFFFFFFFF) + (value >> 32)
    return value
