"""Phase 4c end to end on the mock sky: coadd read, cutout, render, metrics and Parquet write of a manifest
partition, against an original-style per-stamp pipeline measured in the same run.

    python bench/stamps.py [--galaxies 300] [--peer-tasks 60] [--repeats 3]

The manifest: the mock sky's extended galaxies, the train tier (one configuration per galaxy, 2 replicates,
half of them controls), template sources from a generated bank, S/N targets. dhs writes the
partition with ``write_stamps_partition`` on one worker (stamps/s/core) and on every core. The peer does
what the original's Phase 4c did per task, on one core: the brick's coadds read whole with astropy (once
per brick, as its cache did), the cutout, lenstronomy's ImageModel per band (INTERPOL source,
supersampling 4, one model per PSF reused), the S/N scaling, ``np.savez_compressed`` of the stamp into a
binary column, gzip Parquet. Prints medians of ``--repeats`` runs, their ratio and peak RSS.
"""

import argparse
import io
import os
import resource
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _common import save
from astropy.io import fits
from render import lenstronomy_inject

from dhs_core.bank import build_generated_bank, open_bank
from dhs_core.conventions import stamp_origin
from dhs_core.hashing import spark_xxhash64
from dhs_core.manifest.build import ManifestConfig, build_manifest
from dhs_core.manifest.sampling import stratum_edges
from dhs_core.stamps.build import engine_tasks
from dhs_core.stamps.partition import StampsJob, write_stamps_partition
from dhs_core.survey.coadds import Cutout, wcs_from_header
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.mocksky import build_mock_sky
from dhs_core.survey.sweeps import read_sweep

WORK = os.path.join(os.path.dirname(__file__), "work", "stamps")


def sky_and_bank() -> tuple[str, str]:
    sky, bank = os.path.join(WORK, "mock_sky"), os.path.join(WORK, "bank.h5")
    if not os.path.exists(os.path.join(sky, "mock_sky.json")):
        build_mock_sky(sky, seed=1, overwrite=True)
    if not os.path.exists(bank):
        build_generated_bank(bank, 200, seed=3)
    return sky, bank


def manifest(sky: str, galaxies: int, **settings) -> pa.Table:
    rows = []
    for path in SurveyLayout(sky).sweep_paths():
        sweep = read_sweep(
            path, ["BRICKNAME", "OBJID", "RA", "DEC", "TYPE", "FLUX_R", "SHAPE_E1", "SHAPE_E2"]
        )
        rows += [r for r in sweep.to_pylist() if r["type"] != "PSF" and r["flux_r"] > 3]
    rows = pa.Table.from_pylist(rows[:galaxies])
    return train_manifest(
        rows.drop_columns(["type", "flux_r"]), 22.5 - 2.5 * np.log10(rows["flux_r"].to_numpy()), **settings
    )


def train_manifest(galaxies: pa.Table, rmag, selection_set: str = "topk_density", **settings) -> pa.Table:
    """A train-tier manifest (S/N targets, template sources) of ``galaxies`` (``brickname``, ``objid``, ``ra``,
    ``dec``, ``shape_e1``, ``shape_e2``) of r magnitude ``rmag``, their bricks' PSF and depth spread over the strata
    the sampling balances; ``settings``: other ``ManifestConfig`` fields."""
    n = galaxies.num_rows
    rng = np.random.default_rng(5)
    psf, depth = rng.uniform(1.0, 1.6, n), rng.uniform(24.0, 25.0, n)
    names = galaxies["brickname"].to_pylist()
    table = pa.table(
        {
            "row_id": spark_xxhash64(names, galaxies["objid"].to_numpy().astype(np.int64)),
            "brickname": names,
            "objid": galaxies["objid"],
            "ra": galaxies["ra"],
            "dec": galaxies["dec"],
            "zmag": np.full(n, 19.0),
            "rmag": np.broadcast_to(rmag, n),
            "w1mag": np.full(n, 17.0),
            "rz": np.full(n, 1.2),
            "zw1": np.full(n, 1.5),
            "shape_e1": galaxies["shape_e1"],
            "shape_e2": galaxies["shape_e2"],
            "region_id": names,
            "split": ["train"] * n,
            "brick_psfsize_g": psf + 0.1,
            "brick_psfsize_r": psf,
            "brick_psfsize_z": psf - 0.1,
            "brick_psfdepth_mag5_r": depth,
            "brick_ebv": np.full(n, 0.03),
            **{f"psfsize_{b}": psf + offset for b, offset in zip("grz", (0.1, 0.0, -0.1))},
            **{f"psfdepth_mag5_{b}": depth + offset for b, offset in zip("grz", (0.3, 0.0, -0.8))},
        }
    )
    config = ManifestConfig.for_tier(
        tier="train", n_galaxies=n, n_templates=200, brightness_mode="snr", **settings
    )
    return build_manifest(
        table,
        selection_set,
        selection_set,
        "train",
        stratum_edges(psf, "p"),
        stratum_edges(depth, "d"),
        config,
    )


