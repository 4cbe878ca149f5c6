"""Phase 4c at the real survey's density: full-size DR10 bricks, about one galaxy each, each galaxy reused by ~80
tasks over several stamps partitions; stamps cropped from the cutout cache against stamps cut from the bricks.

    python bench/stamps_real_density.py [--bricks 100] [--tasks-per-partition 20] [--partitions 4] [--repeats 3]
        [--pairs 4]

The survey: ``--bricks`` bricks of 3,600 x 3,600 pixels (0.262"), 7 files each written as DR10's are (tile-compressed
``.fits.fz``, RICE, one row per tile, floats quantized at 4 levels per noise sigma as fpack's default; invvar with an
absolute step, maskbits lossless), sky noise at DR10's level, invvar piecewise constant, a few masked patches. Built
once into ``bench/work/real_density`` (about 130 MB per brick). One galaxy per brick in its unique area, a second on
one brick in ten (1.1 per brick). A manifest per partition (train tier, S/N targets, template sources,
``--tasks-per-partition`` tasks per galaxy: replicates, half of them controls), ``--partitions`` partitions as the
selection sets of one split are.

Measured in the same run, medians of ``--repeats`` (the stamps from the cache: of ``--pairs`` one-worker and
two-worker runs in turn per repeat, the speed-up the median of each pair's ratio, as this shared machine's spells
move both runs of a pair alike):

* the cache build (``write_cutouts_partition``, one process): seconds per brick and per galaxy, bytes read per galaxy
  (every brick file is decoded whole, once), bytes stored per galaxy;
* the stamps of every partition on one worker from the cache (``StampsJob.cutout_cache``) and from the bricks (the
  path before the cache: each partition re-reads its galaxies' bricks by sections): stamps/s/core and the ratio;
* the stamps from the cache on two workers (one pool for every partition and every repeat, as a run starts them once),
  started before the clock: the speed-up, and what starting them costs;
* what a process pays once per run before its first stamp (the bank's templates, the PSF kernels): one partition
  through each path before the clock, less a warm partition's time; the medians are of warm runs, as a run's many
  partitions make them;
* peak RSS of this process and of the largest worker;
* the projection for the real train tier (145,000 galaxies on ~132,000 bricks, 11.75 M stamps) against the pipeline
  we replace (272 vCores x 2 h 25 m for Phase 4c, 13.3 TB of cached bricks).
"""

import argparse
import dataclasses
import glob
import os
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa
from _common import save
from astropy.wcs import WCS
from stamps import train_manifest

from dhs_core.bank import build_generated_bank
from dhs_core.catalog.selection import selection_partition_keys
from dhs_core.conventions import PIXEL_SCALE_ARCSEC
from dhs_core.hashing import spark_xxhash64
from dhs_core.stamps.cutouts import write_cutouts_partition
from dhs_core.stamps.partition import StampsJob, stamps_pool, write_stamps_partition
from dhs_core.stamps.read import stamp_files
from dhs_core.survey.cutout_sources import LocalCoadds
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.mock_render import write_compressed

WORK = os.path.join(os.path.dirname(__file__), "work", "real_density")
BRICK_PX = 3600
UNIQUE_PX = 3435  # 0.25 deg of 0.262" pixels: DR10's images reach ~82 pixels beyond the unique area
BRICK_DEG = 0.25
SKY_SIGMA = {"g": 0.0025, "r": 0.0034, "z": 0.0090}  # nMgy per pixel, DR10-like
TRAIN_GALAXIES, TRAIN_STAMPS, TRAIN_BRICKS = 145_000, 11_750_000, 132_000
OLD_VCORE_HOURS, OLD_CACHE_TB = 272 * (2 + 25 / 60), 13.3


def brick_name(i: int) -> str:
    return f"{1000 + 3 * i:04d}p050"  # RA 100.0 + 0.3 i deg, Dec +5.0: names as DR10 spells them


