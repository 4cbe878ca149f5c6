"""Phase 4a throughput: a 12 M-row train manifest from a synthetic 20 M-row parent, dhs against the seed's
logic in PySpark (``local[2]``) on the same input, same machine, same run.

    python bench/manifest.py [--galaxies 20000000] [--workers 2]

The parent (made here, in ``bench/work/manifest``; realistic columns and sizes) has 250,000 bricks in
625 regions split 80/10/10 by region, each region in each of the 12 selection sets with probability
0.08, so the (set, split) partitions hold 0.16-1.3 M galaxies and the train tier (200,000 galaxies per
(set, split), 2 replicates) makes about 12 M tasks. dhs builds the 36 partitions as the asset does in a
backfill (``split_manifests``: per split, one light scan for the sampling of all its sets, one scan of
the chosen galaxies, then ``build_manifest`` and an atomic Parquet write per partition), in two processes
with six selection sets each, as two concurrent runs of the Dagster instance would on this 2-core
machine; each process's peak RSS is measured (the sum bounds the total). PySpark (``local[2]``, the same two cores) runs the seed's §4 train-tier logic (window functions over xxhash64, controls,
configuration, replicates, frozen draws, Parquet write). Both must choose the same galaxies,
configurations and controls (checked). Prints both times, the ratio and dhs's peak RSS.
"""

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import save

from dhs_core.catalog.selection import selection_partition_keys
from dhs_core.catalog.splits import SPLITS
from dhs_core.hashing import spark_xxhash64

WORK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "work", "manifest")
SET_IDS = {key: f"{key}_k{100 if key.startswith('topk') else 75}" for key in selection_partition_keys()}
N_BRICKS, N_REGIONS, MEMBERSHIP, SEED = 250_000, 625, 0.08, 1337


