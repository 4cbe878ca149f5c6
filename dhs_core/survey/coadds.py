"""DR10 coadd images for one brick, and stamps cut from them.

Files: ``coadd/<AAA>/<brick>/legacysurvey-<brick>-{image,invvar}-<band>.fits.fz`` and
``legacysurvey-<brick>-maskbits.fits.fz``; tile-compressed, so the data are in HDU 1, with a TAN WCS
in that HDU's header. Images are nanomaggies per pixel, invvar nMgy^-2 per pixel.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass

import fitsio
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from dhs_core.conventions import BANDS, STAMP_SIZE, stamp_origin
from dhs_core.errors import InputFileError, MissingBrickError
from dhs_core.fetch import not_in_survey
from dhs_core.survey.layout import SurveyLayout, require_local

MISSING_BRICK = "no coadd files for brick"  # how the status_reason of a row on a brick without files starts
NOT_IN_SURVEY = "not in the survey (404): brick"  # ... of a row on a brick the portal said it does not have
BAND_OK = "ok"
BAND_PARTIAL = "partial"  # part of the stamp lies off the brick image: zero-padded, invvar 0 there
BAND_MISSING = "missing"  # the brick has no file for this band
BAND_MISSING_INVVAR = (
    "missing invvar"  # the band's image is there, its invvar file is not: unusable the same way
)
BAND_OUTSIDE = "outside"  # the stamp does not overlap the brick image at all


class CoaddImage:
    """One coadd file's image (HDU 1 of a ``.fits.fz``, never the empty HDU 0), as ``dtype`` (None: as stored).

    Pixels are decompressed by CFITSIO (``fitsio``): whole with ``whole=True`` (or :meth:`load`), else by
    sections, a slice decompressing only the compressed tiles (rows) it touches, which is what a brick with
    few stamps needs. ``shape`` and ``header`` (astropy) come without reading the data."""

    def __init__(self, path: str, dtype=np.float32, whole: bool = True):
        self.path, self.dtype = require_local(path), dtype
        if not os.path.exists(self.path):
            raise InputFileError(self.path, "file not found")
        self._data, self._fits = None, None
        with self._errors_named():
            with fits.open(self.path, memmap=False) as hdul:
                index = (
                    1
                    if self.path.endswith(".fz")
                    else next((i for i, h in enumerate(hdul) if h.header.get("NAXIS", 0)), 0)
                )
                if len(hdul) <= index or len(hdul[index].shape) == 0:
                    raise InputFileError(self.path, f"HDU {index} holds no image data")
                self.header, self.shape, self._index = (
                    hdul[index].header.copy(),
                    tuple(hdul[index].shape),
                    index,
                )
            if len(self.shape) != 2:
                raise InputFileError(self.path, f"expected a 2-D image, got shape {self.shape}")
            self._fits = _open_literally(self.path)
        if whole:
            self.load()

    @contextlib.contextmanager
    def _errors_named(self):
        try:
            yield
        except InputFileError:
            raise
        except Exception as exc:  # corrupt or truncated: astropy and CFITSIO raise many kinds
            raise InputFileError(
                self.path, f"not a readable FITS image ({type(exc).__name__}: {exc})"
            ) from exc

    def _typed(self, data: np.ndarray) -> np.ndarray:
        return data if self.dtype is None else data.astype(self.dtype, copy=False)

    def load(self) -> None:
        """Read the whole image now (and close the file)."""
        if self._data is None:
            with self._errors_named():
                self._data = self._typed(self._fits[self._index].read())
            self.close()

    def __getitem__(self, key) -> np.ndarray:
        if self._data is not None:
            return self._data[key]
        rows, columns = key
        if rows.stop <= rows.start or columns.stop <= columns.start:
            return np.zeros(
                (max(rows.stop - rows.start, 0), max(columns.stop - columns.start, 0)), self.dtype
            )
        with self._errors_named():
            return self._typed(self._fits[self._index][rows, columns])

    @property
    def data(self) -> np.ndarray:
        """The whole image."""
        self.load()
        return self._data

    def close(self) -> None:
        if self._fits is not None:
            self._fits.close()
            self._fits = None


CFITSIO_SYNTAX = set("[]()*?+!")  # characters CFITSIO reads as its extended file-name syntax, not as a name


def _open_literally(path: str) -> fitsio.FITS:
    """``fitsio.FITS(path)`` with the path taken literally: CFITSIO parses ``[...]`` as an HDU or filter (a folder
    ``data [run1]`` fails with status 125), so such a path is opened through its descriptor's ``/proc/self/fd`` name."""
    if not CFITSIO_SYNTAX & set(path) or not os.path.isdir("/proc/self/fd"):
        return fitsio.FITS(path)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        return fitsio.FITS(f"/proc/self/fd/{descriptor}")
    finally:
        os.close(descriptor)  # CFITSIO opened its own descriptor through the name


