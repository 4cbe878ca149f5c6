"""The work_units resource: local worker processes by default, the Dask cluster DHS_DASK_SCHEDULER names otherwise."""

from concurrent.futures import ProcessPoolExecutor

import pytest

from dhs_assets.resources import WorkUnits, build_resources, default_work_units
from dhs_core.cluster import ClusterError
from tests.cluster import loopback_cluster


def test_the_resource_chooses_local_processes_or_the_cluster(tmp_path, monkeypatch):
    monkeypatch.delenv("DHS_DASK_SCHEDULER", raising=False)
    assert build_resources(tmp_path, tmp_path)["work_units"].dask_scheduler == ""
    with WorkUnits().pool(1) as pool:
        assert isinstance(pool, ProcessPoolExecutor)
    with loopback_cluster(tmp_path / "dask", n_workers=1) as cluster:
        monkeypatch.setenv("DHS_DASK_SCHEDULER", cluster.address)
        units = default_work_units()
        assert (
            units.dask_scheduler == cluster.address and units.describe(4) == f"Dask cluster {cluster.address}"
        )
        with units.pool(4) as pool:
            assert not isinstance(pool, ProcessPoolExecutor) and pool.submit(sum, [1, 2]).result() == 3
    # nothing listens there: named, within the timeout
    with (
        pytest.raises(ClusterError, match="tcp://127.0.0.1:9"),
        WorkUnits(dask_scheduler="tcp://127.0.0.1:9").pool(1),
    ):
        pass
