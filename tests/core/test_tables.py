import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pytest

from dhs_core import tables
from dhs_core.errors import ConfigError, InputFileError


def _table(n=1000, offset=0):
    return pa.table({"objid": pa.array(range(offset, offset + n), pa.int32()), "brickname": ["0001p000"] * n})


def test_write_then_read_round_trips_and_rewrites_bit_identically(tmp_path):
    path = tables.write_table(_table(), str(tmp_path), "asset", "p1")
    assert path == str(tmp_path / "asset" / "p1" / "part-00000.parquet")
    first = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    path = tables.write_table(_table(), str(tmp_path), "asset", "p1")
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == first
    assert tables.read_table(str(tmp_path), "asset", "p1").equals(_table())
    assert tables.read_table(str(tmp_path), "asset", "p1", columns=["objid"]).column_names == ["objid"]


def test_a_rerun_replaces_and_never_appends(tmp_path):
    tables.write_table(_table(1000), str(tmp_path), "asset", "p1")
    (tmp_path / "asset" / "p1" / "part-00001.parquet").write_bytes(b"left by an older layout")
    tables.write_table(_table(10), str(tmp_path), "asset", "p1")
    assert sorted(os.listdir(tmp_path / "asset" / "p1")) == ["part-00000.parquet"]
    assert tables.read_table(str(tmp_path), "asset", "p1").num_rows == 10
    tables.write_table(_table(5, offset=100), str(tmp_path), "asset", "p2")
    assert tables.read_table(str(tmp_path), "asset", None).num_rows == 15


def test_a_failed_write_keeps_the_old_partition_and_leaves_no_temporary(tmp_path, monkeypatch):
    tables.write_table(_table(7), str(tmp_path), "asset", "p1")

    def interrupted(src, dst):
        raise KeyboardInterrupt("killed mid-partition")

    monkeypatch.setattr(tables.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tables.write_table(_table(9), str(tmp_path), "asset", "p1")
    monkeypatch.undo()
    assert os.listdir(tmp_path / "asset" / "p1") == ["part-00000.parquet"]
    assert tables.read_table(str(tmp_path), "asset", "p1").num_rows == 7


def test_bad_partitions_and_missing_data_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="partition"):
        tables.partition_dir(str(tmp_path), "asset", "../escape")
    with pytest.raises(ConfigError, match="data_root"):
        tables.partition_dir("s3://bucket/prefix", "asset", "p1")
    with pytest.raises(InputFileError, match="no materialized data for asset 'absent'"):
        tables.read_table(str(tmp_path), "absent")


def test_duckdb_settings_apply_to_the_connections_they_are_given_to():
    with tables.connect(tables.DuckDBSettings(threads=1, memory_limit="1GB")) as con:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] in (
            "1000.0 MiB",
            "953.6 MiB",
            "1.0 GiB",
        )
    with pytest.raises(ConfigError, match="duckdb.threads"):
        tables.DuckDBSettings(threads=-1)
    with tables.connect() as con:  # no process-wide state: a later connection has DuckDB's defaults
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] >= 1
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] != "1.0 GiB"


def test_memory_limit_is_checked_and_never_reaches_sql_text(tmp_path):
    """A run config value like ``4GB'; COPY (...) TO '...'`` used to run its COPY (item 7 of the reliability issue)."""
    target = tmp_path / "written_by_injection.csv"
    with pytest.raises(ConfigError, match="duckdb.memory_limit.*512MB, 4GB or 2GiB"):
        tables.DuckDBSettings(memory_limit=f"4GB'; COPY (SELECT 1) TO '{target}'; SET threads='1")
    with tables.connect() as con:
        con.execute("SELECT 1")
    assert not target.exists()
    with tables.connect(tables.DuckDBSettings(memory_limit="2GiB")) as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "2.0 GiB"


def test_a_killed_table_write_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    folder = tmp_path / "asset" / "p1"
    folder.mkdir(parents=True)
    leftover = folder / ".part-00000.parquet.0123abcd.tmp"
    leftover.write_bytes(b"x" * 1000)  # what SIGKILL in the middle of a COPY leaves behind
    tables.write_table(_table(), str(tmp_path), "asset", "p1")
    assert sorted(os.listdir(folder)) == ["part-00000.parquet"]


def test_a_partition_being_written_cannot_be_written_by_a_second_run(tmp_path):
    from dhs_core.locks import PartitionBusyError, partition_lock

    with (
        partition_lock(str(tmp_path), "asset", "p1", owner="dagster run abc"),
        pytest.raises(PartitionBusyError, match="asset p1 .*pid .*owner dagster run abc"),
    ):
        tables.write_table(_table(), str(tmp_path), "asset", "p1")
    tables.write_table(_table(), str(tmp_path), "asset", "p1")  # released: the next run goes ahead


def test_the_lock_of_a_killed_writer_is_released(tmp_path):
    import signal
    import subprocess
    import sys

    script = (
        "import os, signal\nfrom dhs_core.locks import partition_lock\n"
        f"with partition_lock({str(tmp_path)!r}, 'asset', 'p1'):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert subprocess.run([sys.executable, "-c", script]).returncode == -signal.SIGKILL
    tables.write_table(_table(), str(tmp_path), "asset", "p1")