def read_compressed_image(path: str) -> tuple[np.ndarray, fits.Header]:
    """Data (as stored) and header of a coadd file."""
    image = CoaddImage(path, dtype=None)
    return image.data, image.header


def wcs_from_header(header: fits.Header) -> WCS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header, naxis=2)


@dataclass(frozen=True)
class Cutout:
    """A stamp: ``image``/``invvar`` (bands, size, size) float32, ``maskbits`` (size, size) int32.

    ``x``, ``y``: the target's sub-pixel position in stamp pixel coordinates (see conventions).
    ``band_status``: one of ok / partial / missing / outside per band; ``maskbits_status`` likewise.
    """

    image: np.ndarray
    invvar: np.ndarray
    maskbits: np.ndarray
    x: float
    y: float
    bands: str
    band_status: tuple[str, ...]
    maskbits_status: str

    @classmethod
    def missing(cls, bands: str, size: int) -> Cutout:
        """The stamp of a brick without files: zeros everywhere, every band and the maskbits ``missing``."""
        image = np.zeros((len(bands), size, size), dtype=np.float32)
        centre = (size - 1) / 2
        return cls(
            image,
            image.copy(),
            np.zeros((size, size), np.int32),
            centre,
            centre,
            bands,
            (BAND_MISSING,) * len(bands),
            BAND_MISSING,
        )

    @property
    def all_ok(self) -> bool:
        return all(s == BAND_OK for s in self.band_status) and self.maskbits_status == BAND_OK


@dataclass(frozen=True)
class StampWindow:
    """Where a stamp meets an image: the shared part as (rows, columns) slices of the ``stamp`` and of the
    ``image``, and the stamp's status there (ok: wholly on the image, partial, outside: nothing shared)."""

    stamp: tuple[slice, slice]
    image: tuple[slice, slice]
    status: str


def stamp_window(
    x0: int, y0: int, size: int, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)
) -> StampWindow:
    """The window of a ``size``-pixel stamp whose first pixel is ``(x0, y0)`` on an image of ``shape`` (rows,
    columns) whose first pixel is ``origin`` (x, y) in the same pixel coordinates (a brick's image: (0, 0); a slice of
    it: the slice's origin)."""
    left, top = origin
    y_lo, y_hi = max(y0, top), min(y0 + size, top + shape[0])
    x_lo, x_hi = max(x0, left), min(x0 + size, left + shape[1])
    if y_hi <= y_lo or x_hi <= x_lo:
        return StampWindow((slice(0, 0), slice(0, 0)), (slice(0, 0), slice(0, 0)), BAND_OUTSIDE)
    return StampWindow(
        (slice(y_lo - y0, y_hi - y0), slice(x_lo - x0, x_hi - x0)),
        (slice(y_lo - top, y_hi - top), slice(x_lo - left, x_hi - left)),
        BAND_OK if (y_hi - y_lo, x_hi - x_lo) == (size, size) else BAND_PARTIAL,
    )


