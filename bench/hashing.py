"""Spark-compatible xxhash64 throughput: dhs's vectorised numpy hash against the C xxhash library per row.

    python bench/hashing.py [--rows 12000000] [--repeats 5]

Prints rows/s for ``xxhash64(long column, lit(int))`` over 12 M rows (the manifest's row_id hash), for a
two-column string case, and the ratio against the peer: the C library called once per row from Python,
which is what a straightforward port does (measured on a subsample, same run, medians of the repeats).
"""

import argparse

import numpy as np
import xxhash
from _common import median_seconds, save

from dhs_core.hashing import spark_xxhash64


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=12_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peer-rows", type=int, default=300_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    row_id = rng.integers(-(2**63), 2**63 - 1, args.rows, dtype=np.int64)
    bricks = np.array([f"{i % 3600:04d}p{i % 300:03d}" for i in range(args.peer_rows)])

    dhs_long, runs = median_seconds(lambda: spark_xxhash64(row_id, 1337), args.repeats)
    peer_ids = row_id[: args.peer_rows]
    seed_bytes = np.int32(1337).tobytes()

    def peer_long():
        for v in peer_ids.tolist():
            xxhash.xxh64_intdigest(
                seed_bytes, xxhash.xxh64_intdigest(v.to_bytes(8, "little", signed=True), 42)
            )

    peer_seconds, _ = median_seconds(peer_long, args.repeats)
    dhs_string, _ = median_seconds(lambda: spark_xxhash64(bricks, 1337), args.repeats)

    dhs_rate = args.rows / dhs_long
    peer_rate = args.peer_rows / peer_seconds
    string_rate = args.peer_rows / dhs_string
    print(
        f"xxhash64(long column, int literal), {args.rows:,} rows: median {dhs_long:.3f} s -> {dhs_rate / 1e6:.1f} M rows/s "
        f"(runs: {', '.join(f'{t:.3f}' for t in runs)})"
    )
    print(f"peer (C xxhash per row from Python), {args.peer_rows:,} rows: {peer_rate / 1e6:.2f} M rows/s")
    print(f"ratio dhs / peer: {dhs_rate / peer_rate:.1f}x")
    print(f"xxhash64(string column, int literal): {string_rate / 1e6:.2f} M rows/s")
    path = save(
        "hashing",
        {
            "rows": args.rows,
            "long_rows_per_s": dhs_rate,
            "peer_rows_per_s": peer_rate,
            "ratio": dhs_rate / peer_rate,
            "string_rows_per_s": string_rate,
            "runs_s": runs,
        },
    )
    print(f"figures saved to {path}")


if __name__ == "__main__":
    main()
