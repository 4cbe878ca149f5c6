"""The fetch layer against a naive sequential downloader, on a loopback portal that behaves like a remote one.

    python bench/fetch.py [--sky ../data/mock_sky] [--repeats 3] [--connections 8]

The mock sky (built if missing, as `make demo` builds it) is served by ``dhs serve`` in its own process on
127.0.0.1 with 50 ms added to every answer and each connection capped at 20 MB/s. Both clients fetch every coadd
file of the sky (7 per brick) into an empty folder: dhs's ``fetch`` with 8 connections, and a peer that does one
``urllib.request.urlopen`` at a time and writes the body (no retries, no checks: the least a script does). Prints
medians of ``--repeats`` alternating runs, their ratio, dhs's client CPU per GB fetched, and what 1,000 real DR10
bricks would take at the rates the original pipeline measured.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from _common import save

from dhs_core.fetch import fetch
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.mocksky import build_mock_sky

LATENCY_S = 0.05
RATE_MB_S = 20.0
# the original's Stage 4b (original_pipeline.md §4.1, §8): 13.32 TB for 180,152 bricks (7 + 3 files each), 5 h on 10 nodes
REAL_BYTES_PER_BRICK_7_FILES = 13.32e12 / 180_152 * 7 / 10
ORIGINAL_NODE_RATE_B_S = 13.32e12 / (5 * 3600) / 10


def coadd_paths(sky: str) -> list[str]:
    layout = SurveyLayout(sky)
    paths = []
    for folder, _, names in os.walk(os.path.join(sky, "coadd")):
        paths += [
            os.path.relpath(os.path.join(folder, n), sky).replace(os.sep, "/")
            for n in sorted(names)
            if n.endswith(".fits.fz")
        ]
    assert paths and os.path.exists(layout.path(paths[0]))
    return sorted(paths)


def naive(url: str, paths: list[str], dest: str) -> None:
    for path in paths:
        target = os.path.join(dest, *path.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with urllib.request.urlopen(f"{url}/{path}", timeout=180) as response, open(target, "wb") as handle:
            shutil.copyfileobj(response, handle)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sky", default=os.path.join(os.path.dirname(__file__), "..", "data", "mock_sky"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    sky = os.path.abspath(args.sky)
    if not os.path.exists(os.path.join(sky, "mock_sky.json")):
        build_mock_sky(sky, seed=1)
    paths = coadd_paths(sky)
    total = sum(os.path.getsize(os.path.join(sky, *p.split("/"))) for p in paths)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dhs_assets.cli",
            "serve",
            sky,
            "--latency-s",
            str(LATENCY_S),
            "--rate-mb-s",
            str(RATE_MB_S),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        times = {"dhs": [], "naive": []}
        cpu = []
        for _ in range(args.repeats):
            for name in ("dhs", "naive"):  # alternating, so drifts of the machine hit both
                with tempfile.TemporaryDirectory() as dest:
                    start, start_cpu = time.perf_counter(), cpu_seconds()
                    if name == "dhs":
                        table = fetch(url, paths, dest, connections=args.connections)
                        assert set(table["status"].to_pylist()) == {"ok"}, table.filter(
                            table["status"] != "ok"
                        ).to_pylist()[:3]
                        cpu.append(cpu_seconds() - start_cpu)
                    else:
                        naive(url, paths, dest)
                    times[name].append(time.perf_counter() - start)
    finally:
        server.terminate()
        server.wait(timeout=10)
    dhs, peer = statistics.median(times["dhs"]), statistics.median(times["naive"])
    cpu_per_gb = statistics.median(cpu) / (total / 1e9)
    rate = total / dhs
    real_bytes = 1000 * REAL_BYTES_PER_BRICK_7_FILES
    figures = {
        "files": len(paths),
        "bytes": total,
        "latency_s": LATENCY_S,
        "rate_mb_s_per_connection": RATE_MB_S,
        "connections": args.connections,
        "dhs_s": times["dhs"],
        "naive_s": times["naive"],
        "dhs_median_s": dhs,
        "naive_median_s": peer,
        "speedup": peer / dhs,
        "dhs_mb_s": rate / 1e6,
        "client_cpu_s_per_gb": cpu_per_gb,
        "projection_1000_bricks": {
            "bytes": real_bytes,
            "hours_at_this_bench_rate": real_bytes / rate / 3600,
            "hours_at_the_original_per_node_rate": real_bytes / ORIGINAL_NODE_RATE_B_S / 3600,
        },
    }
    print(
        f"{len(paths)} coadd files, {total / 1e6:.1f} MB; loopback portal {LATENCY_S * 1e3:.0f} ms + {RATE_MB_S:.0f} MB/s per connection"
    )
    print(
        f"dhs fetch, {args.connections} connections: median {dhs:.2f} s ({rate / 1e6:.0f} MB/s), client CPU {cpu_per_gb:.1f} s per GB"
    )
    print(f"naive sequential urllib:        median {peer:.2f} s  -> dhs is {peer / dhs:.1f}x faster")
    print(
        f"1,000 real bricks (7 files, ~{real_bytes / 1e9:.0f} GB): {figures['projection_1000_bricks']['hours_at_this_bench_rate']:.2f} h at "
        f"this rate, {figures['projection_1000_bricks']['hours_at_the_original_per_node_rate']:.2f} h at the original's per-node rate"
    )
    print("results ->", save("fetch", figures))


if __name__ == "__main__":
    main()
