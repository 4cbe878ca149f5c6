"""Stamps work units on a Dask cluster on loopback (a scheduler and two one-thread workers on 127.0.0.1): the same
bytes as the local run, also when a worker is killed mid-run; a unit that keeps failing fails the partition with its
file named and the old partition kept; an unreachable scheduler named."""

import glob
import hashlib
import os
import shutil
import signal

import pytest

from dhs_core.cluster import ClusterError, dask_executor
from dhs_core.errors import InputFileError
from dhs_core.stamps.partition import StampsJob, write_stamps_partition
from dhs_core.survey.layout import SurveyLayout
from tests.cluster import loopback_cluster


def _digests(folder):
    return {
        os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest()
        for p in sorted(glob.glob(f"{folder}/*"))
    }


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with loopback_cluster(tmp_path_factory.mktemp("dask"), n_workers=2) as running:
        assert running.address.startswith("tcp://127.0.0.1:")
        yield running


def test_units_on_the_cluster_write_the_local_bytes_even_when_a_worker_dies(
    cluster, small_sky, stamp_bank, make_manifest, tmp_path
):
    manifest = make_manifest(small_sky)
    job = StampsJob(
        str(small_sky), stamp_bank, workers=2, unit_tasks=1, rows_per_group=16
    )  # a unit per brick
    local, counts = write_stamps_partition(manifest, job, str(tmp_path / "local"), "injected_stamps", "p")
    with dask_executor(cluster.address) as pool:
        remote, remote_counts = write_stamps_partition(
            manifest, job, str(tmp_path / "dask"), "injected_stamps", "p", pool=pool
        )
    assert _digests(remote) == _digests(local) and len(_digests(local)) >= 4 and remote_counts == counts

    victim = cluster.workers[0]
    killed = []

    def kill_once(message):  # after the first unit: the others are running or queued
        if not killed:
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(message)

    with dask_executor(cluster.address) as pool:
        survived, _ = write_stamps_partition(
            manifest, job, str(tmp_path / "killed"), "injected_stamps", "p", log=kill_once, pool=pool
        )
    assert killed and victim.wait(timeout=30) == -signal.SIGKILL
    assert _digests(survived) == _digests(local)  # every unit rerun elsewhere, none twice, no leftover
    assert os.listdir(tmp_path / "killed" / ".staging" / "injected_stamps") == ["p.lock"]
    cluster.add_worker(9)  # back to two workers for the module's other tests
    cluster.wait_for_workers(2)


def test_a_unit_that_keeps_failing_fails_the_partition_naming_its_file(
    cluster, small_sky, stamp_bank, make_manifest, tmp_path
):
    sky = shutil.copytree(small_sky, tmp_path / "sky")
    manifest = make_manifest(sky, per_sweep=5)
    job = StampsJob(str(sky), stamp_bank, workers=2)
    folder, _ = write_stamps_partition(manifest, job, str(tmp_path), "injected_stamps", "p")
    before = _digests(folder)
    path = SurveyLayout(str(sky)).coadd_path(manifest["brickname"][0].as_py(), "invvar", "z")
    os.truncate(path, 5000)
    with (
        dask_executor(cluster.address, retries=1) as pool,
        pytest.raises(InputFileError, match=os.path.basename(path)),
    ):
        write_stamps_partition(manifest, job, str(tmp_path), "injected_stamps", "p", pool=pool)
    assert _digests(folder) == before  # the old partition stays, nothing half written is visible


def test_an_unreachable_scheduler_is_named():
    with (
        pytest.raises(ClusterError, match=r"tcp://127.0.0.1:9: cannot connect"),
        dask_executor("tcp://127.0.0.1:9", timeout_s=2),
    ):
        pass
