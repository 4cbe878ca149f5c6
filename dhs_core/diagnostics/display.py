"""How the report shows a stamp: Lupton et al. (2004) asinh colour images (astropy's ``make_lupton_rgb``), z red,
r green, g blue, with one stretch for a stamp and its noiseless arc model so the two compare pixel for pixel, and a
link to the Legacy Surveys viewer at the stamp's position.

The stretch comes from the stamp: the sky level of each band (its median) is the black point, and the linear range
is ``NOISE_STRETCH`` times the robust noise of the stamp's mean intensity, so sky noise stays dark (about 5 % of full
scale at 1 sigma), a 5-sigma arc pixel shows (about 18 %) and an LRG core (1,000 sigma) stays below saturation (about
80 %). The arc model (no sky, no noise) is drawn with the same stretch and a black point of 0. An asinh stretch is
monotone, so brighter arc pixels are never drawn darker (the former per-panel stretch, softened at each panel's own
noise, turned a noiseless arc, whose noise is 0, into a white square).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from astropy.visualization import make_lupton_rgb
from matplotlib.image import imsave

LUPTON_Q = 8.0
NOISE_STRETCH = 20.0  # the linear range, in units of the stamp's noise
VIEWER = "https://www.legacysurvey.org/viewer?ra={ra:.5f}&dec={dec:.5f}&layer=ls-dr10&zoom=16"


@dataclass(frozen=True)
class Stretch:
    """A Lupton stretch: per-band black points (nanomaggies, g r z order) and the linear scale ``stretch``."""

    minimum: tuple[float, float, float]
    stretch: float


def stamp_stretch(stamp: np.ndarray) -> Stretch:
    """The stretch of a (3, S, S) g r z stamp in nanomaggies (see the module's docstring)."""
    minimum = tuple(float(np.median(band)) for band in stamp)
    intensity = np.mean(stamp - np.array(minimum)[:, None, None], axis=0)
    sigma = 1.4826 * float(np.median(np.abs(intensity - np.median(intensity))))
    return Stretch(minimum, NOISE_STRETCH * sigma if sigma > 0 else 1.0)


def lupton_rgb(image: np.ndarray, stretch: Stretch, q: float = LUPTON_Q, black: bool = False) -> np.ndarray:
    """(S, S, 3) uint8 colours of a (3, S, S) g r z image under ``stretch``; ``black``: black point 0 (an arc model)."""
    minimum = [0.0, 0.0, 0.0] if black else list(stretch.minimum)[::-1]
    g, r, z = (np.asarray(band, np.float64) for band in image)
    # astropy divides by the intensity before masking where it is 0 (an arc model's empty pixels): the 0/0 it
    # warns about is replaced by 0 in its own next step
    with np.errstate(invalid="ignore", divide="ignore"):
        return make_lupton_rgb(z, r, g, minimum=minimum, stretch=stretch.stretch, Q=q)


def panel_png(rgb: np.ndarray, scale: int = 2) -> bytes:
    """PNG bytes of an (S, S, 3) image, rows flipped so north is up (row 0 is the stamp's south edge), each pixel
    ``scale`` x ``scale``."""
    buffer = io.BytesIO()
    imsave(buffer, np.repeat(np.repeat(rgb[::-1], scale, axis=0), scale, axis=1), format="png")
    return buffer.getvalue()


def viewer_url(ra: float, dec: float) -> str:
    """The Legacy Surveys viewer (DR10 layer) centred on a position in deg."""
    return VIEWER.format(ra=ra, dec=dec)
