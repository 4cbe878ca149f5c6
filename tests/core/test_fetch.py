"""The fetch layer against a portal served on 127.0.0.1 that fails in every way the issue names; after each
scenario every file is byte-identical to the server's, or reported missing / failed, and never half written."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

from dhs_core.errors import ConfigError
from dhs_core.fetch import fetch
from dhs_core.survey.serve import SurveyServer
from tests.conftest import run_with_file_size_limit

FAST = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05, "timeout_s": 5.0}
SWEEP = "sweep/10.1/sweep-000m005-005p000.fits"
IMAGE = "coadd/000/0001m002/legacysurvey-0001m002-image-r.fits.fz"
BRICKS = "survey-bricks-dr10-south.fits.gz"


@pytest.fixture()
def portal(tmp_path):
    """A small survey root whose FITS files carry CHECKSUM/DATASUM, as DR10's do."""
    root = tmp_path / "portal"
    rng = np.random.default_rng(0)
    for relative, hdu in (
        (SWEEP, fits.BinTableHDU.from_columns([fits.Column("RA", "D", array=rng.uniform(0, 5, 20000))])),
        (IMAGE, fits.CompImageHDU(rng.normal(size=(300, 300)).astype(np.float32))),
    ):
        path = root / relative
        path.parent.mkdir(parents=True)
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, checksum=True)
    table = fits.BinTableHDU.from_columns(
        [fits.Column("brickname", "8A", array=np.array([f"{i:04d}p000" for i in range(5000)]))]
    )
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(root / BRICKS, checksum=True)  # gzipped by its name
    return root


def _same(portal, dest, relative) -> bool:
    return (dest / relative).read_bytes() == (portal / relative).read_bytes()


def _only_final_files(dest) -> list[str]:
    """Everything under dest but the fetch records; a .part left anywhere would be a half file."""
    return sorted(
        os.path.relpath(os.path.join(d, n), dest)
        for d, _, names in os.walk(dest)
        for n in names
        if not n.endswith(".fetched.json")
    )


def test_clean_fetch_then_a_rerun_fetches_nothing(portal, tmp_path):
    dest = tmp_path / "cache"
    with SurveyServer(portal) as server:
        first = fetch(server.url, [SWEEP, IMAGE, BRICKS], str(dest), **FAST).to_pylist()
        assert [r["status"] for r in first] == ["ok"] * 3 and all(r["attempts"] == 1 for r in first)
        assert first[0]["sha256"] == hashlib.sha256((portal / SWEEP).read_bytes()).hexdigest()
        assert first[0]["bytes"] == (portal / SWEEP).stat().st_size and first[0]["http_status"] == 200
        requests_before = len(server.requests)
        again = fetch(server.url, [SWEEP, IMAGE, BRICKS], str(dest), **FAST).to_pylist()
        assert len(server.requests) == requests_before  # complete files: no request at all
    assert [r["attempts"] for r in again] == [0, 0, 0] and [r["sha256"] for r in again] == [
        r["sha256"] for r in first
    ]
    assert all(_same(portal, dest, p) for p in (SWEEP, IMAGE, BRICKS)) and _only_final_files(dest) == sorted(
        [SWEEP, IMAGE, BRICKS]
    )


@pytest.mark.parametrize(
    "faults, attempts, first_range",
    [
        (["503"], 2, ""),  # 503 then success
        (["500", "502"], 3, ""),  # 5xx twice
        (["drop"], 2, "bytes="),  # connection dropped mid-body: the rest by Range
        (["short"], 2, "bytes="),  # body shorter than its Content-Length: resumed
        (["corrupt"], 2, ""),  # bytes corrupted once: checksum mismatch, fetched whole again
        (
            ["drop", "ignore-range"],
            2,
            "bytes=",
        ),  # asked to resume, the server ignores Range: the whole file, from byte 0
    ],
)
def test_transient_faults_are_retried_to_a_byte_identical_file(
    portal, tmp_path, faults, attempts, first_range
):
    dest = tmp_path / "cache"
    with SurveyServer(portal, faults={SWEEP: faults}) as server:
        (row,) = fetch(server.url, [SWEEP], str(dest), **FAST).to_pylist()
        ranges = [r for m, p, r in server.requests if p == SWEEP]
    assert row["status"] == "ok" and row["attempts"] == attempts, row
    assert _same(portal, dest, SWEEP) and _only_final_files(dest) == [SWEEP]
    assert ranges[1].startswith(first_range)


def test_retry_after_is_honoured_on_429(portal, tmp_path):
    with SurveyServer(portal, faults={BRICKS: ["429:1"]}) as server:
        start = time.monotonic()
        (row,) = fetch(
            server.url,
            [BRICKS],
            str(tmp_path / "cache"),
            backoff_base_s=0.0,
            backoff_cap_s=10.0,
            timeout_s=5.0,
        ).to_pylist()
        waited = time.monotonic() - start
    assert row["status"] == "ok" and row["attempts"] == 2 and waited >= 1.0


def test_404_is_a_coverage_gap_never_retried_and_other_4xx_fail_at_once(portal, tmp_path):
    gone = "coadd/123/1234p567/legacysurvey-1234p567-image-g.fits.fz"
    with SurveyServer(portal) as server:
        rows = fetch(server.url, [gone, SWEEP], str(tmp_path / "cache"), **FAST).to_pylist()
        assert [p for _, p, _ in server.requests].count(gone) == 1
    assert rows[0] == {
        "path": gone,
        "status": "missing",
        "http_status": 404,
        "bytes": None,
        "attempts": 1,
        "sha256": None,
        "error": "HTTP 404: not in the survey",
    }
    assert rows[1]["status"] == "ok"


