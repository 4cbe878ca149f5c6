"""Mock DR10 sky build time and size: the default demo sky, parallel against a serial build.

    python bench/mock_sky.py [--repeats 3]

Prints the median wall time of ``build_mock_sky`` with all cores and with one worker (the peer, same
run), their ratio, and the sky's size on disk.
"""

import argparse
import os
import shutil
import tempfile

from _common import median_seconds, save

from dhs_core.survey.mocksky import build_mock_sky


def _size(root: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="dhs-bench-")
    try:
        root = os.path.join(work, "sky")
        parallel, runs = median_seconds(lambda: build_mock_sky(root, seed=1, overwrite=True), args.repeats)
        size = _size(root)
        serial, _ = median_seconds(
            lambda: build_mock_sky(root, seed=1, workers=1, overwrite=True), args.repeats
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"default mock sky: median {parallel:.1f} s on {os.cpu_count()} cores (runs: {', '.join(f'{t:.1f}' for t in runs)}), "
        f"{size / 1e6:.0f} MB on disk"
    )
    print(f"serial build (1 worker): {serial:.1f} s; speed-up {serial / parallel:.2f}x")
    path = save("mock_sky", {"parallel_s": parallel, "serial_s": serial, "size_bytes": size, "runs_s": runs})
    print(f"figures saved to {path}")


if __name__ == "__main__":
    main()
