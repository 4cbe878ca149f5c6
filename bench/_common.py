"""Shared helpers for the benchmarks: repeated timing with medians, and a results file."""

import json
import os
import platform
import statistics
import time


def median_seconds(fn, repeats: int) -> tuple[float, list[float]]:
    """Run ``fn`` ``repeats`` times; return the median wall time (s) and all of them."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def save(name: str, figures: dict) -> str:
    folder = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.json")
    record = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **figures,
    }
    with open(path, "w") as fh:
        json.dump(record, fh, indent=2)
    return path