def brick_wcs(i: int) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [100.0 + 0.3 * i, 5.0]
    wcs.wcs.crpix = [(BRICK_PX + 1) / 2] * 2  # legacypipe's rule: the reference pixel is the image's centre
    wcs.wcs.cd = [[-PIXEL_SCALE_ARCSEC / 3600, 0], [0, PIXEL_SCALE_ARCSEC / 3600]]
    return wcs


def write_brick(i: int) -> None:
    """One brick's 7 files, deterministically (seeded by its index)."""
    layout, name = SurveyLayout(WORK), brick_name(i)
    if os.path.exists(layout.coadd_path(name, "maskbits")):
        return
    rng = np.random.default_rng(i)
    os.makedirs(layout.coadd_dir(name), exist_ok=True)
    header = brick_wcs(i).to_header()
    exposures = np.full((BRICK_PX, BRICK_PX), 4.0, np.float32)
    for _ in range(6):  # the footprints of other exposures: invvar piecewise constant
        x0, y0, w, h = rng.integers(0, BRICK_PX, 4)
        exposures[y0 : y0 + h, x0 : x0 + w] += 1
    for band, sigma in SKY_SIGMA.items():
        image = rng.normal(0.0, sigma, (BRICK_PX, BRICK_PX)).astype(np.float32)
        invvar = (exposures / (4 * sigma**2)).astype(np.float32)
        write_compressed(layout.coadd_path(name, "image", band), image, header, 1 + i)
        write_compressed(
            layout.coadd_path(name, "invvar", band), invvar, header, 1 + i, -1e-3 * float(np.median(invvar))
        )
    maskbits = np.zeros((BRICK_PX, BRICK_PX), np.int32)
    margin = (BRICK_PX - UNIQUE_PX) // 2
    for edge in (np.s_[:margin], np.s_[-margin:], np.s_[:, :margin], np.s_[:, -margin:]):
        maskbits[edge] = 1  # NPRIMARY: outside the unique area
    for _ in range(4):
        x0, y0 = rng.integers(0, BRICK_PX - 200, 2)
        maskbits[y0 : y0 + 150, x0 : x0 + 150] |= 2  # bright-star patches
    write_compressed(layout.coadd_path(name, "maskbits"), maskbits, header, 1 + i)


def galaxies(bricks: int) -> pa.Table:
    """1.1 galaxies per brick, in the unique areas (deg)."""
    rng = np.random.default_rng(11)
    rows = []
    for i in range(bricks):
        for _ in range(2 if i % 10 == 0 else 1):
            x, y = rng.uniform(BRICK_PX / 2 - UNIQUE_PX / 2 + 10, BRICK_PX / 2 + UNIQUE_PX / 2 - 10, 2)
            ra, dec = brick_wcs(i).pixel_to_world_values(x, y)
            e1, e2 = rng.uniform(-0.2, 0.2, 2)
            rows.append(
                {"brickname": brick_name(i), "objid": len(rows), "ra": float(ra), "dec": float(dec)}
                | {"shape_e1": float(e1), "shape_e2": float(e2)}
            )
    return pa.Table.from_pylist(rows)


def ready(seconds: float) -> tuple[int, float]:
    """A worker process with the engine's modules imported (a run pays it once per worker), held ``seconds`` so that
    each worker takes one; its pid and peak RSS so far (MB, ``VmHWM``: unlike ``ru_maxrss`` it does not count the
    parent's pages a spawned child held before its exec)."""
    import dhs_core.stamps.partition  # noqa: F401

    time.sleep(seconds)
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    return os.getpid(), peak / 1024


