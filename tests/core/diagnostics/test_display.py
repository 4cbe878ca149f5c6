"""The report's colour stretch: a stamp and its noiseless arc model in one Lupton stretch, monotone, not saturated."""

import io

import numpy as np
from PIL import Image

from dhs_core.diagnostics.display import lupton_rgb, panel_png, stamp_stretch, viewer_url


def _stamp_and_arc(seed=0, sigma=0.004):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    lrg = 3.0 * np.exp(-0.5 * ((xx - 32) ** 2 + (yy - 32) ** 2) / 3.0)  # a bright core: ~750 sigma
    ring = np.exp(-0.5 * ((np.hypot(xx - 32, yy - 32) - 7) / 1.2) ** 2) * (
        1 + 0.8 * np.cos(np.arctan2(yy - 32, xx - 32))
    )
    arc = np.stack([0.4 * ring, 0.7 * ring, 1.0 * ring]) * 0.012  # peak ~5 sigma per pixel in r
    stamp = np.stack([0.3 * lrg, lrg, 1.8 * lrg]) + arc + rng.normal(0, sigma, (3, 64, 64))
    return stamp, arc


def test_a_noiseless_arc_is_drawn_monotone_in_its_own_flux_and_never_a_square():
    stamp, arc = _stamp_and_arc()
    stretch = stamp_stretch(stamp)
    rgb = lupton_rgb(arc, stretch, black=True).astype(np.int64)
    flux, shown = arc.sum(axis=0).ravel(), rgb.sum(axis=2).ravel()
    order = np.argsort(flux, kind="stable")
    assert np.all(
        np.diff(shown[order]) >= -1
    )  # brighter arc pixels are never drawn darker (1 level of uint8 rounding)
    assert len(np.unique(shown[flux > 0.05 * flux.max()])) > 20  # a gradient, not a flat blob
    assert np.mean(rgb == 255) < 0.01 and rgb.max() < 255  # no panel saturated to a square
    peak = rgb.sum(axis=2).max() / (3 * 255)
    assert 0.05 < peak < 0.6  # a 5-sigma arc shows, dimmer than the galaxy's core
    # the stamp: sky dark, the core bright but below saturation over most of it
    drawn = lupton_rgb(stamp, stretch)
    assert np.median(drawn) < 30 and drawn.max() > 150 and np.mean(drawn == 255) < 0.01


def test_one_stretch_serves_a_stamp_and_its_arc():
    stamp, arc = _stamp_and_arc(seed=1)
    stretch = stamp_stretch(stamp)
    assert stamp_stretch(stamp) == stretch and stretch.stretch > 0
    noisier = stamp_stretch(stamp + np.random.default_rng(2).normal(0, 0.02, stamp.shape))
    assert noisier.stretch > 3 * stretch.stretch  # the range follows the stamp's noise
    image = Image.open(io.BytesIO(panel_png(lupton_rgb(stamp, stretch), scale=2)))
    assert image.size == (128, 128)
    assert (
        viewer_url(150.12345678, -2.5)
        == "https://www.legacysurvey.org/viewer?ra=150.12346&dec=-2.50000&layer=ls-dr10&zoom=16"
    )
