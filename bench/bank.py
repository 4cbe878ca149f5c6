"""Source bank: build time per 1,000 templates, file size, HLR distributions, and template read latency
against drawing the galaxy with GalSim on demand (the peer), in the same run.

    python bench/bank.py [--generated 1000] [--reads 2000]

Builds a generated bank of ``--generated`` templates and the two-band AEGIS bank from the reference
data (``DHS_REFERENCE_DATA``, default ../shared/data), then times random ``bank.template(i)`` reads
against ``galsim.RealGalaxy`` drawn through the same Gaussian PSF on the same stamp (medians).
"""

import argparse
import os
import tempfile
import time

import galsim
import numpy as np
from _common import median_seconds, save

from dhs_core.bank import build_bank_from_galsim_catalog, build_generated_bank, open_bank


def describe(name, path, seconds):
    with open_bank(path) as bank:
        hlr = bank.meta["hlr_arcsec"].to_numpy()
        n = len(bank)
    size = os.path.getsize(path)
    figures = {
        "templates": n,
        "build_seconds_per_1000": 1000 * seconds / n,
        "file_mb": size / 1e6,
        "kb_per_template": size / n / 1e3,
        "hlr_arcsec_p5_p25_p50_p75_p95": np.percentile(hlr, [5, 25, 50, 75, 95]).round(3).tolist(),
    }
    print(
        f"{name}: {n} templates, {figures['build_seconds_per_1000']:.1f} s per 1,000, {figures['file_mb']:.1f} MB "
        f"({figures['kb_per_template']:.0f} kB each), HLR p5/25/50/75/95 = {figures['hlr_arcsec_p5_p25_p50_p75_p95']} arcsec"
    )
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--generated", type=int, default=1000)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    reference = os.environ.get(
        "DHS_REFERENCE_DATA",
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"),
    )
    folder = os.path.join(reference, "galsim_cosmos")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generated = build_generated_bank(os.path.join(tmp, "generated.h5"), args.generated, seed=1)
        figures = {"generated": describe("generated", generated, time.perf_counter() - start)}
        start = time.perf_counter()
        aegis = build_bank_from_galsim_catalog(
            [
                os.path.join(folder, "AEGIS_F606w_catalog.fits"),
                os.path.join(folder, "AEGIS_F814w_catalog.fits"),
            ],
            os.path.join(tmp, "aegis.h5"),
        )
        figures["aegis"] = describe("AEGIS F606W+F814W", aegis, time.perf_counter() - start)
        rng = np.random.default_rng(0)
        with open_bank(generated) as bank:
            order = rng.integers(0, len(bank), args.reads)
            read, _ = median_seconds(lambda: [bank.template(int(i)) for i in order], 5)
        catalog = galsim.RealGalaxyCatalog("AEGIS_F814w_catalog.fits", dir=folder)
        psf = galsim.Gaussian(fwhm=0.10)
        draws = rng.integers(0, catalog.nobjects, 50)
        drawn, _ = median_seconds(
            lambda: [
                galsim.Convolve(galsim.RealGalaxy(catalog, index=int(i)), psf).drawImage(
                    nx=128, ny=128, scale=0.03
                )
                for i in draws
            ],
            5,
        )
    read_us, draw_us = 1e6 * read / args.reads, 1e6 * drawn / len(draws)
    print(
        f"template read: {read_us:.0f} us (random index, lazy HDF5); GalSim draw on demand: {draw_us:.0f} us -> {draw_us / read_us:.0f}x"
    )
    figures.update(read_us=read_us, galsim_draw_us=draw_us, ratio=draw_us / read_us)
    print(f"figures saved to {save('bank', figures)}")


if __name__ == "__main__":
    main()
