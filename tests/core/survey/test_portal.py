"""Phase 4c from a portal: the manifest's coadds fetched into a cache, stamps identical to a local run, and a brick
the portal does not have failing its rows as "not in the survey (404)", listed among the coverage gaps."""

import glob
import hashlib
import os
import shutil

import pyarrow.compute as pc

from dhs_core.fetch import FetchPolicy
from dhs_core.stamps.build import NOT_IN_SURVEY
from dhs_core.stamps.partition import StampsJob, write_stamps_partition
from dhs_core.stamps.read import read_stamps
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.plan import coadd_files, manifest_bricks
from dhs_core.survey.portal import coverage_gaps, fetch_coadds
from dhs_core.survey.serve import SurveyServer


def _digests(folder):
    return [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in sorted(glob.glob(os.path.join(folder, "part-*.parquet")))]


def test_stamps_from_a_portal_equal_a_local_run_and_name_the_gaps(small_sky, stamp_bank, make_manifest, tmp_path):
    manifest = make_manifest(small_sky, per_sweep=8)
    bricks = manifest_bricks(manifest["brickname"])
    local, _ = write_stamps_partition(manifest, StampsJob(str(small_sky), stamp_bank, workers=1), str(tmp_path / "local"), "s", "p")
    portal = shutil.copytree(small_sky, tmp_path / "portal")
    gone = bricks[-1]
    shutil.rmtree(SurveyLayout(str(portal)).coadd_dir(gone))  # the portal has no such brick
    cache = tmp_path / "cache"
    with SurveyServer(portal) as server:
        table = fetch_coadds(server.url, str(cache), bricks, FetchPolicy(backoff_base_s=0.01))
        assert table.num_rows == 7 * len(bricks)
        missing = table.filter(pc.equal(table["status"], "missing"))["path"].to_pylist()
        assert set(missing) == {p for p in coadd_files(bricks) if not (portal / p).exists()} >= set(coadd_files([gone]))
        requests = len(server.requests)
        fetch_coadds(server.url, str(cache), bricks[:-1], FetchPolicy())
        assert len(server.requests) == requests  # complete files are not fetched again
    folder, counts = write_stamps_partition(manifest, StampsJob(str(cache), stamp_bank, workers=1), str(tmp_path / "remote"), "s", "p")
    _, meta = read_stamps(folder, ["brickname", "status", "status_reason"])
    on_gone = meta.filter(pc.equal(meta["brickname"], gone))
    assert on_gone.num_rows == counts["not_in_survey"] > 0
    assert set(on_gone["status_reason"].to_pylist()) == {f"{NOT_IN_SURVEY} {gone}"} and set(on_gone["status"].to_pylist()) == {"failed"}
    if len(bricks) > 1:  # the bricks the portal has give the local run's stamps, bit for bit
        kept = [b for b in bricks if b != gone]
        _, here = read_stamps(local, ["task_id", "image"], f"brickname IN ({', '.join(repr(b) for b in kept)})")
        arrays_local, _ = read_stamps(local, ["image"], f"brickname IN ({', '.join(repr(b) for b in kept)})")
        arrays_remote, _ = read_stamps(folder, ["image"], f"brickname IN ({', '.join(repr(b) for b in kept)})")
        assert arrays_local["image"].tobytes() == arrays_remote["image"].tobytes() and here.num_rows > 0
    gaps = coverage_gaps(str(cache))
    assert set(gaps["file"].to_pylist()) == set(missing) and gone in set(gaps["brick"].to_pylist())
    assert set(gaps["http_status"].to_pylist()) == {404}