def original_style(manifest: pa.Table, sky: str, bank_path: str) -> int:
    """The peer: per task, as the original did; returns the bytes written."""
    layout, tasks = SurveyLayout(sky), engine_tasks(manifest).to_pylist()
    bricks, blobs = {}, []
    with open_bank(bank_path) as bank:
        for i, task in enumerate(tasks):
            name = manifest["brickname"][i].as_py()
            if name not in bricks:  # the coadd cache: a brick's seven files read whole, once
                planes = {
                    f"{p}_{b}": fits.getdata(layout.coadd_path(name, p, b), 1).astype(np.float32)
                    for p in ("image", "invvar")
                    for b in "grz"
                }
                planes["maskbits"] = fits.getdata(layout.coadd_path(name, "maskbits"), 1)
                bricks = {
                    name: (planes, wcs_from_header(fits.getheader(layout.coadd_path(name, "image", "r"), 1)))
                }
            planes, wcs = bricks[name]
            x, y = wcs.world_to_pixel_values(manifest["ra"][i].as_py(), manifest["dec"][i].as_py())
            x0, y0 = (int(v) for v in stamp_origin(float(x), float(y), 64))
            cut = lambda a: np.pad(a, 64)[y0 + 64 : y0 + 128, x0 + 64 : x0 + 128]  # noqa: E731, B023 (used in this iteration)
            cutout = Cutout(
                np.stack([cut(planes[f"image_{b}"]) for b in "grz"]),
                np.stack([cut(planes[f"invvar_{b}"]) for b in "grz"]),
                cut(planes["maskbits"]),
                float(x) - x0,
                float(y) - y0,
                "grz",
                ("ok",) * 3,
                "ok",
            )
            stamp = cutout.image
            if not task["is_control"]:
                stamp = (
                    cutout.image
                    + lenstronomy_inject(bank.template(task["template_index"]), [cutout], [task])[0]
                )
            buffer = io.BytesIO()
            np.savez_compressed(buffer, image_g=stamp[0], image_r=stamp[1], image_z=stamp[2])
            blobs.append(buffer.getvalue())
    path = os.path.join(WORK, "peer.parquet")
    pq.write_table(
        pa.table(
            {"task_id": manifest["task_id"].slice(0, len(blobs)), "stamp_npz": pa.array(blobs, pa.binary())}
        ),
        path,
        compression="gzip",
    )
    return os.path.getsize(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--galaxies", type=int, default=2000)
    parser.add_argument("--peer-tasks", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sky, bank = sky_and_bank()
    tasks = manifest(sky, args.galaxies)
    order = np.argsort(tasks["brickname"].to_numpy(zero_copy_only=False), kind="stable")
    peer_tasks = tasks.take(
        order[: args.peer_tasks]
    )  # whole bricks first, as the original's cache would see them
    data = os.path.join(WORK, "data")
    one, every = (StampsJob(sky, bank, workers=w) for w in (1, os.cpu_count()))
    rates, parallel_rates, peer_rates, counts = [], [], [], {}
    for _ in range(args.repeats):  # alternate, so that a slow spell of the machine hits all three
        start = time.perf_counter()
        folder, counts = write_stamps_partition(tasks, one, data, "injected_stamps", "bench")
        rates.append(tasks.num_rows / (time.perf_counter() - start))
        start = time.perf_counter()
        write_stamps_partition(tasks, every, data, "injected_stamps", "bench")
        parallel_rates.append(tasks.num_rows / (time.perf_counter() - start))
        start = time.perf_counter()
        peer_bytes = original_style(peer_tasks, sky, bank)
        peer_rates.append(peer_tasks.num_rows / (time.perf_counter() - start))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    rate, parallel, peer = (statistics.median(v) for v in (rates, parallel_rates, peer_rates))
    ratio = statistics.median(a / b for a, b in zip(rates, peer_rates))
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    bricks = len(set(tasks["brickname"].to_pylist()))
    print(f"{tasks.num_rows} tasks on {bricks} bricks ({counts['ok']} ok, {counts['controls']} controls)")
    print(f"dhs, one worker: {rate:.0f} stamps/s/core (median of {', '.join(f'{r:.0f}' for r in rates)})")
    print(f"dhs, {os.cpu_count()} workers: {parallel:.0f} stamps/s ({parallel / rate:.2f}x one worker)")
    print(
        f"original-style peer: {peer:.1f} stamps/s/core on {peer_tasks.num_rows} tasks (median of {', '.join(f'{r:.1f}' for r in peer_rates)})"
    )
    print(f"ratio dhs / peer, one core: {ratio:.0f}x")
    print(
        f"storage: {size / tasks.num_rows / 1e3:.1f} kB per stamp row (image, invvar, maskbits, arc, every column); "
        f"peer {peer_bytes / peer_tasks.num_rows / 1e3:.1f} kB (image only)"
    )
    print(f"peak RSS: {rss_self:.0f} MB this process, {rss_workers:.0f} MB the largest worker")
    print(
        f"figures saved to {save('stamps', {'stamps_per_s_per_core': rate, 'parallel_stamps_per_s': parallel, 'peer_stamps_per_s': peer, 'ratio': ratio, 'kb_per_row': size / tasks.num_rows / 1e3, 'peak_rss_mb': rss_self, 'worker_peak_rss_mb': rss_workers, 'tasks': tasks.num_rows})}"
    )


if __name__ == "__main__":
    main()
