"""Checks of a source bank (the asset checks call these; users can too). Each returns ``(passed, details)``.

The noise check compares each template with what a stamp without a galaxy gives: a flat stamp of side
L has its half-light radius at L/sqrt(2 pi) = 0.40 L and a concentration 5 log10(r80/r20) = 1.5; pure
noise normalised to unit flux behaves alike. The original's bank had a median HLR of 0.37 of its side.
A bank passes when its median HLR is under ``max_median_hlr_fraction`` (0.2) of the stamp side and its
median concentration above ``min_median_concentration`` (2.0; an exponential disk has 2.7).
"""

from __future__ import annotations

import numpy as np

from dhs_core.bank.store import Bank


def template_checks(
    bank: Bank, hlr_range=(0.05, 0.5), max_offset_px: float = 3.0, tolerance: float = 1e-4
) -> tuple[bool, dict]:
    """Every plane sums to 1, every centroid is finite and within ``max_offset_px`` of the stamp centre,
    every measured half-light radius (arcsec) inside ``hlr_range``."""
    bad_sum, bad_centroid, bad_hlr = [], [], []
    for index in range(len(bank)):
        image = np.asarray(bank.images[index], dtype=np.float64)
        planes = image.reshape(-1, *image.shape[-2:])
        if np.any(np.abs(planes.sum(axis=(1, 2)) - 1) > tolerance):
            bad_sum.append(index)
    offset = bank.meta["offset_px"].to_numpy()
    hlr = bank.meta["hlr_arcsec"].to_numpy()
    bad_centroid = np.flatnonzero(~(np.isfinite(offset) & (offset <= max_offset_px))).tolist()
    bad_hlr = np.flatnonzero(~((hlr >= hlr_range[0]) & (hlr <= hlr_range[1]))).tolist()
    passed = not (bad_sum or bad_centroid or bad_hlr)
    return passed, {
        "templates": len(bank),
        "sum_not_1": bad_sum[:20],
        "centroid_off": bad_centroid[:20],
        "hlr_outside": bad_hlr[:20],
    }


def not_noise(
    bank: Bank, max_median_hlr_fraction: float = 0.2, min_median_concentration: float = 2.0
) -> tuple[bool, dict]:
    """Fails for a noise-dominated bank (see the module docstring)."""
    side = bank.images.shape[-1] * bank.pixel_scale
    hlr_fraction = float(np.median(bank.meta["hlr_arcsec"].to_numpy()) / side)
    concentration = float(np.nanmedian(bank.meta["concentration"].to_numpy()))
    passed = hlr_fraction < max_median_hlr_fraction and concentration > min_median_concentration
    return passed, {
        "median_hlr_over_side": hlr_fraction,
        "flat_stamp_hlr_over_side": 1 / np.sqrt(2 * np.pi),
        "median_concentration": concentration,
        "flat_stamp_concentration": 1.5,
    }