class CoaddBrick:
    """The coadds of one brick, read once (lazily, per band) and cut into many stamps.

    Example::

        brick = CoaddBrick(SurveyLayout("/path/to/dr10/south"), "0001m040")
        stamp = brick.cutout(0.1234, -4.0123, size=64)   # stamp.image: (3, 64, 64) nanomaggies
    """

    def __init__(
        self,
        layout: SurveyLayout,
        brickname: str,
        bands: str = "".join(BANDS),
        stamps_expected: int | None = None,
    ):
        self.layout = layout
        self.brickname = brickname
        self.bands = bands
        # how many stamps will be cut: if their rows add up to less than the image's, read only the tiles
        # (rows) each stamp touches instead of decompressing whole images (None: always whole)
        self.stamps_expected = stamps_expected
        self._images: dict[str, tuple[CoaddImage, CoaddImage] | None] = {}
        self._missing: dict[str, str] = {}  # band -> status of a band whose files are incomplete
        self._maskbits: CoaddImage | None | bool = False  # False: not read yet; None: no file
        self._wcs: WCS | None = None
        self._shape: tuple[int, int] | None = None

    def _band(self, band: str):
        if band not in self._images:
            image_path = self.layout.coadd_path(self.brickname, "image", band)
            invvar_path = self.layout.coadd_path(self.brickname, "invvar", band)
            if not os.path.exists(image_path) or not os.path.exists(invvar_path):
                # one policy for a missing file: its band is missing and the stamps on it fail, naming it
                self._images[band] = None
                if os.path.exists(image_path):
                    self._missing[band] = BAND_MISSING_INVVAR
            else:
                image = self._open(image_path, np.float32)
                invvar = self._open(invvar_path, np.float32)
                if invvar.shape != image.shape:
                    raise InputFileError(
                        invvar_path, f"shape {invvar.shape} differs from the image's {image.shape}"
                    )
                self._set_geometry(image.header, image.shape, image_path)
                self._images[band] = (image, invvar)
        return self._images[band]

    def _open(self, path: str, dtype) -> CoaddImage:
        image = CoaddImage(path, dtype, whole=self.stamps_expected is None)
        if self.stamps_expected is not None and self.stamps_expected * STAMP_SIZE >= image.shape[0]:
            image.load()
        return image

    def _set_geometry(self, header: fits.Header, shape: tuple[int, int], path: str) -> None:
        if self._wcs is None:
            self._wcs = wcs_from_header(header)
            self._shape = shape
        elif shape != self._shape:
            raise InputFileError(path, f"shape {shape} differs from the brick's other bands {self._shape}")

    @property
    def maskbits(self) -> CoaddImage | None:
        """The maskbits image (int32; slice it), or None when the brick has no maskbits file."""
        if self._maskbits is False:
            path = self.layout.coadd_path(self.brickname, "maskbits")
            if os.path.exists(path):
                self._maskbits = self._open(path, np.int32)
                self._set_geometry(self._maskbits.header, self._maskbits.shape, path)
            else:
                self._maskbits = None
        return self._maskbits

    def close(self) -> None:
        """Close files kept open for section reads."""
        for planes in self._images.values():
            for plane in planes or ():
                plane.close()
        if self._maskbits:
            self._maskbits.close()

    @property
    def wcs(self) -> WCS:
        if self._wcs is None:
            for band in self.bands:
                self._band(band)
            self.maskbits  # noqa: B018 - reading it sets the WCS when no band exists
        if self._wcs is None:
            raise MissingBrickError(
                self.layout.coadd_dir(self.brickname), "no coadd image for any band nor maskbits"
            )
        return self._wcs

    @property
    def shape(self) -> tuple[int, int]:
        self.wcs  # noqa: B018
        return self._shape

    def sky_to_pixel(self, ra, dec) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel coordinates ``(x, y)`` of sky positions (deg) in this brick's images."""
        x, y = self.wcs.world_to_pixel_values(
            np.asarray(ra, dtype=np.float64), np.asarray(dec, dtype=np.float64)
        )
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def pixel_to_sky(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        ra, dec = self.wcs.pixel_to_world_values(
            np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        )
        return np.asarray(ra), np.asarray(dec)

    def cutout(self, ra: float, dec: float, size: int = STAMP_SIZE, bands: str | None = None) -> Cutout:
        """A ``size`` x ``size`` stamp centred on (ra, dec) in deg, in ``bands`` order (default: the brick's).

        Pixels off the brick image are zero in ``image``, ``invvar`` and ``maskbits``; that band's status
        is then ``partial`` (or ``outside``). A band without files is ``missing`` (all zeros).
        """
        x, y = self.sky_to_pixel(ra, dec)
        return self.cutout_at_pixel(float(x), float(y), size, bands)

    def cutout_at_pixel(self, x: float, y: float, size: int = STAMP_SIZE, bands: str | None = None) -> Cutout:
        """As :meth:`cutout`, for a target at 0-based pixel coordinates ``(x, y)`` of the brick image."""
        bands = bands or self.bands
        x0, y0 = (int(v) for v in stamp_origin(x, y, size))
        window = stamp_window(x0, y0, size, self.shape)
        overlaps = window.status != BAND_OUTSIDE

        image = np.zeros((len(bands), size, size), dtype=np.float32)
        invvar = np.zeros_like(image)
        statuses = []
        for i, band in enumerate(bands):
            planes = self._band(band)
            if planes is None:
                statuses.append(self._missing.get(band, BAND_MISSING))
                continue
            if overlaps:
                image[i][window.stamp] = planes[0][window.image]
                invvar[i][window.stamp] = planes[1][window.image]
            statuses.append(window.status)
        maskbits = np.zeros((size, size), dtype=np.int32)
        full_mask = self.maskbits
        if full_mask is None:
            mask_status = BAND_MISSING
        else:
            if overlaps:
                maskbits[window.stamp] = full_mask[window.image]
            mask_status = window.status
        return Cutout(image, invvar, maskbits, x - x0, y - y0, bands, tuple(statuses), mask_status)


def missing_brick_reason(brick: CoaddBrick, error: MissingBrickError) -> str:
    """Why no stamp can be cut on ``brick`` (it has no coadd file): the portal said it has no such brick, or its
    files are not in the survey root (naming the path)."""
    if not_in_survey(brick.layout.coadd_path(brick.brickname, "maskbits")):
        return f"{NOT_IN_SURVEY} {brick.brickname}"
    return f"{MISSING_BRICK} {brick.brickname}: {error.path}"