def test_another_4xx_fails_without_retries(portal, tmp_path):
    with SurveyServer(portal, faults={BRICKS: ["403"]}) as server:
        (row,) = fetch(server.url, [BRICKS], str(tmp_path / "cache"), **FAST).to_pylist()
        assert len(server.requests) == 1
    assert (
        row["status"] == "failed"
        and row["attempts"] == 1
        and row["http_status"] == 403
        and "HTTP 403" in row["error"]
    )


def test_attempts_exhausted_and_a_server_past_the_timeout_fail(portal, tmp_path):
    with SurveyServer(portal, faults={SWEEP: ["503"] * 5, IMAGE: ["slow:2"] * 2}) as server:
        rows = fetch(
            server.url,
            [SWEEP, IMAGE],
            str(tmp_path / "cache"),
            attempts=3,
            backoff_base_s=0.01,
            backoff_cap_s=0.05,
            timeout_s=0.5,
        ).to_pylist()
    assert rows[0]["status"] == "failed" and rows[0]["attempts"] == 3 and rows[0]["http_status"] == 503
    assert "3 attempt(s): HTTP 503" in rows[0]["error"]
    assert (
        rows[1]["status"] == "ok" and rows[1]["attempts"] == 3
    )  # two reads timed out, the third came in time
    assert not (tmp_path / "cache" / SWEEP).exists() and _same(portal, tmp_path / "cache", IMAGE)


def test_a_checksum_that_stays_wrong_fails(portal, tmp_path):
    with SurveyServer(portal, faults={IMAGE: ["corrupt"] * 5}) as server:
        (row,) = fetch(server.url, [IMAGE], str(tmp_path / "cache"), attempts=3, **FAST).to_pylist()
    assert (
        row["status"] == "failed"
        and "FITS checksum mismatch" in row["error"]
        and IMAGE.split("/")[-1] in row["error"]
    )
    assert _only_final_files(tmp_path / "cache") == []


def test_a_killed_run_resumes_and_fetches_only_the_rest(portal, tmp_path):
    dest = tmp_path / "cache"
    with SurveyServer(portal, rate_bytes_s=200_000) as server:  # slow enough to kill mid-body
        script = (
            "from dhs_core.fetch import fetch\n"
            f"fetch({server.url!r}, [{BRICKS!r}, {SWEEP!r}], {str(dest)!r}, connections=1)\n"
        )
        process = subprocess.Popen([sys.executable, "-c", script])
        partial = dest / "sweep" / "10.1" / f".{os.path.basename(SWEEP)}.part"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (partial.exists() and partial.stat().st_size > 20_000):
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert partial.exists() and not (dest / SWEEP).exists()  # no partial file under the final name
        kept = partial.stat().st_size
        server.requests.clear()
        rows = fetch(server.url, [BRICKS, SWEEP], str(dest), **FAST).to_pylist()
        assert [(p, r) for _, p, r in server.requests] == [
            (SWEEP, f"bytes={kept}-")
        ]  # only the rest of the sweep
    assert [r["status"] for r in rows] == ["ok", "ok"] and rows[0]["attempts"] == 0
    assert (
        _same(portal, dest, SWEEP)
        and _same(portal, dest, BRICKS)
        and _only_final_files(dest) == sorted([BRICKS, SWEEP])
    )


def test_a_disk_full_style_write_error_names_the_file(portal, tmp_path):
    dest = tmp_path / "cache"
    with SurveyServer(portal) as server:
        run = run_with_file_size_limit(
            "from dhs_core.fetch import fetch\n"
            f"print(fetch({server.url!r}, [{SWEEP!r}], {str(dest)!r}, backoff_base_s=0.01).to_pylist()[0])\n",
            30_000,
            timeout_s=120,
        )
    assert run.returncode == 0, run.stderr
    row = eval(run.stdout)  # noqa: S307 - our own repr of a dict of plain values
    assert row["status"] == "failed" and row["attempts"] == 1
    assert f".{os.path.basename(SWEEP)}.part: cannot write (File too large)" in row["error"]
    assert not (dest / SWEEP).exists()


def test_paths_and_urls_are_checked():
    with pytest.raises(ConfigError, match="fetch path"):
        fetch("http://127.0.0.1:1", ["../etc/passwd"], "/tmp/x")
    with pytest.raises(ConfigError, match="fetch base_url"):
        fetch("ftp://example", ["a"], "/tmp/x")


def test_checksum_verification_agrees_with_astropy(portal, tmp_path):
    """The raw ones'-complement sums verify what astropy writes, and catch what astropy's own check catches."""
    import warnings

    from dhs_core.fetch import fits_checksum_problem

    for relative in (SWEEP, IMAGE, BRICKS):
        assert fits_checksum_problem(str(portal / relative), relative) is None
    raw = bytearray((portal / IMAGE).read_bytes())
    comment = raw.index(b"/ data unit checksum")  # a byte inside a comment: only CHECKSUM can see it
    raw[comment + 3] ^= 0x01
    bad = tmp_path / "bad.fits.fz"
    bad.write_bytes(bytes(raw))
    assert "CHECKSUM does not verify" in fits_checksum_problem(str(bad), bad.name)
    with warnings.catch_warnings(record=True) as caught, fits.open(bad, checksum=True) as hdul:
        warnings.simplefilter("always")
        [hdu.header for hdu in hdul]
    assert any("Checksum verification failed" in str(w.message) for w in caught)
    assert fits_checksum_problem(str(portal / SWEEP), "page.fits") is None
    (tmp_path / "page.fits").write_text("<html>Service unavailable</html>")
    assert "not a FITS file" in fits_checksum_problem(str(tmp_path / "page.fits"), "page.fits")
