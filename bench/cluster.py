"""The stamps of one partition on a Dask cluster on loopback, and with an S3 data root on a loopback S3 server (moto,
its own process), against the local one-process run on local disk in the same run.

    python bench/cluster.py [--galaxies 20000] [--sets 2] [--repeats 3]

The manifest and sky are ``bench/stamps.py``'s (the mock sky's extended galaxies, the train tier), for ``--sets``
selection sets over the same galaxies, as the real train tier reuses them (2: over 20,000 tasks on the mock sky). Each repeat
writes the partition three ways, alternating so a slow spell of the machine hits all: in this process (``workers=1``,
the local one-process run), on a loopback cluster of one one-thread worker, on one of two, and in this process with
the data root mounted on the S3 server (each part uploaded by its unit, published by its marker). Prints the medians,
the engine's overhead (1-worker cluster against local), the speed-up (2 workers against 1) and the S3 data root's
throughput against local disk, and checks that the four partitions have the same bytes.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyarrow as pa
from _common import save
from stamps import WORK, manifest, sky_and_bank

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dhs_core import storage  # noqa: E402
from dhs_core.cluster import dask_executor  # noqa: E402
from dhs_core.stamps.partition import StampsJob, write_stamps_partition  # noqa: E402
from tests.cluster import loopback_cluster  # noqa: E402
from tests.digests import file_digests, object_digests  # noqa: E402
from tests.s3 import BUCKET, CREDENTIALS, loopback_s3  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--galaxies", type=int, default=20_000)
    parser.add_argument("--sets", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sky, bank = sky_and_bank()
    sets = ["topk_density", "topk_n_lrg", "topk_area_weighted", "topk_psf_weighted"][: args.sets]
    tasks = pa.concat_tables([manifest(sky, args.galaxies, selection_set=s) for s in sets])
    data = os.path.join(WORK, "cluster")
    job = StampsJob(sky, bank, workers=1)
    times = {"local": [], "dask_1": [], "dask_2": [], "s3": []}
    outputs = {}
    os.environ.update(CREDENTIALS)
    with (
        tempfile.TemporaryDirectory() as scratch,
        loopback_cluster(Path(scratch) / "one", n_workers=1) as one,
        loopback_cluster(Path(scratch) / "two", n_workers=2) as two,
        loopback_s3(own_process=True) as (endpoint, client),
    ):
        store = storage.ObjectStore(f"s3://{BUCKET}/bench", endpoint)
        cache = os.path.join(scratch, "cache")
        for _ in range(args.repeats):
            start = time.perf_counter()
            outputs["local"] = write_stamps_partition(tasks, job, data, "injected_stamps", "local")[0]
            times["local"].append(time.perf_counter() - start)
            for name, cluster in (("dask_1", one), ("dask_2", two)):
                with dask_executor(cluster.address) as pool:
                    start = time.perf_counter()
                    outputs[name] = write_stamps_partition(
                        tasks, job, data, "injected_stamps", name, pool=pool
                    )[0]
                    times[name].append(time.perf_counter() - start)
            with storage.mounted(cache, store):
                start = time.perf_counter()
                write_stamps_partition(tasks, job, cache, "injected_stamps", "s3")
                times["s3"].append(time.perf_counter() - start)
        in_bucket = object_digests(client, storage.marker(store, "injected_stamps", "s3"), "*")
    same = (
        file_digests(outputs["local"], "*")
        == file_digests(outputs["dask_1"], "*")
        == file_digests(outputs["dask_2"], "*")
        == in_bucket
    )
    rate = {name: tasks.num_rows / statistics.median(t) for name, t in times.items()}
    overhead = statistics.median(d / local for d, local in zip(times["dask_1"], times["local"]))
    speedup = statistics.median(a / b for a, b in zip(times["dask_1"], times["dask_2"]))
    s3_ratio = statistics.median(local / s3 for local, s3 in zip(times["local"], times["s3"]))
    print(
        f"{tasks.num_rows} tasks, {len(file_digests(outputs['local'], '*'))} parts; identical bytes: {same}"
    )
    for name, t in times.items():
        print(f"{name}: {rate[name]:.0f} stamps/s (median of {', '.join(f'{x:.1f}' for x in t)} s)")
    print(
        f"1-worker cluster / local one process: {overhead:.3f}x the time; 2 workers / 1: {speedup:.2f}x faster; "
        f"S3 data root: {s3_ratio:.3f}x the local-disk throughput"
    )
    print(
        f"figures saved to {save('cluster', {'tasks': tasks.num_rows, 'stamps_per_s': rate, 'times_s': times, 'overhead': overhead, 'speedup_2_workers': speedup, 's3_over_local_throughput': s3_ratio, 'identical': same})}"
    )


if __name__ == "__main__":
    main()
