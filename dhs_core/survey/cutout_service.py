"""Native-pixel cutouts from the Legacy Surveys cutout service (legacysurvey/imagine), for runs of up to ~10^5
galaxies with no brick on disk.

What the service returns (its public source, ``map/views.py``: ``get_cutout`` and ``write_cutout``): ``cutout.fits``
without ``subimage`` *resamples* the coadds onto a new grid centred on the position, so it is not used here. With
``subimage`` it returns native pixels: for every brick near the position and every band, an HDU of the brick's image
clipped to the requested box (``IMAGETYP = image``), then one of its inverse variance (``IMAGETYP = invvar``), each with
``BRICK``, ``BAND``, ``BRICK_X0`` and ``BRICK_Y0`` (the slice's 0-based origin in the brick image) in its header. It
returns no maskbits in that mode: a cutout from the service has its maskbits ``missing``, and its stamps fail for it
(both classes alike) unless a later source supplies them. Sizes are capped at 3,000 pixels.
"""

from __future__ import annotations

import io

import numpy as np
import requests
from astropy.io import fits
from astropy.wcs import WCS

from dhs_core.conventions import BANDS, stamp_origin
from dhs_core.errors import InputFileError
from dhs_core.survey.coadds import BAND_MISSING, BAND_OUTSIDE, Cutout, stamp_window

LAYER = "ls-dr10-south"  # the service's name for DR10 South's coadds
MARGIN = 2  # pixels asked beyond the cutout on each side: the service rounds the box's origin its own way
SERVICE_MAX_SIZE = 3000


def service_url(base: str, ra: float, dec: float, size: int, layer: str = LAYER) -> str:
    """The request for native image and invvar around (ra, dec) (deg), ``size`` + 2 ``MARGIN`` pixels on a side."""
    box = size + 2 * MARGIN
    if box > SERVICE_MAX_SIZE:
        raise ValueError(f"a {box}-pixel box is above the service's {SERVICE_MAX_SIZE}")
    return (
        f"{base.rstrip('/')}/cutout.fits?ra={ra:.7f}&dec={dec:.7f}&layer={layer}&pixscale=0.262"
        f"&size={box}&bands={''.join(BANDS)}&subimage&invvar"
    )


def fetch_service_cutout(
    base: str, brickname: str, ra: float, dec: float, size: int, timeout_s: float = 60.0
) -> Cutout:
    """The ``size``-pixel cutout of (ra, dec) on brick ``brickname``'s native grid, from the service at ``base``."""
    url = service_url(base, ra, dec, size)
    response = requests.get(url, timeout=timeout_s)
    if response.status_code != 200:
        raise InputFileError(url, f"the cutout service answered HTTP {response.status_code}")
    return service_cutout(response.content, brickname, ra, dec, size, url)


def service_cutout(body: bytes, brickname: str, ra: float, dec: float, size: int, source: str = "") -> Cutout:
    """Assemble the ``size``-pixel cutout of (ra, dec) on ``brickname``'s grid from a ``subimage`` answer (FITS
    bytes). Pixels the answer does not cover are zero (the band ``partial``); a band without HDUs is ``missing``. An
    answer that is not FITS (an error page) is an error naming ``source`` and quoting its start."""
    if not body.startswith(b"SIMPLE"):
        raise InputFileError(source, f"the cutout service sent no FITS file: {body[:120]!r}")
    image = np.zeros((len(BANDS), size, size), np.float32)
    invvar = np.zeros_like(image)
    statuses, origin = [], None
    with fits.open(io.BytesIO(body)) as hdus:
        planes = {
            (h.header.get("BAND"), str(h.header.get("IMAGETYP", "")).lower()): h
            for h in hdus
            if h.data is not None and h.header.get("BRICK") == brickname
        }
        for i, band in enumerate(BANDS):
            pixels = planes.get((band, "image"))
            weights = planes.get((band, "invvar"))
            if pixels is None or weights is None:
                statuses.append(BAND_MISSING)
                continue
            x0, y0 = int(pixels.header["BRICK_X0"]), int(pixels.header["BRICK_Y0"])
            if origin is None:  # the galaxy's brick pixel position, from the slice's own WCS
                sx, sy = WCS(pixels.header).world_to_pixel_values(ra, dec)
                origin = (float(sx) + x0, float(sy) + y0)
            statuses.append(_paste(image[i], invvar[i], pixels.data, weights.data, x0, y0, origin, size))
    x, y = origin if origin is not None else (np.nan, np.nan)
    sx0, sy0 = (int(v) for v in stamp_origin(x, y, size)) if origin is not None else (0, 0)
    return Cutout(
        image,
        invvar,
        np.zeros((size, size), np.int32),
        x - sx0,
        y - sy0,
        "".join(BANDS),
        tuple(statuses),
        BAND_MISSING,  # the service's native-pixel mode returns no maskbits
    )


def _paste(image, invvar, pixels, weights, x0: int, y0: int, position, size: int) -> str:
    """Copy the part of a slice (origin ``x0, y0`` in the brick) that falls in the stamp around ``position``; return
    the band's status (ok: the stamp is covered whole)."""
    sx0, sy0 = (int(v) for v in stamp_origin(position[0], position[1], size))
    window = stamp_window(sx0, sy0, size, pixels.shape, (x0, y0))
    if window.status != BAND_OUTSIDE:
        image[window.stamp] = pixels[window.image]
        invvar[window.stamp] = weights[window.image]
    return window.status
