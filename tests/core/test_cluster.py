"""Stamps work units on a Dask cluster on loopback (a scheduler and two one-thread workers on 127.0.0.1): the same
bytes as the local run, also when a worker is killed mid-run, and also with the data root in an S3 bucket (moto's
server on 127.0.0.1) that the workers read and write themselves; a unit that keeps failing fails the partition with
its file named and the old partition kept; an unreachable scheduler named."""

import dataclasses
import glob
import logging
import os
import shutil
import signal
from pathlib import Path

import pytest

from dhs_core import storage
from dhs_core.cluster import LOGGER, ClusterError, dask_executor
from dhs_core.errors import InputFileError
from dhs_core.stamps.cutouts import write_cutouts_partition
from dhs_core.stamps.partition import StampsJob, write_stamps_partition
from dhs_core.stamps.read import stamp_files
from dhs_core.survey.cutout_sources import LocalCoadds
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import partition_files, write_file
from tests.cluster import loopback_cluster
from tests.digests import file_digests, object_digests
from tests.s3 import BUCKET, object_keys


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with loopback_cluster(tmp_path_factory.mktemp("dask"), n_workers=2) as running:
        assert running.address.startswith("tcp://127.0.0.1:")
        yield running


def test_units_on_the_cluster_write_the_local_bytes_even_when_a_worker_dies(
    cluster, small_sky, stamp_bank, make_manifest, tmp_path, caplog
):
    manifest = make_manifest(small_sky)
    job = StampsJob(
        str(small_sky), stamp_bank, workers=2, unit_tasks=1, rows_per_group=16
    )  # a unit per brick
    local, counts = write_stamps_partition(manifest, job, str(tmp_path / "local"), "injected_stamps", "p")
    caplog.set_level(logging.INFO, logger=LOGGER)
    caplog.clear()
    with dask_executor(cluster.address) as pool:
        remote, remote_counts = write_stamps_partition(
            manifest, job, str(tmp_path / "dask"), "injected_stamps", "p", pool=pool
        )
    assert (
        file_digests(remote, "*") == file_digests(local, "*")
        and len(file_digests(local, "*")) >= 4
        and remote_counts == counts
    )
    # each unit's record came from a worker process to this one
    workers = {w.pid for w in cluster.workers}
    units = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.process in workers]
    assert sorted(u.split(":")[0] for u in units) == [
        f"injected_stamps/p/{n}" for n in sorted(file_digests(local, "*"))
    ]

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
    assert file_digests(survived, "*") == file_digests(
        local, "*"
    )  # every unit rerun elsewhere, none twice, no leftover
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
    before = file_digests(folder, "*")
    path = SurveyLayout(str(sky)).coadd_path(manifest["brickname"][0].as_py(), "invvar", "z")
    os.truncate(path, 5000)
    with (
        dask_executor(cluster.address, retries=1) as pool,
        pytest.raises(InputFileError, match=os.path.basename(path)),
    ):
        write_stamps_partition(manifest, job, str(tmp_path), "injected_stamps", "p", pool=pool)
    assert file_digests(folder, "*") == before  # the old partition stays, nothing half written is visible


def test_an_unreachable_scheduler_is_named():
    with (
        pytest.raises(ClusterError, match=r"tcp://127.0.0.1:9: cannot connect"),
        dask_executor("tcp://127.0.0.1:9", timeout_s=2),
    ):
        pass


def test_with_an_s3_data_root_workers_read_and_write_the_bucket_and_a_killed_worker_changes_nothing(
    cluster, s3, small_sky, stamp_bank, make_manifest, tmp_path
):
    endpoint, client = s3
    store = storage.ObjectStore(f"s3://{BUCKET}/run", endpoint)
    manifest = make_manifest(small_sky)
    galaxies = manifest.group_by(["row_id", "brickname"]).aggregate([("ra", "min"), ("dec", "min")])
    galaxies = galaxies.rename_columns(["row_id", "brickname", "ra", "dec"])
    source = LocalCoadds(SurveyLayout(str(small_sky)))
    job = StampsJob(str(small_sky), stamp_bank, workers=2, unit_tasks=1, rows_per_group=16)
    local = str(tmp_path / "local")
    cache, _ = write_cutouts_partition(source, galaxies, local, "galaxy_cutouts", "p", unit_galaxies=1)
    stamps, counts = write_stamps_partition(
        manifest,
        dataclasses.replace(job, cutout_cache=tuple(stamp_files(cache))),
        local,
        "injected_stamps",
        "p",
    )

    root = str(tmp_path / "cache")
    victim, killed = next(w for w in cluster.workers if w.poll() is None), []

    def kill_once(message):  # after the first unit: the others are running or queued
        if not killed:
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(message)

    with storage.mounted(root, store), dask_executor(cluster.address) as pool:
        write_file(Path(stamp_bank).read_bytes(), os.path.join(root, "source_bank", "all", "bank.h5"))
        write_cutouts_partition(source, galaxies, root, "galaxy_cutouts", "p", unit_galaxies=1, pool=pool)
        remote_job = dataclasses.replace(
            job,
            bank_path=storage.partition_urls(store, "source_bank", "all", ".h5")[0],
            cutout_cache=tuple(partition_files(root, "galaxy_cutouts", "p")),
            store=store,
        )
        assert all(f.startswith("s3://") for f in remote_job.cutout_cache)
        _, remote_counts = write_stamps_partition(
            manifest, remote_job, root, "injected_stamps", "p", log=kill_once, pool=pool
        )
    assert killed and victim.wait(timeout=30) == -signal.SIGKILL and remote_counts == counts
    published = {a: storage.marker(store, a, "p") for a in ("galaxy_cutouts", "injected_stamps")}
    assert object_digests(client, published["galaxy_cutouts"], "*") == file_digests(cache, "*")
    assert object_digests(client, published["injected_stamps"], "*") == file_digests(stamps, "*")
    # nothing outside the published partitions is left in the bucket, and no part on the driver's disk
    listed = {e["key"] for files in published.values() for e in files.values()}
    bank = storage.marker(store, "source_bank", "all")["bank.h5"]["key"]
    markers = {f"run/{a}/p/_published.json" for a in published} | {"run/source_bank/all/_published.json"}
    assert set(object_keys(client, prefix="run/")) == listed | markers | {bank}
    assert not glob.glob(f"{root}/**/part-*.parquet", recursive=True)
    cluster.add_worker(8)  # back to two workers for the module's other tests
    cluster.wait_for_workers(2)
