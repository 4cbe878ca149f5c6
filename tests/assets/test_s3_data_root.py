"""An s3:// data root through Dagster (moto's S3 server and a Dask cluster, all on 127.0.0.1): the cutout cache and
the stamps of a partition are built by workers that read and write the bucket, with the bytes of the local run; a
fresh machine reads them from the bucket; nothing outside the published partitions is left in it."""

import glob
import os
import shutil

import yaml
from dagster import DagsterInstance

from dhs_assets.cli import demo_resources
from dhs_assets.datasets.sensors import register_specs
from dhs_assets.resources import (
    DataRoot,
    LensCatalogs,
    SurveyRoot,
    WorkUnits,
    build_resources,
    default_resources,
)
from dhs_core import storage
from dhs_core.tables import read_table
from tests.assets.datasets import write_spec
from tests.assets.runs import catalog_phases, run_assets
from tests.cluster import loopback_cluster
from tests.conftest import PROJECT_ROOT
from tests.digests import file_digests, object_digests
from tests.s3 import BUCKET, object_keys

BUILT_ON_THE_CLUSTER = ("galaxy_cutouts", "injected_stamps")
SPEC = "selection_sets: [topk_density]\nmanifest: {n_galaxies: 30}"


def test_the_stamps_of_a_partition_on_a_cluster_and_a_bucket_are_the_local_bytes(
    s3, small_sky, tmp_path, instance
):
    endpoint, client = s3
    local = tmp_path / "local"
    resources = build_resources(local, small_sky)
    catalog_phases(instance, resources)
    run_assets(
        instance,
        resources,
        ["source_bank"],
        run_config={"ops": {"source_bank": {"config": {"n_generated": 30}}}},
    )
    write_spec(local, "one", SPEC)
    register_specs(instance, local)
    run_assets(instance, resources, ["injection_manifest"], "one|train")
    run_assets(instance, resources, ["galaxy_cutouts"], "train")
    run_assets(instance, resources, ["injected_stamps"], "one|train")

    # a machine with the upstream partitions publishes them to the bucket, as their runs there would have
    uri = f"s3://{BUCKET}/team/run1"
    store = storage.ObjectStore(uri, endpoint)
    upstream = tmp_path / "upstream"
    shutil.copytree(local, upstream, ignore=shutil.ignore_patterns(".staging", *BUILT_ON_THE_CLUSTER))
    for folder in sorted(glob.glob(f"{upstream}/*/*")):
        asset, partition = folder.split(os.sep)[-2:]
        if asset == "datasets":
            storage.upload(store, folder, store.key(asset, partition))
        else:
            storage.publish_folder(store, folder, asset, partition)

    # the cluster's run: an empty cache, the work units on two workers reading and writing the bucket
    with loopback_cluster(tmp_path / "dask", n_workers=2) as cluster:
        remote = build_resources(
            DataRoot(path=str(tmp_path / "cache"), remote=uri, s3_endpoint_url=endpoint),
            small_sky,
            work_units=WorkUnits(dask_scheduler=cluster.address),
        )
        # the instance's python_logs settings as dagster_home/dagster.yaml has them: the units' records in the run log
        settings = yaml.safe_load((PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_text())["python_logs"]
        with DagsterInstance.ephemeral(settings={"python_logs": settings}) as second:
            register_specs(second, str(upstream))
            run_assets(second, remote, ["galaxy_cutouts"], "train")
            run = run_assets(second, remote, ["injected_stamps"], "one|train")
            logged = [e.user_message for e in second.all_logs(run.run_id)]
    assert any(m.startswith("injected_stamps/one|train/part-00000.parquet: written in") for m in logged)
    for asset, partition in zip(BUILT_ON_THE_CLUSTER, ("train", "one|train")):
        files = storage.marker(store, asset, partition)
        assert object_digests(client, files) == file_digests(local / asset / partition) != {}
    # the workers put the parts in the bucket; the driver's cache holds only what a reader of files fetched back
    assert not glob.glob(f"{tmp_path / 'cache' / 'galaxy_cutouts'}/*/part-*.parquet")
    # every object is a published partition's file or marker
    listed = {
        e["key"]
        for asset in os.listdir(local)
        if asset not in (".staging", "datasets")
        for partition in storage.published_partitions(store, asset)
        for e in storage.marker(store, asset, partition).values()
    }
    markers = {k for k in object_keys(client, prefix="team/run1/") if k.endswith(storage.MARKER)}
    specs = set(object_keys(client, prefix="team/run1/datasets/"))
    assert set(object_keys(client, prefix="team/run1/")) == listed | markers | specs
    # a fresh machine reads the stamps from the bucket
    with storage.mounted(tmp_path / "fresh", store):
        again = read_table(str(tmp_path / "fresh"), "injected_stamps", "one|train", ["task_id", "image"])
    assert again.equals(read_table(str(local), "injected_stamps", "one|train", ["task_id", "image"]))


def test_the_environment_s_s3_data_root_reaches_the_demo_and_the_definitions(tmp_path, monkeypatch):
    # dhs demo built its data root from the cache folder alone: with DHS_DATA_ROOT=s3://... it ran on the cache and
    # left the bucket empty
    monkeypatch.setenv("DHS_DATA_ROOT", f"s3://{BUCKET}/team/run1")
    monkeypatch.setenv("DHS_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DHS_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    for resources in (demo_resources(SurveyRoot(path=str(tmp_path)), LensCatalogs()), default_resources()):
        root = resources["data_root"]
        assert (root.path, root.store()) == (
            str(tmp_path / "cache"),
            storage.ObjectStore(f"s3://{BUCKET}/team/run1", "http://127.0.0.1:9"),
        )
