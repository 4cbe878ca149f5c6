"""Shortcut gates: can a simple probe tell injections from controls by what is not the arc?

Positives are injections, negatives controls. Every probe is a cross-validated logistic regression
(``probes.cross_validated_auc``) on a class-balanced, seeded sample of stamps (images in nanomaggies).
The original's core-only probe reached AUC 0.98 because the lensed source's inner (counter-) image lands
in the galaxy's core; subtracting the azimuthal profile (``residual_radial_profile``) brought it to ~0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dhs_core.conventions import BANDS
from dhs_core.diagnostics import features
from dhs_core.diagnostics.probes import cross_validated_auc
from dhs_core.errors import ConfigError

PREPROCESSING = ("raw", "residual_radial_profile")


@dataclass(frozen=True)
class GateConfig:
    """``threshold``: the gated core-only AUC must stay below it; ``preprocessing``: what the gate judges,
    ``raw`` stamps or ``residual_radial_profile`` (both are always reported); core radius and core-brightness
    radius (pixels); the arc annulus (pixels) zeroed by the suppression probe; CV folds, seed, and the most
    stamps of each class used (a seeded sample)."""

    threshold: float = 0.60
    preprocessing: str = "raw"
    core_radius_px: float = 10.0
    brightness_radius_px: float = 8.0
    annulus_px: tuple[float, float] = (10.0, 25.0)
    folds: int = 5
    seed: int = 0
    max_per_class: int = 2000

    def __post_init__(self):
        if self.preprocessing not in PREPROCESSING:
            raise ConfigError("gates.preprocessing", self.preprocessing, f"one of {PREPROCESSING}")
        if not 0.5 < self.threshold <= 1:
            raise ConfigError("gates.threshold", self.threshold, "in (0.5, 1]")
        if self.folds < 2 or self.max_per_class < 2:
            raise ConfigError("gates.folds/max_per_class", (self.folds, self.max_per_class), ">= 2")


def balanced_sample(labels: np.ndarray, galaxy: np.ndarray, max_per_class: int, seed: int) -> np.ndarray:
    """Sorted row indices: one stamp per galaxy and class, then at most ``max_per_class`` of each class; the
    same for the same seed. Tasks of one galaxy share its pixels, so they are not independent draws: every
    interval here counts galaxies, not tasks."""
    rng = np.random.default_rng(seed)
    labels, galaxy = np.asarray(labels, bool), np.asarray(galaxy)
    picked = []
    for value in (False, True):
        rows = rng.permutation(np.flatnonzero(labels == value))
        _, first = np.unique(galaxy[rows], return_index=True)
        picked.append(rng.permutation(rows[first])[:max_per_class])
    return np.sort(np.concatenate(picked))


def core_brightness_ratio(
    images: np.ndarray, positive: np.ndarray, radius_px: float, band: str = "r"
) -> dict:
    """Mean and median flux per pixel within ``radius_px`` in ``band``: injections over controls."""
    core = features.core_pixels(images[:, [BANDS.index(band)]], radius_px).mean(axis=1)
    inj, ctl = core[positive], core[~positive]
    return {
        "injection_mean": float(inj.mean()),
        "control_mean": float(ctl.mean()),
        "mean_ratio": float(inj.mean() / ctl.mean()) if ctl.mean() != 0 else float("nan"),
        "median_ratio": float(np.median(inj) / np.median(ctl)) if np.median(ctl) != 0 else float("nan"),
    }


def shortcut_gates(
    images: np.ndarray, is_control: np.ndarray, galaxy: np.ndarray, config: GateConfig = GateConfig()
) -> dict:
    """Every probe on ``images`` (N, bands, S, S) with labels from ``is_control``; the gate's verdict.
    ``galaxy``: each stamp's galaxy id (``row_id``), which the cross-validation folds keep together.

    Every AUC is an ``Auc.record()`` dict. Returns ``core_lr`` (core pixels), ``core_statistics`` (core quantiles and mean) and ``radial_profile``
    AUCs for both preprocessings, ``core_brightness`` (raw, r band),
    ``arc_suppression`` (a whole-stamp probe's AUC on the stamps, and on them with the arc annulus zeroed),
    ``gated_auc``, ``passed`` and the sample sizes."""
    positive_all = ~np.asarray(is_control, bool)
    if positive_all.all() or not positive_all.any():
        raise ValueError("the shortcut gates need both injections and controls")
    rows = balanced_sample(positive_all, galaxy, config.max_per_class, config.seed)
    raw, positive = images[rows].astype(np.float64), positive_all[rows]
    cv = {"groups": np.asarray(galaxy)[rows], "folds": config.folds, "seed": config.seed}
    prepared = {
        "raw": features.normalise_by_outer_annulus(raw),
        "residual_radial_profile": features.residual_radial_profile(raw),
    }
    core = {
        name: cross_validated_auc(features.core_pixels(x, config.core_radius_px), positive, **cv).record()
        for name, x in prepared.items()
    }
    stats = {
        name: cross_validated_auc(features.core_statistics(x, config.core_radius_px), positive, **cv).record()
        for name, x in prepared.items()
    }
    radial = {
        name: cross_validated_auc(features.radial_profiles(x), positive, **cv).record()
        for name, x in prepared.items()
    }
    whole = features.binned(prepared["raw"], 4)
    zeroed = features.binned(features.zero_annulus(prepared["raw"], *config.annulus_px), 4)
    suppression = {
        "stamps": cross_validated_auc(whole, positive, **cv).record(),
        "annulus_zeroed": cross_validated_auc(whole, positive, test_features=zeroed, **cv).record(),
    }
    gated = core[config.preprocessing]["auc"]
    return {
        "core_lr": core,
        "core_statistics": stats,
        "radial_profile": radial,
        "core_brightness": core_brightness_ratio(raw, positive, config.brightness_radius_px),
        "arc_suppression": suppression,
        "preprocessing": config.preprocessing,
        "threshold": config.threshold,
        "core_radius_px": config.core_radius_px,
        "gated_auc": gated,
        "passed": bool(gated < config.threshold),
        "n_injections": int(positive.sum()),
        "n_controls": int((~positive).sum()),
    }
