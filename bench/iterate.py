"""Streaming stamps to training code: ``dhs_core.stamps.iter_batches`` against the naive way, measured in the same run.

One split of synthetic stamps (3 x 64 x 64 float32 noise, written as the stamps step writes them:
``dhs_core.tables.write_batches``) of each size in ``--sizes``. Each measurement runs in a fresh process pinned to
one core, which reports its wall time (imports excluded) and its peak RSS (VmHWM):

- ours: ``iter_batches(folder, "train", batch_size=256, columns=("image", "is_control"), shuffle_buffer=10_000)``;
- peer: ``pyarrow.parquet.read_table`` of the same files and columns, the split filtered, the images as one numpy
  array, then batches of 256 sliced out of a random permutation (the naive way: memory grows with the dataset).

Medians of ``--repeats`` runs. The peer is skipped at a size whose images exceed a third of this machine's memory.

    python iterate.py [--sizes 20000 200000] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow as pa
from _common import save

from dhs_core.pixels import pixel_column
from dhs_core.stamps.partition import StampsJob
from dhs_core.tables import write_batches

SIZE, BANDS, BATCH, BUFFER = 64, 3, 256, 10_000
WRITE_ROWS = StampsJob.rows_per_group  # the stamps step's row groups (256 rows)

MEASURE = r"""
import json, os, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
import numpy as np, pyarrow as pa
pa.set_cpu_count(1); pa.set_io_thread_count(1)
folder, way, size, buffer = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
start, rows, check = time.perf_counter(), 0, 0.0
if way == "ours":
    from dhs_core.stamps import iter_batches
    for batch in iter_batches(folder, "train", batch_size=size, columns=("image", "is_control"), shuffle_buffer=buffer):
        rows += len(batch["image"]); check += float(batch["image"][0, 0, 0, 0])
else:
    import glob, pyarrow.compute as pc, pyarrow.parquet as pq
    from dhs_core.pixels import pixels_array
    table = pq.read_table(sorted(glob.glob(os.path.join(folder, "*", "part-*.parquet"))), columns=["image", "is_control", "region_split", "status"])
    table = table.filter(pc.and_(pc.equal(table["region_split"], "train"), pc.equal(table["status"], "ok")))
    images, labels = pixels_array(table["image"], "image"), table["is_control"].to_numpy(zero_copy_only=False)
    order = np.random.default_rng(0).permutation(len(images))
    for i in range(0, len(order), size):
        rows_ = order[i : i + size]
        batch = {"image": images[rows_], "is_control": labels[rows_]}
        rows += len(batch["image"]); check += float(batch["image"][0, 0, 0, 0])
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter carries the parent's peak across exec
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak}))
"""


def write_split(folder: str, rows: int, seed: int = 0) -> int:
    """``rows`` synthetic train stamps in partitions of 10,000, as the stamps writer writes them; return bytes."""
    rng = np.random.default_rng(seed)
    for part, start in enumerate(range(0, rows, 10_000)):
        n = min(10_000, rows - start)
        path = os.path.join(folder, f"set{part:03d}|train", "part-00000.parquet")
        os.makedirs(os.path.dirname(path))

        def batches(n=n, start=start):
            for lo in range(0, n, WRITE_ROWS):
                m = min(WRITE_ROWS, n - lo)
                image = rng.normal(0.0, 0.01, (m, BANDS * SIZE * SIZE)).astype(np.float32)
                yield pa.record_batch(
                    {
                        "task_id": [f"t{start + lo + i}" for i in range(m)],
                        "region_split": ["train"] * m,
                        "is_control": rng.random(m) < 0.5,
                        "status": ["ok"] * m,
                        "image": pixel_column(image.reshape(m, BANDS, SIZE, SIZE), "image"),
                    }
                )

        first = next(batches())
        write_batches(batches(), first.schema, path, WRITE_ROWS)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


def measure(folder: str, way: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, folder, way, str(BATCH), str(BUFFER)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    figures = {"batch": BATCH, "shuffle_buffer": BUFFER, "sizes": {}}
    for rows in args.sizes:
        with tempfile.TemporaryDirectory(prefix="dhs_iterate_") as folder:
            size_mb = write_split(folder, rows) / 2**20
            images_mb = rows * BANDS * SIZE * SIZE * 4 / 2**20
            record = {"files_mb": round(size_mb), "images_mb": round(images_mb)}
            ways = ["ours"] + (["peer"] if images_mb < memory_mb / 3 else [])
            for way in ways:
                runs = [measure(folder, way) for _ in range(args.repeats)]
                assert all(r["rows"] == rows for r in runs), runs
                seconds = statistics.median(r["seconds"] for r in runs)
                record[way] = {
                    "stamps_per_s": round(rows / seconds),
                    "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
                    "seconds": [round(r["seconds"], 2) for r in runs],
                }
            if "peer" not in record:
                record["peer"] = f"skipped: its images ({images_mb:,.0f} MB) exceed a third of memory"
            else:
                record["speed_ratio_ours_over_peer"] = round(
                    record["ours"]["stamps_per_s"] / record["peer"]["stamps_per_s"], 2
                )
            figures["sizes"][str(rows)] = record
            print(rows, json.dumps(record), flush=True)
    print("->", save("iterate", figures))


if __name__ == "__main__":
    main()
