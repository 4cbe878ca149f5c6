"""Partitions in an object store (moto's S3 server on 127.0.0.1): written through a mounted cache folder, published
by their marker only when whole, read by DuckDB straight from the bucket, fetched alone into a fresh cache; the
objects of a replaced or abandoned generation deleted."""

import hashlib
import io
import json
import os
import threading

import pyarrow as pa
import pytest

from dhs_core import storage
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.stamps.partition import publish_units
from dhs_core.stamps.read import stamp_files
from dhs_core.tables import (
    folder_parts,
    materialized_partitions,
    parquet_file,
    partition_dir,
    partition_files,
    read_table,
    write_file,
    write_table,
)
from tests.s3 import BUCKET, object_keys

URI = f"s3://{BUCKET}/team/run1"


@pytest.fixture()
def store(s3):
    return storage.ObjectStore(URI, s3[0])


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _write_part(value, path):
    write_table(pa.table({"x": [value]}), os.path.dirname(path), "scratch")  # any Parquet file
    os.replace(os.path.join(os.path.dirname(path), "scratch", "all", "part-00000.parquet"), path)
    return {"value": value}


def test_a_table_written_under_a_mount_is_published_and_read_from_the_bucket(s3, store, tmp_path):
    _, client = s3
    with storage.mounted(tmp_path / "a", store):
        local = write_table(pa.table({"x": [1, 2, 3]}), str(tmp_path / "a"), "survey_bricks")
        write_file(b'{"n": 3}', os.path.join(os.path.dirname(local), "summary.json"))
        keys = object_keys(client, prefix="team/run1/survey_bricks/all/")
        assert sorted(k.rsplit("/", 1)[1] for k in keys) == [
            "_published.json",
            "part-00000.parquet",
            "summary.json",
        ]
        # the part was uploaded once: adding summary.json reused its object
        files = storage.marker(store, "survey_bricks", "all")
        stored = client.get_object(Bucket=BUCKET, Key=files["part-00000.parquet"]["key"])["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == _digest(local)
        assert partition_files(str(tmp_path / "a"), "survey_bricks") == [
            f"s3://{BUCKET}/{files['part-00000.parquet']['key']}"
        ]
    # another machine: an empty cache reads the table in place and fetches the partition alone for its files
    fresh = tmp_path / "b"
    with storage.mounted(fresh, store):
        assert materialized_partitions(str(fresh), "survey_bricks") == ["all"]
        assert read_table(str(fresh), "survey_bricks")["x"].to_pylist() == [1, 2, 3]
        assert not fresh.exists()  # DuckDB read the bucket: nothing was downloaded
        # a reader of files gets the partition's other files; its parts stay in the bucket, listed for readers
        folder = partition_dir(str(fresh), "survey_bricks")
        assert sorted(os.listdir(folder)) == [".published.json", "summary.json"]
        assert stamp_files(folder) == folder_parts(folder) == partition_files(str(fresh), "survey_bricks")
        assert parquet_file(folder_parts(folder)[0]).read()["x"].to_pylist() == [1, 2, 3]
        # fetched whole, it is the bytes written
        storage.fetch_partition(store, folder, "survey_bricks", "all")
        assert _digest(os.path.join(folder, "part-00000.parquet")) == _digest(local)
        assert partition_dir(str(fresh), "region_bricks") and not os.path.exists(fresh / "region_bricks")


def test_a_replaced_partition_leaves_no_object_of_the_old_one_and_stale_caches_follow(s3, store, tmp_path):
    _, client = s3
    with storage.mounted(tmp_path / "a", store):
        write_table(pa.table({"x": [1]}), str(tmp_path / "a"), "survey_bricks")
        old = object_keys(client, prefix="team/run1/")
    with storage.mounted(tmp_path / "b", store):  # a second machine replaces it
        write_table(pa.table({"x": [2]}), str(tmp_path / "b"), "survey_bricks")
        new = object_keys(client, prefix="team/run1/")
    assert len(new) == 2 and set(old) & set(new) == {"team/run1/survey_bricks/all/_published.json"}
    with storage.mounted(tmp_path / "a", store):  # the first machine's cache is out of date: fetched again
        folder = partition_dir(str(tmp_path / "a"), "survey_bricks")
        assert read_table(str(tmp_path / "a"), "survey_bricks")["x"].to_pylist() == [2]
        assert not os.path.exists(os.path.join(folder, "part-00000.parquet"))  # its old part is gone
        storage.fetch_partition(store, folder, "survey_bricks", "all")
    assert _digest(os.path.join(folder, "part-00000.parquet")) == _digest(
        tmp_path / "b/survey_bricks/all/part-00000.parquet"
    )


def test_units_put_their_parts_in_the_store_and_nothing_is_visible_before_the_marker(s3, store, tmp_path):
    _, client = s3
    root = str(tmp_path / "cache")
    with storage.mounted(root, store):
        publish_units([(_write_part, (v,), 1) for v in (1, 2, 3)], root, "injected_stamps", "p")
        first = storage.marker(store, "injected_stamps", "p")
        assert sorted(first) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
        assert read_table(root, "injected_stamps", "p")["x"].to_pylist() == [1, 2, 3]
        assert not os.path.exists(os.path.join(root, "injected_stamps", "p", "part-00000.parquet"))

        seen = []

        def failing(value, path):
            seen.append(object_keys(client, prefix="team/run1/injected_stamps/p/"))
            if value == 3:
                raise InputFileError("brick 0001p000", "corrupt")
            return _write_part(value, path)

        with pytest.raises(InputFileError, match="0001p000"):
            publish_units([(failing, (v,), 1) for v in (1, 2, 3)], root, "injected_stamps", "p")
        # the new generation's parts were in the bucket, but the marker still lists the old partition
        assert len(seen[-1]) == 6 and storage.marker(store, "injected_stamps", "p") == first
        assert read_table(root, "injected_stamps", "p")["x"].to_pylist() == [1, 2, 3]
        # the next publication deletes the abandoned parts
        publish_units([(_write_part, (v,), 1) for v in (4,)], root, "injected_stamps", "p")
    keys = object_keys(client, prefix="team/run1/injected_stamps/")
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == ["_published.json", "part-00000.parquet"]


def test_drop_folders_are_uploaded_file_by_file_and_fetched(s3, store, tmp_path):
    with storage.mounted(tmp_path / "a", store):
        write_file(b"name: grid\n", str(tmp_path / "a/datasets/grid.yaml"))
    assert storage.fetch_prefix(store, str(tmp_path / "b"), "datasets") == ["grid.yaml"]
    assert (tmp_path / "b/datasets/grid.yaml").read_bytes() == b"name: grid\n"
    assert storage.fetch_prefix(store, str(tmp_path / "b"), "datasets") == []


def test_an_object_its_marker_lists_but_the_store_lost_is_named(s3, store, tmp_path):
    _, client = s3
    with storage.mounted(tmp_path / "a", store):
        write_table(pa.table({"x": [1]}), str(tmp_path / "a"), "survey_bricks")
    key = storage.marker(store, "survey_bricks", "all")["part-00000.parquet"]["key"]
    client.delete_object(Bucket=BUCKET, Key=key)
    with storage.mounted(tmp_path / "b", store), pytest.raises(InputFileError, match=key):
        storage.fetch_partition(store, str(tmp_path / "b/survey_bricks/all"), "survey_bricks", "all")
    assert not os.path.exists(tmp_path / "b/survey_bricks/all/part-00000.parquet")


def test_markers_are_plain_json_a_reader_can_follow(s3, store, tmp_path):
    _, client = s3
    with storage.mounted(tmp_path / "a", store):
        write_table(pa.table({"x": [1]}), str(tmp_path / "a"), "survey_bricks")
    body = client.get_object(Bucket=BUCKET, Key="team/run1/survey_bricks/all/_published.json")["Body"].read()
    entry = json.loads(body)["files"]["part-00000.parquet"]
    assert entry["size"] == os.path.getsize(tmp_path / "a/survey_bricks/all/part-00000.parquet")
    assert entry["key"].startswith("team/run1/survey_bricks/all/") and entry["key"].endswith(
        "/part-00000.parquet"
    )


def test_bad_s3_uris_are_named():
    for bad in ("s3://", "s3:///prefix", "gs://bucket"):
        with pytest.raises(ConfigError, match="s3://bucket"):
            storage.ObjectStore(bad)
    assert storage.parse_s3_uri("s3://b/p/q/") == ("b", "p/q")


def test_duckdb_threads_sharing_a_handle_read_their_own_bytes(s3, store, tmp_path):
    # DuckDB reads row groups from several threads through one handle, as seek then read: with one shared
    # position a thread could read another's bytes (seen as "TProtocolException: Invalid data")
    _, client = s3
    body = bytes(range(256)) * 64
    client.put_object(Bucket=BUCKET, Key="team/run1/blob", Body=body)
    handle = storage.duckdb_filesystem(store).open(f"{BUCKET}/team/run1/blob", "rb")
    barrier, got = threading.Barrier(2), {}

    def reader(offset):
        handle.seek(offset)
        barrier.wait()  # both threads have moved "the" position before either reads
        got[offset] = handle.read(100)

    threads = [threading.Thread(target=reader, args=(o,)) for o in (1000, 9000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert got == {1000: body[1000:1100], 9000: body[9000:9100]}
    handle.seek(-10, io.SEEK_END)
    assert handle.read() == body[-10:] and handle.read(5) == b""


def test_a_file_written_beside_parts_this_cache_never_held_keeps_them_published(s3, store, tmp_path):
    with storage.mounted(tmp_path / "a", store):
        write_table(pa.table({"x": [1]}), str(tmp_path / "a"), "selection_function", "p")
    with storage.mounted(
        tmp_path / "b", store
    ):  # another machine: the partition's part is read in place, not held
        folder = partition_dir(str(tmp_path / "b"), "selection_function", "p")
        write_file(b"{}", os.path.join(folder, "summary.json"))
        assert sorted(storage.marker(store, "selection_function", "p")) == [
            "part-00000.parquet",
            "summary.json",
        ]
        # a table rewritten keeps the files beside it, as on a local disk
        write_table(pa.table({"x": [2]}), str(tmp_path / "b"), "selection_function", "p")
        assert sorted(storage.marker(store, "selection_function", "p")) == [
            "part-00000.parquet",
            "summary.json",
        ]
        assert read_table(str(tmp_path / "b"), "selection_function", "p")["x"].to_pylist() == [2]
    with storage.mounted(
        tmp_path / "a", store
    ):  # the first cache's part is out of date: dropped, read in place
        folder = partition_dir(str(tmp_path / "a"), "selection_function", "p")
        assert sorted(os.listdir(folder)) == [".published.json", "summary.json"]
        assert read_table(str(tmp_path / "a"), "selection_function", "p")["x"].to_pylist() == [2]
