"""Native-pixel cutouts from the Legacy Surveys cutout service (legacysurvey/imagine), for runs of up to ~10^5
galaxies with no brick on disk.

What the service returns (its public source, ``map/views.py``: ``get_cutout`` and ``write_cutout``): ``cutout.fits``
without ``subimage`` *resamples* the coadds onto a new TAN grid centred on the position. With ``subimage`` it returns
native pixels: for every brick near the position and every band, an HDU of the brick's image clipped to the
requested box (``IMAGETYP = image``), then one of its inverse variance (``IMAGETYP = invvar``), each with ``BRICK``,
``BAND``, ``BRICK_X0`` and ``BRICK_Y0`` (the slice's 0-based origin in the brick image) and the slice's WCS in its
header. That mode returns no maskbits. Sizes are capped at 3,000 pixels.

So a cutout takes two requests:

* image and invvar: ``subimage&invvar``, a box ``2 * MARGIN`` pixels larger than the cutout, assembled on the chosen
  brick's grid (its own brick; a neighbour whose slices hold the whole cutout when its own does not): bit for bit the
  brick's pixels;
* maskbits: the resampling mode with ``maskbits``, at the native 0.262"/pixel, centred on the sky position of the
  cutout's central point on the brick's grid. The service fills a maskbits pixel with the value of the nearest input
  pixel (its ``RenderAccumulatorMask``), and the request's grid differs from the brick's only by the two tangent
  points (rotation ~ dRA sin(Dec)): 0.26 pixel at most at a 96-pixel cutout's corner on a DR10 brick at Dec -68 deg, so
  every pixel's nearest brick pixel is its own and the maskbits are the brick's. One difference remains: the service
  takes each pixel from the brick whose unique area holds it, so beyond the brick's unique area (DR10's ~82-pixel
  overlaps) the maskbits are the neighbour's, whose ``NPRIMARY`` bit is clear there.

The brick's WCS is the slice's shifted back by its origin, and the brick image's size follows from legacypipe's rule
that a brick's reference pixel is its centre (CRPIX = (W + 1) / 2). Cache rows from here have ``source`` ``service``.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from dhs_core.conventions import BANDS, PIXEL_SCALE_ARCSEC, stamp_origin
from dhs_core.errors import InputFileError
from dhs_core.fetch import FetchPolicy, fetch_bytes
from dhs_core.survey.coadds import (
    BAND_MISSING,
    BAND_OK,
    BAND_OUTSIDE,
    NOT_IN_SURVEY,
    Cutout,
    stamp_window,
    wcs_from_header,
)
from dhs_core.survey.cutout_cache import GalaxyCutout, missing_cutout

LAYER = "ls-dr10-south"  # the service's name for DR10 South's coadds
MARGIN = 2  # pixels asked beyond the cutout on each side: the service rounds the box's origin its own way
SERVICE_MAX_SIZE = 3000


def service_url(base: str, ra: float, dec: float, size: int, layer: str = LAYER) -> str:
    """The request for native image and invvar around (ra, dec) (deg), ``size`` + 2 ``MARGIN`` pixels on a side."""
    box = size + 2 * MARGIN
    if box > SERVICE_MAX_SIZE:
        raise ValueError(f"a {box}-pixel box is above the service's {SERVICE_MAX_SIZE}")
    return (
        f"{base.rstrip('/')}/cutout.fits?ra={ra:.7f}&dec={dec:.7f}&layer={layer}&pixscale={PIXEL_SCALE_ARCSEC}"
        f"&size={box}&bands={''.join(BANDS)}&subimage&invvar"
    )


def maskbits_url(base: str, ra: float, dec: float, size: int, layer: str = LAYER) -> str:
    """The request for the maskbits of a ``size``-pixel grid centred on (ra, dec) (deg), at the native pixel scale."""
    return (
        f"{base.rstrip('/')}/cutout.fits?ra={ra:.10f}&dec={dec:.10f}&layer={layer}&pixscale={PIXEL_SCALE_ARCSEC}"
        f"&size={size}&bands=r&maskbits"
    )


def fetch_service_cutout(
    base: str, brickname: str, ra: float, dec: float, size: int, policy: FetchPolicy = FetchPolicy()
) -> GalaxyCutout:
    """The ``size``-pixel cutout of the galaxy at (ra, dec) (deg), primary on ``brickname``, from the service at
    ``base`` (two requests, each with the fetch policy's retries)."""
    url = service_url(base, ra, dec, size)
    bricks = service_slices(fetch_bytes(url, policy), url)
    if brickname not in bricks:
        return missing_cutout(
            brickname, size, f"{NOT_IN_SURVEY} {brickname} (the cutout service has no slice of it)"
        )
    chosen = _pixels_brick(bricks, brickname, ra, dec, size)
    cut = bricks[chosen].cutout(ra, dec, size)
    x0, y0 = bricks[chosen].origin(ra, dec, size)
    centre = bricks[chosen].wcs.pixel_to_world_values(x0 + (size - 1) / 2, y0 + (size - 1) / 2)
    murl = maskbits_url(base, float(centre[0]), float(centre[1]), size)
    maskbits = service_maskbits(fetch_bytes(murl, policy), murl, size)
    return bricks[chosen].with_maskbits(cut, ra, dec, maskbits)


def _pixels_brick(bricks: dict, brickname: str, ra: float, dec: float, size: int) -> str:
    """The galaxy's own brick if its slices hold the whole cutout, else the first neighbour (by name) whose slices
    hold it whole in every band, else its own."""
    if bricks[brickname].whole(ra, dec, size):
        return brickname
    return next((name for name in sorted(bricks) if bricks[name].whole(ra, dec, size)), brickname)


@dataclass
class BrickSlices:
    """What an answer holds of one brick: per band its image and invvar slices and their origin in the brick, the
    brick's WCS and image shape (rows, columns)."""

    name: str
    wcs: WCS
    shape: tuple[int, int]
    planes: dict = field(default_factory=dict)  # band -> (image, invvar, (x0, y0))

    def position(self, ra: float, dec: float) -> tuple[float, float]:
        x, y = self.wcs.world_to_pixel_values(ra, dec)
        return float(x), float(y)

    def origin(self, ra: float, dec: float, size: int) -> tuple[int, int]:
        """The first pixel (x0, y0) on this brick's grid of the ``size``-pixel cutout of (ra, dec)."""
        x0, y0 = stamp_origin(*self.position(ra, dec), size)
        return int(x0), int(y0)

    def whole(self, ra: float, dec: float, size: int) -> bool:
        """Every band's slice holds the whole ``size``-pixel cutout of (ra, dec)."""
        x0, y0 = self.origin(ra, dec, size)
        return len(self.planes) == len(BANDS) and all(
            stamp_window(x0, y0, size, image.shape, origin).status == BAND_OK
            for image, _, origin in self.planes.values()
        )

    def cutout(self, ra: float, dec: float, size: int) -> Cutout:
        """Image and invvar of the cutout on this brick's grid: the slices' pixels, zero where they do not reach (the
        band ``partial``); a band without slices is ``missing``. Maskbits are added by :meth:`with_maskbits`."""
        x, y = self.position(ra, dec)
        x0, y0 = self.origin(ra, dec, size)
        image = np.zeros((len(BANDS), size, size), np.float32)
        invvar = np.zeros_like(image)
        statuses = []
        for i, band in enumerate(BANDS):
            if band not in self.planes:
                statuses.append(BAND_MISSING)
                continue
            pixels, weights, origin = self.planes[band]
            window = stamp_window(x0, y0, size, pixels.shape, origin)
            if window.status != BAND_OUTSIDE:
                image[i][window.stamp] = pixels[window.image]
                invvar[i][window.stamp] = weights[window.image]
            statuses.append(window.status)
        empty = np.zeros((size, size), np.int32)
        return Cutout(image, invvar, empty, x - x0, y - y0, "".join(BANDS), tuple(statuses), BAND_MISSING)

    def with_maskbits(self, cut: Cutout, ra: float, dec: float, maskbits: np.ndarray) -> GalaxyCutout:
        """The cache's cutout: ``cut`` (of (ra, dec)) with the service's maskbits kept where the cutout lies on the brick
        image (zero off it, as a brick's own cutout has them)."""
        size = maskbits.shape[0]
        x0, y0 = self.origin(ra, dec, size)
        window = stamp_window(x0, y0, size, self.shape)
        kept = np.zeros_like(maskbits)
        kept[window.stamp] = maskbits[window.stamp]
        return GalaxyCutout(
            dataclasses.replace(cut, maskbits=kept, maskbits_status=window.status),
            x0 + cut.x,
            y0 + cut.y,
            self.shape,
            self.name,
            self.wcs.to_header_string(relax=True),
        )


def service_slices(body: bytes, source: str) -> dict[str, BrickSlices]:
    """The bricks of a ``subimage`` answer (FITS bytes), by name. An answer that is not FITS (an error page) is an
    error naming ``source`` and quoting its start."""
    hdus = _fits_answer(body, source)
    bricks: dict[str, BrickSlices] = {}
    with hdus:
        pairs = {}
        for hdu in hdus:
            header = hdu.header
            if hdu.data is None or "BRICK" not in header:
                continue
            kind = str(header.get("IMAGETYP", "")).lower()
            pairs.setdefault((header["BRICK"], header["BAND"]), {})[kind] = hdu
        for (name, band), planes in sorted(pairs.items()):
            if set(planes) != {"image", "invvar"} or band not in BANDS:
                continue
            header = planes["image"].header
            origin = (int(header["BRICK_X0"]), int(header["BRICK_Y0"]))
            if name not in bricks:
                bricks[name] = BrickSlices(name, *_brick_geometry(header, origin))
            bricks[name].planes[band] = (
                np.asarray(planes["image"].data, np.float32),
                np.asarray(planes["invvar"].data, np.float32),
                origin,
            )
    return bricks


def service_maskbits(body: bytes, source: str, size: int) -> np.ndarray:
    """The ``MASKBITS`` plane of a resampling-mode answer (``size`` x ``size`` int32); an error naming ``source`` when
    the answer is not FITS or has no such plane of that size."""
    with _fits_answer(body, source) as hdus:
        for hdu in hdus:
            if str(hdu.header.get("IMAGETYP", "")).upper() == "MASKBITS" and hdu.data is not None:
                if hdu.data.shape != (size, size):
                    raise InputFileError(source, f"maskbits of shape {hdu.data.shape}, not ({size}, {size})")
                return np.asarray(hdu.data, np.int32)
    raise InputFileError(source, "the cutout service sent no MASKBITS plane")


def _fits_answer(body: bytes, source: str) -> fits.HDUList:
    if not body.startswith(b"SIMPLE"):
        raise InputFileError(source, f"the cutout service sent no FITS file: {body[:120]!r}")
    return fits.open(io.BytesIO(body))


def _brick_geometry(header: fits.Header, origin: tuple[int, int]) -> tuple[WCS, tuple[int, int]]:
    """The brick's WCS (the slice's, shifted back by its origin) and image shape (rows, columns): legacypipe centres a
    brick's reference pixel, CRPIX = (W + 1) / 2."""
    wcs = wcs_from_header(header)
    wcs.wcs.crpix = wcs.wcs.crpix + np.asarray(origin, float)
    wcs.wcs.set()
    width, height = (int(round(2 * c - 1)) for c in wcs.wcs.crpix)
    return wcs, (height, width)
