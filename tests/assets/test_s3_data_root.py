"""An s3:// data root: a run pulls what it lacks, works on the local copy, pushes what it wrote and deletes
what it replaced. Against a real S3 API (moto's server on 127.0.0.1) through dagster-aws."""

import hashlib

import boto3
import pyarrow as pa
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from moto.server import ThreadedMotoServer

from dhs_assets.definitions import ASSETS, CHECKS
from dhs_assets.resources import DataRoot, build_resources
from dhs_core import remote
from dhs_core.errors import ConfigError
from dhs_core.tables import write_table
from tests.e2e.server import free_port


@pytest.fixture()
def s3(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._port}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="dhs-test")
    yield endpoint, client
    server.stop()


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_s3_data_root_pushes_runs_and_pulls_into_a_fresh_copy(s3, small_sky, tmp_path):
    endpoint, client = s3
    uri = "s3://dhs-test/team/run1"
    first = DataRoot(path=str(tmp_path / "a"), remote=uri, s3_endpoint_url=endpoint)
    resources = build_resources(first, small_sky)
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [*ASSETS, *CHECKS], selection=[AssetKey("survey_bricks")], instance=instance, resources=resources
        ).success
    local = tmp_path / "a/survey_bricks/all/part-00000.parquet"
    stored = client.get_object(Bucket="dhs-test", Key="team/run1/survey_bricks/all/part-00000.parquet")[
        "Body"
    ].read()
    assert hashlib.sha256(stored).hexdigest() == _digest(local)
    # another machine: an empty working copy gets the table before its run reads it
    second = tmp_path / "b"
    assert remote.pull(client, uri, str(second)) == ["survey_bricks/all/part-00000.parquet"]
    assert _digest(second / "survey_bricks/all/part-00000.parquet") == _digest(local)
    assert remote.pull(client, uri, str(second)) == []  # nothing new
    # a partition replaced by fewer files: the stale object goes too
    (tmp_path / "a/survey_bricks/all/part-00001.parquet").write_bytes(b"an older layout's part")
    before = remote.snapshot(str(tmp_path / "a"))
    remote.push(client, str(tmp_path / "a"), uri, {})
    write_table(pa.table({"x": [1]}), str(tmp_path / "a"), "survey_bricks")  # removes part-00001
    pushed, deleted = remote.push(client, str(tmp_path / "a"), uri, before)
    assert pushed == ["survey_bricks/all/part-00000.parquet"] and deleted == [
        "survey_bricks/all/part-00001.parquet"
    ]
    assert sorted(remote.remote_files(client, uri)) == ["survey_bricks/all/part-00000.parquet"]


def test_bad_s3_uris_are_named():
    for bad in ("s3://", "s3:///prefix", "gs://bucket"):
        with pytest.raises(ConfigError, match="s3://bucket"):
            remote.parse_s3_uri(bad)
    assert remote.parse_s3_uri("s3://b/p/q/") == ("b", "p/q")