def brick_names(index: np.ndarray) -> np.ndarray:
    ra, dec = (index % 3600) * 0.1, (index // 3600) * 0.25 - 30
    return np.char.add(
        np.char.add(np.char.zfill((ra * 10).astype(int).astype(str), 4), np.where(dec < 0, "m", "p")),
        np.char.zfill((np.abs(dec) * 10).astype(int).astype(str), 3),
    )


def make_parent(n: int) -> None:
    """Write ``parent_<split>.parquet`` and ``bricks.parquet`` under WORK (skipped when already there)."""
    marker = os.path.join(WORK, f"parent_{n}.done")
    if os.path.exists(marker):
        return
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    rng = np.random.default_rng(0)
    bricks = np.arange(N_BRICKS)
    region = bricks * N_REGIONS // N_BRICKS
    region_u = rng.random(N_REGIONS)
    region_split = np.where(region_u < 0.8, "train", np.where(region_u < 0.9, "val", "test"))
    member = rng.random((N_REGIONS, len(SET_IDS))) < MEMBERSHIP
    set_names = np.array(list(SET_IDS.values()))
    region_sets = [sorted(set_names[member[r]].tolist()) for r in range(N_REGIONS)]
    psf_r, depth_r = rng.uniform(0.85, 1.6, N_BRICKS), rng.normal(24.6, 0.35, N_BRICKS)
    names = brick_names(bricks)
    pq.write_table(
        pa.table({"brickname": names, "psfsize_r": psf_r, "psfdepth_mag5_r": depth_r}),
        os.path.join(WORK, "bricks.parquet"),
    )
    writers = {}
    chunk = 1_000_000
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        b = np.sort(rng.integers(0, N_BRICKS, m))
        objid = (np.arange(m) + start) % 100_000
        r = region[b]
        table = pa.table(
            {
                "row_id": spark_xxhash64(names[b], objid),
                "brickname": names[b],
                "objid": objid.astype(np.int32),
                "ra": (b % 3600) * 0.1 + rng.random(m) * 0.1,
                "dec": (b // 3600) * 0.25 - 30 + rng.random(m) * 0.25,
                "zmag": rng.uniform(17, 20, m),
                "rmag": rng.uniform(18, 21.5, m),
                "w1mag": rng.uniform(15, 18, m),
                "rz": rng.uniform(0.6, 1.8, m),
                "zw1": rng.uniform(1, 2.5, m),
                "shape_e1": rng.uniform(-0.3, 0.3, m).astype(np.float32),
                "shape_e2": rng.uniform(-0.3, 0.3, m).astype(np.float32),
                "region_id": pa.array(names[r * N_BRICKS // N_REGIONS]),
                "split": region_split[r],
                "selection_sets": pa.array([region_sets[i] for i in r], pa.list_(pa.string())),
                "brick_psfsize_g": (psf_r[b] * 1.08).astype(np.float32),
                "brick_psfsize_r": psf_r[b].astype(np.float32),
                "brick_psfsize_z": (psf_r[b] * 0.95).astype(np.float32),
                "brick_psfdepth_mag5_r": depth_r[b].astype(np.float32),
                "brick_ebv": rng.uniform(0, 0.1, m).astype(np.float32),
            }
        )
        for split in SPLITS:
            part = table.filter(pa.compute.equal(table["split"], split))
            if split not in writers:
                writers[split] = pq.ParquetWriter(
                    os.path.join(WORK, f"parent_{split}.parquet"), part.schema, compression="zstd"
                )
            writers[split].write_table(part)
    for w in writers.values():
        w.close()
    open(marker, "w").close()


def edges():
    from dhs_core.manifest.sampling import stratum_edges

    bricks = pq.read_table(os.path.join(WORK, "bricks.parquet"))
    return stratum_edges(bricks["psfsize_r"].to_numpy(), "psf"), stratum_edges(
        bricks["psfdepth_mag5_r"].to_numpy(), "depth"
    )


def run_dhs(worker: int, workers: int) -> None:
    """Child process: this worker's share of the selection sets, every split, each split's sets in one pass
    (as one Dagster run of a backfill builds them), written as the asset writes them."""
    from dhs_core.manifest.build import ManifestConfig, split_manifests
    from dhs_core.tables import connect, write_table

    psf_edges, depth_edges = edges()
    config = ManifestConfig.for_tier(tier="train")
    out = os.path.join(WORK, "dhs_out")
    with connect() as con:
        for split in SPLITS:
            parent = f"read_parquet('{os.path.join(WORK, f'parent_{split}.parquet')}')"
            mine = dict(
                list(SET_IDS.items())[worker::workers]
            )  # each worker builds its share of every split's sets
            for key, table, _ in split_manifests(con, parent, split, mine, psf_edges, depth_edges, config):
                write_table(table, out, "injection_manifest", f"{key}|{split}", con)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


SPARK_SEED_LOGIC = r"""
import sys, numpy as np
from pyspark.sql import SparkSession, Window, functions as F
work, psf_edges, depth_edges, seed = sys.argv[1], eval(sys.argv[2]), eval(sys.argv[3]), int(sys.argv[4])
from dhs_core.manifest.grids import NAMED_GRIDS
spark = (SparkSession.builder.master("local[2]").config("spark.driver.memory", "12g")
         .config("spark.sql.shuffle.partitions", "16").config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
configs = NAMED_GRIDS["grid_small"].configs().to_pylist()
cfg = spark.createDataFrame([(c["config_index"], c["config_id"], c["theta_e"], c["src_dmag"], c["src_reff"], c["src_e"], c["shear"])
                             for c in configs], "cfg_idx long, config_id string, theta_e double, src_dmag double, src_reff double, src_e double, shear double")
def bucket(col, e):
    return F.when(col < e[1], 0).when(col < e[2], 1).when(col < e[3], 2).otherwise(3)
p = (spark.read.parquet(*[f"{work}/parent_{s}.parquet" for s in ("train", "val", "test")])
     .filter(F.col("brick_psfsize_r").isNotNull() & F.col("brick_psfdepth_mag5_r").isNotNull())
     .withColumn("selection_set_id", F.explode("selection_sets")).drop("selection_sets")
     .withColumn("psf_bin", bucket(F.col("brick_psfsize_r"), psf_edges)).withColumn("depth_bin", bucket(F.col("brick_psfdepth_mag5_r"), depth_edges)))
per_bin, n_total = -(-200000 // 16), 200000
w1 = Window.partitionBy("selection_set_id", "split", "psf_bin", "depth_bin").orderBy(F.xxhash64("row_id", F.lit(seed)), "row_id")
w2 = Window.partitionBy("selection_set_id", "split").orderBy(F.xxhash64("row_id", F.lit(seed + 1)), "row_id")
p = p.withColumn("r1", F.row_number().over(w1)).filter(F.col("r1") <= per_bin)
p = p.withColumn("r2", F.row_number().over(w2)).filter(F.col("r2") <= n_total)
u = F.pmod(F.xxhash64("row_id", "brickname", "split", F.lit("train"), F.lit(seed + 7003)), F.lit(1000000)) / 1e6
p = p.withColumn("is_control", u < 0.5).withColumn("cfg_idx", F.pmod(F.xxhash64("row_id", F.lit(seed + 5001)), F.lit(len(configs))))
p = p.join(F.broadcast(cfg), "cfg_idx", "left")
for c in ("theta_e", "src_dmag", "src_reff", "src_e", "shear"):
    p = p.withColumn(c, F.when(F.col("is_control"), F.lit(0.0)).otherwise(F.col(c)))
p = p.withColumn("config_id", F.when(F.col("is_control"), F.lit("CONTROL")).otherwise(F.col("config_id")))
p = p.crossJoin(spark.range(2).select(F.col("id").cast("int").alias("replicate")))
p = p.withColumn("task_seed64", F.xxhash64("selection_set_id", "split", "row_id", "config_id", "replicate", F.lit(seed)))
def h(k):
    return F.pmod(F.xxhash64("task_seed64", F.lit(k)), F.lit(1000000)) / 1e6
r = F.sqrt(h(101)) * 0.8 * F.col("theta_e")
p = (p.withColumn("src_x_arcsec", r * F.cos(2 * np.pi * h(102))).withColumn("src_y_arcsec", r * F.sin(2 * np.pi * h(102)))
     .withColumn("src_phi_rad", 2 * np.pi * h(103)).withColumn("shear_phi_rad", np.pi * h(104))
     .withColumn("src_gr", F.least(F.greatest(0.2 + 0.2 * F.sqrt(-2 * F.log(1 - h(105))) * F.cos(2 * np.pi * h(106)), F.lit(-0.5)), F.lit(1.5)))
     .withColumn("src_rz", F.least(F.greatest(0.1 + 0.2 * F.sqrt(-2 * F.log(1 - h(107))) * F.cos(2 * np.pi * h(108)), F.lit(-0.5)), F.lit(1.5)))
     .withColumn("lens_e", F.when(F.col("is_control"), 0.0).otherwise(0.05 + 0.45 * h(109)))
     .withColumn("lens_phi_rad", F.when(F.col("is_control"), 0.0).otherwise(np.pi * h(110)))
     .withColumn("task_id", F.concat_ws("/", "selection_set_id", "split", "row_id", "config_id", "replicate")))
p.drop("r1", "r2").write.mode("overwrite").partitionBy("selection_set_id", "split").parquet(f"{work}/spark_out")
spark.stop()
"""


def checksum(table: pa.Table) -> tuple[int, int, int]:
    """Rows, controls and the sum of task seeds: equal when the same tasks were chosen the same way."""
    seeds = table["task_seed64"].to_numpy().astype(np.int64)
    return (
        table.num_rows,
        int(np.sum(table["is_control"].to_numpy())),
        int(np.sum(seeds.astype(object)) % (1 << 64)),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--galaxies", type=int, default=20_000_000)
    parser.add_argument(
        "--workers", type=int, default=2, help="partitions built at a time (the instance runs 2)"
    )
    parser.add_argument("--run-dhs", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_dhs:
        return run_dhs(*args.run_dhs)
    start = time.perf_counter()
    make_parent(args.galaxies)
    print(
        f"parent: {args.galaxies:,} galaxies in {WORK} ({time.perf_counter() - start:.0f} s, cached between runs)",
        flush=True,
    )
    psf_edges, depth_edges = edges()

    start = time.perf_counter()
    shutil.rmtree(os.path.join(WORK, "dhs_out"), ignore_errors=True)
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--run-dhs", str(w), str(args.workers)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(args.workers)
    ]
    outputs = [c.communicate()[0] for c in children]
    if any(c.returncode for c in children):
        raise SystemExit("a dhs worker failed")
    dhs_seconds = time.perf_counter() - start
    rss_gb = [int(o.split()[-1]) / 1024**2 for o in outputs]  # ru_maxrss is in KiB on Linux
    dhs = pq.read_table(
        os.path.join(WORK, "dhs_out", "injection_manifest"), columns=["task_seed64", "is_control"]
    )

    start = time.perf_counter()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.environ.get("PYTHONPATH", "")]
        ),
    }
    subprocess.run(
        [
            sys.executable,
            "-c",
            SPARK_SEED_LOGIC,
            WORK,
            repr(psf_edges.tolist()),
            repr(depth_edges.tolist()),
            str(SEED),
        ],
        check=True,
        env=env,
    )
    spark_seconds = time.perf_counter() - start
    spark = pq.read_table(os.path.join(WORK, "spark_out"), columns=["task_seed64", "is_control"])

    same = checksum(dhs) == checksum(spark)
    print(
        f"tasks: dhs {dhs.num_rows:,}, PySpark {spark.num_rows:,}; same galaxies, configurations, controls and seeds: {same}"
    )
    print(
        f"dhs ({args.workers} partitions at a time): {dhs_seconds:.1f} s, peak RSS per process "
        f"{', '.join(f'{r:.2f}' for r in rss_gb)} GB (together at most {sum(rss_gb):.2f} GB)"
    )
    print(f"PySpark local[2]: {spark_seconds:.1f} s")
    print(f"ratio PySpark / dhs: {spark_seconds / dhs_seconds:.1f}x")
    print(
        f"figures saved to {save('manifest', {'tasks': dhs.num_rows, 'dhs_seconds': dhs_seconds, 'dhs_workers': args.workers, 'dhs_peak_rss_gb_per_process': rss_gb, 'dhs_peak_rss_gb_total_bound': sum(rss_gb), 'pyspark_seconds': spark_seconds, 'ratio': spark_seconds / dhs_seconds, 'same_tasks': same})}"
    )


if __name__ == "__main__":
    main()
