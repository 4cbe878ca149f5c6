"""Generated fallback bank: Sérsic galaxies with star-forming clumps, drawn with GalSim, no noise.

Per template (seeded by the template index): half-light radius log-uniform in ``hlr_range`` (arcsec),
Sérsic index uniform in [0.5, 2], axis ratio uniform in [0.3, 1], position angle uniform; 0-4 clumps
(Gaussians of 0.02-0.05" sigma, each 5-15 % of the light) within 1.5 half-light radii, the whole shifted
so that its light centroid sits on the stamp centre. Drawn through a
Gaussian PSF of ``psf_fwhm`` at ``pixel_scale`` on a ``stamp_size`` grid, normalised to unit flux,
measured like real templates (a draw whose measured size falls outside ``hlr_range`` is replaced by the next
one, and counted), and labelled synthetic in the file's attributes.
"""

from __future__ import annotations

import pathlib

import galsim
import numpy as np
import pyarrow as pa

from dhs_core.bank.measure import measure
from dhs_core.bank.settings import BankConfig
from dhs_core.bank.store import write_bank
from dhs_core.catalog.splits import SPLITS
from dhs_core.errors import ConfigError
from dhs_core.manifest.draws import template_splits

DEFAULTS = BankConfig().drawing()


def build_generated_bank(out_path, n: int, seed: int, **options) -> pathlib.Path:
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ConfigError("bank options", sorted(unknown), f"among {sorted(DEFAULTS)}")
    if n < 1:
        raise ConfigError("bank n", n, ">= 1")
    o = {**DEFAULTS, **options}
    lo, hi = o["hlr_range"]
    psf = galsim.Gaussian(fwhm=o["psf_fwhm"])
    gsparams = galsim.GSParams(maximum_fft_size=16384)
    images, metas, candidate, rejected = [], [], 0, 0
    while len(images) < n:
        index, candidate = candidate, candidate + 1
        if candidate > 10 * n + 100:
            raise ConfigError(
                "generated bank",
                f"{rejected} of {candidate} drawn outside the HLR range",
                "a wider hlr_range",
            )
        rng = np.random.default_rng([seed, index])
        hlr = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        sersic_n, q, pa_rad = (
            float(rng.uniform(0.5, 2.0)),
            float(rng.uniform(0.3, 1.0)),
            float(rng.uniform(0, np.pi)),
        )
        clump_fractions = rng.uniform(0.05, 0.15, rng.integers(0, 5))
        disk = galsim.Sersic(
            n=sersic_n, half_light_radius=hlr, flux=1.0 - clump_fractions.sum(), gsparams=gsparams
        )
        parts, offsets = [disk.shear(q=q, beta=pa_rad * galsim.radians)], []
        for fraction in clump_fractions:
            radius, angle = 1.5 * hlr * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            offsets.append((fraction * radius * np.cos(angle), fraction * radius * np.sin(angle)))
            parts.append(
                galsim.Gaussian(sigma=float(rng.uniform(0.02, 0.05)), flux=float(fraction)).shift(
                    radius * np.cos(angle), radius * np.sin(angle)
                )
            )
        light_centre = (
            np.sum(offsets, axis=0) if offsets else np.zeros(2)
        )  # clumps pull the centroid: put it back
        galaxy = galsim.Add(parts).shift(-light_centre[0], -light_centre[1])
        image = (
            galsim.Convolve(galaxy, psf)
            .drawImage(nx=o["stamp_size"], ny=o["stamp_size"], scale=o["pixel_scale"])
            .array
        )
        image = image.astype(np.float64) / image.sum()
        measured = measure(image, o["pixel_scale"])
        if (
            not lo <= measured["hlr_arcsec"] <= hi
        ):  # the PSF and clumps widen it: keep the measured size in range
            rejected += 1
            continue
        images.append(image)
        metas.append(
            {
                "source_id": f"generated-{seed}-{index}",
                "catalog_index": index,
                **measured,
                "input_hlr_arcsec": hlr,
                "sersic_n": sersic_n,
                "axis_ratio": q,
                "n_clumps": len(clump_fractions),
                "provenance": f"generated seed {seed} index {index}",
            }
        )
    meta = pa.Table.from_pylist(metas).append_column(
        "split", pa.array([SPLITS[s] for s in template_splits(n, seed)])
    )
    meta = meta.add_column(0, "template_index", pa.array(range(n), pa.int32()))
    return write_bank(
        out_path,
        np.stack(images),
        meta,
        o["pixel_scale"],
        ["synthetic"],
        "generated_sersic_clumps",
        {**o, "n": n, "seed": seed, "rejected_outside_hlr_range": rejected},
        synthetic=True,
    )
