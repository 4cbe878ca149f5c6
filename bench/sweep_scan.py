"""Phase 2 throughput on a sweep-sized synthetic FITS file: rows/s/core, reading only the needed columns.

    python bench/sweep_scan.py [--rows 1000000] [--repeats 3]

Writes a sweep with the DR10 columns dhs reads plus 60 filler columns (a real sweep row is ~600 bytes),
then times ``read_sweep`` + ``select_sweep_galaxies`` (one process, one core) against the peer measured
in the same run: astropy's ``Table.read`` of the whole file followed by the same selection.
"""

import argparse
import os
import tempfile

import numpy as np
import pyarrow as pa
from _common import median_seconds, save
from astropy.io import fits
from astropy.table import Table

from dhs_core.catalog.lrg import SWEEP_LRG_INPUT_COLUMNS, LrgSelectionConfig, select_sweep_galaxies
from dhs_core.survey.sweeps import PIPELINE_SWEEP_COLUMNS, SWEEP_FORMATS, read_sweep


def write_sweep(path: str, rows: int) -> None:
    rng = np.random.default_rng(0)
    cols = []
    for name in PIPELINE_SWEEP_COLUMNS:
        fmt = SWEEP_FORMATS.get(name, "E")
        if name == "TYPE":
            values = rng.choice(np.array(["PSF", "REX", "DEV", "EXP", "SER"], dtype="S3"), rows)
        elif name == "BRICKNAME":
            values = np.array([b"0001p000"] * rows, dtype="S8")
        elif fmt == "2A":
            values = np.array([b"GE"] * rows, dtype="S2")
        elif name.startswith("FLUX_") and "IVAR" not in name:
            values = rng.lognormal(1.0, 1.0, rows).astype(np.float32)
        elif name.startswith("MW_TRANSMISSION"):
            values = rng.uniform(0.8, 1.0, rows).astype(np.float32)
        elif fmt in ("I", "J"):
            values = rng.integers(0, 5, rows).astype(np.int16 if fmt == "I" else np.int32)
        else:
            values = rng.normal(size=rows).astype(np.float64 if fmt == "D" else np.float32)
        cols.append(fits.Column(name=name, format=fmt, array=values))
    filler = np.zeros(rows, dtype=np.float64)
    cols += [fits.Column(name=f"EXTRA_{i:02d}", format="D", array=filler) for i in range(60)]
    fits.BinTableHDU.from_columns(cols).writeto(path, overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = LrgSelectionConfig()
    with tempfile.TemporaryDirectory(prefix="dhs-bench-") as work:
        path = os.path.join(work, "sweep-000m005-005p000.fits")
        write_sweep(path, args.rows)
        size = os.path.getsize(path)
        out = {}
        dhs, runs = median_seconds(
            lambda: out.update(
                n=select_sweep_galaxies(read_sweep(path, SWEEP_LRG_INPUT_COLUMNS), config).num_rows
            ),
            args.repeats,
        )

        def peer():
            table = Table.read(path)  # every column, as a straightforward reader does
            arrays = {}
            for name in SWEEP_LRG_INPUT_COLUMNS:
                values = np.asarray(table[name])
                arrays[name.lower()] = (
                    np.char.strip(values.astype(str))
                    if values.dtype.kind in "SU"
                    else values.astype(values.dtype.newbyteorder("="))
                )
            select_sweep_galaxies(pa.table(arrays), config)

        peer_seconds, _ = median_seconds(peer, args.repeats)
    rate, peer_rate = args.rows / dhs, args.rows / peer_seconds
    print(
        f"sweep of {args.rows:,} rows ({size / 1e6:.0f} MB, {len(PIPELINE_SWEEP_COLUMNS) + 60} columns): "
        f"{out['n']:,} galaxies pass the base cuts"
    )
    print(
        f"dhs read_sweep + select: median {dhs:.2f} s (runs {', '.join(f'{t:.2f}' for t in runs)}) -> {rate / 1e6:.2f} M rows/s/core"
    )
    print(
        f"peer (astropy Table.read of all columns + same selection): {peer_seconds:.2f} s -> {peer_rate / 1e6:.2f} M rows/s; "
        f"ratio {rate / peer_rate:.1f}x"
    )
    print(
        f"figures saved to {save('sweep_scan', {'rows': args.rows, 'rows_per_s': rate, 'peer_rows_per_s': peer_rate, 'runs_s': runs})}"
    )


if __name__ == "__main__":
    main()