def stamps(manifests: list[pa.Table], job: StampsJob, data: str, pool=None) -> float:
    """Write every partition's stamps; the seconds taken."""
    start = time.perf_counter()
    for tasks in manifests:
        write_stamps_partition(
            tasks, job, data, "injected_stamps", tasks["selection_set_id"][0].as_py(), pool=pool
        )
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bricks", type=int, default=100)
    parser.add_argument("--tasks-per-partition", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--unit-tasks", type=int, default=256)
    args = parser.parse_args()
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(write_brick, range(args.bricks)))
    print(f"survey: {args.bricks} bricks of {BRICK_PX}^2 in {time.perf_counter() - start:.0f} s (once)")
    bank = os.path.join(WORK, "bank.h5")
    if not os.path.exists(bank):
        build_generated_bank(bank, 200, seed=3)
    parent = galaxies(args.bricks)
    manifests = [
        train_manifest(parent, 20.5, selection_set, replicates=args.tasks_per_partition)
        for selection_set in selection_partition_keys()[: args.partitions]
    ]
    ids = spark_xxhash64(
        parent["brickname"].to_pylist(), parent["objid"].to_numpy()
    )  # as the manifest's row_id
    parent = parent.append_column("row_id", pa.array(ids, pa.int64()))
    used = len(set(manifests[0]["row_id"].to_pylist()))
    n_tasks = sum(m.num_rows for m in manifests)
    layout, data = SurveyLayout(WORK), os.path.join(WORK, "data")
    brick_bytes = sum(
        os.path.getsize(p)
        for i in range(args.bricks)
        for p in glob.glob(f"{layout.coadd_dir(brick_name(i))}/*")
    )
    print(
        f"{parent.num_rows} galaxies on {args.bricks} bricks, all cached; {n_tasks} tasks on the {used} the manifests "
        f"chose, in {args.partitions} partitions ({n_tasks / used:.0f} per galaxy); bricks "
        f"{brick_bytes / args.bricks / 1e6:.0f} MB each"
    )

    build, from_cache, from_bricks, two_workers, worker_rss, first = [], [], [], [], [], []
    job = StampsJob(WORK, bank, workers=1, unit_tasks=args.unit_tasks)
    # the two workers are started once, as a run starts them
    with stamps_pool(2) as workers:
        t = time.perf_counter()
        assert len(dict(workers.map(ready, [1.0, 1.0]))) == 2  # both workers up, their modules imported
        startup = time.perf_counter() - t - 1.0
        for _ in range(args.repeats):  # alternate, so that a slow spell of the machine hits every measurement
            t = time.perf_counter()
            cache, counts = write_cutouts_partition(
                LocalCoadds(layout), parent, data, "galaxy_cutouts", "train"
            )
            build.append(time.perf_counter() - t)
            cached_job = dataclasses.replace(job, cutout_cache=tuple(stamp_files(cache)))
            two_job = dataclasses.replace(cached_job, workers=2)
            # each process prepares the templates and kernels once: off the clock, reported apart
            if not first:
                first = [
                    stamps(manifests[:1], cached_job, data),
                    stamps(manifests[:1], two_job, data, workers),
                ]
            from_bricks.append(stamps(manifests, job, data))
            for _ in range(args.pairs):
                from_cache.append(stamps(manifests, cached_job, data))
                two_workers.append(stamps(manifests, two_job, data, workers))
            worker_rss.append(max(dict(workers.map(ready, [1.0, 1.0])).values()))
    cache_bytes = sum(os.path.getsize(p) for p in glob.glob(f"{cache}/*.parquet"))
    stamp_bytes = sum(os.path.getsize(p) for p in glob.glob(f"{data}/injected_stamps/*/*.parquet"))
    b, c, k, w = (statistics.median(v) for v in (build, from_cache, from_bricks, two_workers))
    rate_cache, rate_bricks, rate_two = n_tasks / c, n_tasks / k, n_tasks / w
    speedup = statistics.median(one / two for one, two in zip(from_cache, two_workers))
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_workers = max(worker_rss)
    prepare_one, prepare_two = first[0] - c / args.partitions, first[1] - w / args.partitions
    per_galaxy_build = b / parent.num_rows
    per_galaxy_cache = cache_bytes / parent.num_rows
    per_stamp = stamp_bytes / n_tasks
    core_hours = (b / args.bricks * TRAIN_BRICKS + TRAIN_STAMPS / rate_cache) / 3600
    storage_tb = (per_galaxy_cache * TRAIN_GALAXIES + per_stamp * TRAIN_STAMPS) / 1e12
    print(
        f"cache build, one process: {b / args.bricks:.2f} s per brick, {per_galaxy_build:.2f} s per galaxy "
        f"(median of {', '.join(f'{x:.1f}' for x in build)} s); {brick_bytes / parent.num_rows / 1e6:.0f} MB read "
        f"and {per_galaxy_cache / 1e3:.0f} kB stored per galaxy"
    )
    print(
        f"stamps, one worker: {rate_cache:.0f} stamps/s/core from the cache, {rate_bricks:.0f} from the bricks "
        f"({rate_cache / rate_bricks:.1f}x); medians of {', '.join(f'{n_tasks / x:.0f}' for x in from_cache)} and "
        f"{', '.join(f'{n_tasks / x:.0f}' for x in from_bricks)}"
    )
    print(
        f"stamps from the cache, two workers started: {rate_two:.0f} stamps/s, {speedup:.2f}x one worker (the "
        f"median of {len(two_workers)} pairs' ratios: {', '.join(f'{a / b:.2f}' for a, b in zip(from_cache, two_workers))}"
        f"; the two-worker runs {', '.join(f'{n_tasks / x:.0f}' for x in two_workers)}); starting them takes "
        f"{startup:.1f} s, once per run"
    )
    print(
        f"before the first stamp (templates, PSF kernels; once per process and run, off the medians): "
        f"{prepare_one:.1f} s one worker, {prepare_two:.1f} s two workers"
    )
    print(
        f"peak RSS: {rss_self:.0f} MB this process (cache build, one-worker runs), {rss_workers:.0f} MB a worker"
    )
    print(
        f"projection, train tier ({TRAIN_GALAXIES:,} galaxies on ~{TRAIN_BRICKS:,} bricks, {TRAIN_STAMPS:,} stamps): "
        f"{core_hours:,.0f} core-hours (cache {b / args.bricks * TRAIN_BRICKS / 3600:,.0f}, stamps "
        f"{TRAIN_STAMPS / rate_cache / 3600:,.0f}) against {OLD_VCORE_HOURS:,.0f} vCore-hours; storage "
        f"{storage_tb:.2f} TB (cache {per_galaxy_cache * TRAIN_GALAXIES / 1e12:.3f}, stamps "
        f"{per_stamp * TRAIN_STAMPS / 1e12:.2f}) against {OLD_CACHE_TB} TB of cached bricks"
    )
    figures = {
        "bricks": args.bricks,
        "galaxies": parent.num_rows,
        "tasks": n_tasks,
        "cache_counts": counts,
        "cache_build_s_per_brick": b / args.bricks,
        "cache_build_s_per_galaxy": per_galaxy_build,
        "bytes_read_per_galaxy": brick_bytes / parent.num_rows,
        "cache_bytes_per_galaxy": per_galaxy_cache,
        "stamps_per_s_per_core_from_cache": rate_cache,
        "stamps_per_s_per_core_from_bricks": rate_bricks,
        "two_workers_speedup": speedup,
        "stamps_per_s_two_workers": rate_two,
        "worker_startup_s": startup,
        "first_partition_extra_s": {"one_worker": prepare_one, "two_workers": prepare_two},
        "peak_rss_mb": rss_self,
        "worker_peak_rss_mb": rss_workers,
        "train_tier_core_hours": core_hours,
        "train_tier_storage_tb": storage_tb,
    }
    print(f"figures saved to {save('stamps_real_density', figures)}")


if __name__ == "__main__":
    main()
