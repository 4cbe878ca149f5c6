"""What a run needs from the survey, as relative DR10 paths for ``dhs_core.fetch``.

Paths are relative to a region root (``.../dr10/south``) unless a name says otherwise:

* the bricks table: ``survey-bricks-dr10-south.fits.gz`` (per-brick summary) in the region root, and the geometry
  (``ra1, ra2, dec1, dec2``) in ``survey-bricks.fits.gz`` one level up, in the release root (:func:`bricks_table_files`);
* sweeps: ``sweep/10.1/sweep-<RA><p|m><DEC>-<RA><p|m><DEC>.fits``, 5 x 5 deg tiles (:func:`sweep_files`);
* coadds: ``coadd/<AAA>/<brick>/legacysurvey-<brick>-{image,invvar}-{g,r,z}.fits.fz`` and ``-maskbits.fits.fz``,
  7 files a brick, plus ``-psfsize-{g,r,z}.fits.fz`` on request (:func:`coadd_files`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS
from dhs_core.errors import ConfigError
from dhs_core.survey.layout import DR10_SWEEP_VERSION, SurveyLayout
from dhs_core.survey.sweeps import SWEEP_TILE_DEG, SweepTile

DR10_SOUTH_URL = (
    "https://portal.nersc.gov/cfs/cosmo/data/legacysurvey/dr10/south"  # the public portal's region root
)
RELEASE_GEOMETRY_FILE = "survey-bricks.fits.gz"  # in the release root (.../dr10/), shared by north and south
DR10_SOUTH_DEC_RANGE = (-90.0, 35.0)  # deg: the sweeps of DR10 South reach Dec ~ +34


@dataclass(frozen=True)
class SkyBox:
    """An RA/Dec box in deg (``ra_min > ra_max`` crosses RA = 0/360)."""

    ra_min: float
    ra_max: float
    dec_min: float
    dec_max: float

    def __post_init__(self):
        if not (-90 <= self.dec_min < self.dec_max <= 90) or not (
            0 <= self.ra_min < 360 and 0 < self.ra_max <= 360
        ):
            raise ConfigError(
                "sky box",
                (self.ra_min, self.ra_max, self.dec_min, self.dec_max),
                "0 <= ra_min < 360, 0 < ra_max <= 360, -90 <= dec_min < dec_max <= 90 (deg)",
            )

    @classmethod
    def parse(cls, text: str) -> SkyBox:
        """``"ra_min,ra_max,dec_min,dec_max"`` in deg, e.g. ``"150,160,0,5"`` (a 10 x 5 deg box)."""
        try:
            return cls(*(float(part) for part in text.split(",")))
        except (TypeError, ValueError):
            raise ConfigError(
                "footprint", text, "ra_min,ra_max,dec_min,dec_max in deg, e.g. 150,160,0,5"
            ) from None

    def contains(self, ra, dec) -> np.ndarray:
        """Which of the points (deg) lie in the box (edges included at the minimum, excluded at the maximum)."""
        ra = np.mod(np.asarray(ra, dtype=np.float64), 360.0)
        dec = np.asarray(dec, dtype=np.float64)
        in_ra = (
            (ra >= self.ra_min) & (ra < self.ra_max)
            if self.ra_min < self.ra_max
            else (ra >= self.ra_min) | (ra < self.ra_max)
        )
        return in_ra & (dec >= self.dec_min) & (dec < self.dec_max)

    def __str__(self) -> str:
        return f"{self.ra_min:g},{self.ra_max:g},{self.dec_min:g},{self.dec_max:g}"

    @property
    def area_deg2(self) -> float:
        width = (self.ra_max - self.ra_min) % 360 or 360.0
        return (
            math.radians(width)
            * (math.sin(math.radians(self.dec_max)) - math.sin(math.radians(self.dec_min)))
            * (180 / math.pi) ** 2
        )


def bricks_table_files(release: str = "dr10", region: str = "south") -> dict[str, str]:
    """``{"region": <summary file relative to the region root>, "release": <geometry file relative to the release root>}``."""
    return {"region": f"survey-bricks-{release}-{region}.fits.gz", "release": RELEASE_GEOMETRY_FILE}


def release_root(url: str) -> str:
    """The release root (``.../dr10``) of a region root URL (``.../dr10/south``): where the bricks geometry file is."""
    return url.rstrip("/").rsplit("/", 1)[0]


def sweep_files(
    footprint: SkyBox | pa.Table | Iterable[str] | None = None, version: str = DR10_SWEEP_VERSION
) -> list[str]:
    """The sweep files overlapping a footprint, sorted: an RA/Dec box; a bricks table (``ra1, ra2, dec1, dec2``, deg:
    exactly the tiles its bricks overlap); a list of brick names (each brick taken as its centre +- 0.13 deg, as DR10
    bricks are 0.25 deg); or None for every tile of DR10 South's Dec range. Tiles the survey does not have answer 404
    and are recorded as coverage gaps."""
    if footprint is None:
        footprint = SkyBox(0.0, 360.0, *DR10_SOUTH_DEC_RANGE)
    if isinstance(footprint, pa.Table):
        tiles = _brick_tiles(*(footprint[c].to_numpy() for c in ("ra1", "ra2", "dec1", "dec2")))
    else:
        boxes = [footprint] if isinstance(footprint, SkyBox) else [_brick_box(name) for name in footprint]
        tiles = {tile for box in boxes for tile in _tiles(box)}
    layout = SurveyLayout("", version)
    return sorted(layout.sweep_path(tile.name).lstrip("/") for tile in tiles)


def footprint_bricks(bricks: pa.Table, footprint: SkyBox | None) -> pa.Table:
    """The bricks (rows of a bricks table) whose centre (``ra, dec``) lies in the footprint; all of them without one."""
    if footprint is None:
        return bricks
    return bricks.filter(pa.array(footprint.contains(bricks["ra"].to_numpy(), bricks["dec"].to_numpy())))


def _brick_tiles(ra1: np.ndarray, ra2: np.ndarray, dec1: np.ndarray, dec2: np.ndarray) -> set[SweepTile]:
    """The sweep tiles that brick boxes (deg; ``ra2 < ra1`` crosses RA = 0/360) overlap with positive area."""
    step, n_ra = SWEEP_TILE_DEG, 360 // SWEEP_TILE_DEG
    ra1 = np.mod(ra1, 360.0)
    width = np.mod(ra2 - ra1, 360.0)
    ra_first, dec_first = np.floor(ra1 / step).astype(int), np.floor(dec1 / step).astype(int)
    ra_last = (
        np.ceil((ra1 + width) / step).astype(int) - 1
    )  # a box ending on a tile edge does not reach the next tile
    dec_last = np.ceil(dec2 / step).astype(int) - 1
    tiles = set()
    for pair in set(zip(ra_first.tolist(), ra_last.tolist(), dec_first.tolist(), dec_last.tolist())):
        r_first, r_last, d_first, d_last = pair
        for r in range(r_first, r_last + 1):
            for d in range(max(d_first, -90 // step), min(d_last, 90 // step - 1) + 1):
                ra = (r % n_ra) * step
                tiles.add(SweepTile(ra, d * step, ra + step, d * step + step))
    return tiles


def _brick_box(name: str) -> SkyBox:
    ra, dec = brick_centre(name)
    half = 0.13
    dec_min, dec_max = max(dec - half, -90.0), min(dec + half, 90.0)
    reach = half / max(math.cos(math.radians(max(abs(dec_min), abs(dec_max)))), 1e-3)
    return SkyBox((ra - reach) % 360, (ra + reach) % 360 or 360.0, dec_min, dec_max)


def brick_centre(name: str) -> tuple[float, float]:
    """RA, Dec (deg) of a DR10 brick's centre from its name (``RRRR[p|m]DDD``: RA x 10, Dec x 10, truncated).

    >>> brick_centre("2447p120")
    (244.7, 12.0)
    """
    if len(name) != 8 or name[4] not in "pm" or not (name[:4].isdigit() and name[5:].isdigit()):
        raise ConfigError("brick name", name, "RRRR[p|m]DDD, e.g. 2447p120")
    return int(name[:4]) / 10, (1 if name[4] == "p" else -1) * int(name[5:]) / 10


def _tiles(box: SkyBox) -> set[SweepTile]:
    step = SWEEP_TILE_DEG
    decs = range(int(math.floor(box.dec_min / step) * step), int(math.ceil(box.dec_max / step) * step), step)
    if box.ra_min < box.ra_max:
        spans = [(box.ra_min, box.ra_max)]
    else:  # across RA = 0/360
        spans = [(box.ra_min, 360.0), (0.0, box.ra_max)]
    ras = {
        r
        for lo, hi in spans
        for r in range(int(math.floor(lo / step) * step), int(math.ceil(hi / step) * step), step)
    }
    return {SweepTile(r, d, r + step, d + step) for r in ras for d in decs if -90 <= d < 90}


def coadd_files(bricks: Iterable[str], bands: str = "".join(BANDS), psfsize: bool = False) -> list[str]:
    """The coadd files of each brick (sorted, each brick once): image and invvar per band and the maskbits (7 files
    for g, r, z), plus the per-band PSF-size maps with ``psfsize``."""
    layout = SurveyLayout("")
    paths = []
    for name in sorted(set(bricks)):
        products = [(kind, band) for band in bands for kind in ("image", "invvar")] + [("maskbits", None)]
        if psfsize:
            products += [("psfsize", band) for band in bands]
        paths += [layout.coadd_path(name, kind, band).lstrip("/") for kind, band in products]
    return paths


def manifest_bricks(*brick_columns) -> list[str]:
    """The distinct bricks of one or more manifests' ``brickname`` columns (Arrow or numpy), sorted."""
    names = set()
    for column in brick_columns:
        values = column.to_numpy(zero_copy_only=False) if hasattr(column, "to_numpy") else np.asarray(column)
        names.update(str(v) for v in values)
    return sorted(names)
