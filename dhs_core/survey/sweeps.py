"""DR8/DR9/DR10 sweep catalogues: file names and a column-selective reader.

Sweep files are 5 x 5 deg tiles named ``sweep-<RAmin><p|m><DECmin>-<RAmax><p|m><DECmax>.fits``,
RA as ``%03d`` degrees and Dec as ``p``/``m`` plus ``%03d`` degrees, e.g. ``sweep-000m005-005p000.fits``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.conventions import SWEEP_DEPTH_SUFFIX, unambiguous_depth_names
from dhs_core.errors import InputFileError
from dhs_core.survey.fits_table import read_fits_columns

SWEEP_TILE_DEG = 5
_SWEEP_RE = re.compile(r"^sweep-(\d{3})([pm])(\d{3})-(\d{3})([pm])(\d{3})\.fits(\.gz)?$")

PIPELINE_SWEEP_COLUMNS = (
    "RELEASE",
    "BRICKID",
    "BRICKNAME",
    "OBJID",
    "TYPE",
    "RA",
    "DEC",
    "EBV",
    "FLUX_G",
    "FLUX_R",
    "FLUX_Z",
    "FLUX_W1",
    "FLUX_W2",
    "FLUX_IVAR_G",
    "FLUX_IVAR_R",
    "FLUX_IVAR_Z",
    "FLUX_IVAR_W1",
    "FLUX_IVAR_W2",
    "MW_TRANSMISSION_G",
    "MW_TRANSMISSION_R",
    "MW_TRANSMISSION_Z",
    "MW_TRANSMISSION_W1",
    "MW_TRANSMISSION_W2",
    "NOBS_G",
    "NOBS_R",
    "NOBS_Z",
    "PSFSIZE_G",
    "PSFSIZE_R",
    "PSFSIZE_Z",
    "PSFDEPTH_G",
    "PSFDEPTH_R",
    "PSFDEPTH_Z",
    "GALDEPTH_G",
    "GALDEPTH_R",
    "GALDEPTH_Z",
    "MASKBITS",
    "FITBITS",
    "SHAPE_R",
    "SHAPE_E1",
    "SHAPE_E2",
    "SERSIC",
    "FIBERFLUX_Z",
    "FIBERTOTFLUX_Z",
    "GAIA_PHOT_G_MEAN_MAG",
    "REF_CAT",
)
"""The DR9/DR10 sweep columns dhs reads (the mock sky writes exactly these)."""
SWEEP_FORMATS = {  # FITS formats of those columns in the DR10 sweep data model; the rest are E (float32)
    "RELEASE": "I",
    "BRICKID": "J",
    "BRICKNAME": "8A",
    "OBJID": "J",
    "TYPE": "3A",
    "RA": "D",
    "DEC": "D",
    "NOBS_G": "I",
    "NOBS_R": "I",
    "NOBS_Z": "I",
    "MASKBITS": "J",
    "FITBITS": "I",
    "REF_CAT": "2A",
}


@dataclass(frozen=True)
class SweepTile:
    """A sweep tile's corners in integer degrees (RA 0-360, Dec -90..90)."""

    ra_min: int
    dec_min: int
    ra_max: int
    dec_max: int

    @property
    def name(self) -> str:
        return sweep_filename(self.ra_min, self.dec_min, self.ra_max, self.dec_max)


def _dec_token(dec: int) -> str:
    return f"{'p' if dec >= 0 else 'm'}{abs(dec):03d}"


def sweep_filename(ra_min: int, dec_min: int, ra_max: int, dec_max: int) -> str:
    """``sweep-<RAmin><p|m><DECmin>-<RAmax><p|m><DECmax>.fits`` for integer-degree corners.

    >>> sweep_filename(0, -5, 5, 0)
    'sweep-000m005-005p000.fits'
    """
    return f"sweep-{ra_min:03d}{_dec_token(dec_min)}-{ra_max:03d}{_dec_token(dec_max)}.fits"


def parse_sweep_filename(name: str) -> SweepTile:
    """The tile of a sweep file name (a path is accepted; ``.fits.gz`` too).

    >>> parse_sweep_filename("sweep-310m005-320p000.fits")
    SweepTile(ra_min=310, dec_min=-5, ra_max=320, dec_max=0)
    """
    match = _SWEEP_RE.match(os.path.basename(name))
    if not match:
        raise InputFileError(
            name, "not a sweep file name (expected sweep-<RA><p|m><DEC>-<RA><p|m><DEC>.fits)"
        )
    ra1, s1, d1, ra2, s2, d2, _ = match.groups()
    sign = {"p": 1, "m": -1}
    return SweepTile(int(ra1), sign[s1] * int(d1), int(ra2), sign[s2] * int(d2))


def sweep_tile_for(ra: float, dec: float, tile_deg: int = SWEEP_TILE_DEG) -> SweepTile:
    """The DR10 sweep tile (``tile_deg`` square, aligned on multiples of it) containing (ra, dec) in deg."""
    ra_min = int(math.floor((ra % 360.0) / tile_deg) * tile_deg)
    dec_min = int(math.floor(dec / tile_deg) * tile_deg)
    return SweepTile(ra_min, dec_min, ra_min + tile_deg, dec_min + tile_deg)


def read_sweep(path: str, columns: Sequence[str] = PIPELINE_SWEEP_COLUMNS) -> pa.Table:
    """Read the requested columns (case-insensitive) of a sweep FITS file into an Arrow table.

    Names are lower-cased; ``type`` is stripped of padding; ``maskbits`` is widened to int32 (DR8/DR9
    store int16, DR10 int32); ``psfdepth_<b>``/``galdepth_<b>`` (inverse variance, nMgy^-2) are renamed
    ``psfdepth_ivar_<b>``/``galdepth_ivar_<b>``. Only the requested columns are converted. A missing
    column, or a truncated or corrupt file, is an error naming the file.
    """
    table = read_fits_columns(path, columns)
    if "maskbits" in table.column_names:
        index = table.column_names.index("maskbits")
        table = table.set_column(index, "maskbits", pc.cast(table["maskbits"], pa.int32()))
    return table.rename_columns(unambiguous_depth_names(table.column_names, SWEEP_DEPTH_SUFFIX))
