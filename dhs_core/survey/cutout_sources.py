"""Where the cutout cache's pixels come from: three sources behind one small interface.

A source has a ``name`` (recorded in every cache row's ``source``) and ``cut(brickname, galaxies, size)``, which
returns one :class:`~dhs_core.survey.cutout_cache.GalaxyCutout` per galaxy of ``galaxies`` (``row_id``, ``ra``,
``dec`` in deg; optionally ``neighbours``, the bricks touching theirs), all primary on ``brickname``:

* :class:`LocalCoadds` (``local``): a survey root on disk, read with :class:`~dhs_core.survey.coadds.CoaddBrick`;
* :class:`PortalCoadds` (``portal``): the portal's brick files through the fetch layer, one brick at a time, into a
  local cache, deleted after cutting unless ``keep``: a run then needs disk for the cutouts, not for the bricks;
* :class:`ServiceCutouts` (``service``): the Legacy Surveys cutout service, one request per galaxy for native image
  and invvar and one for maskbits (``dhs_core.survey.cutout_service``), for runs of up to ~10^5 galaxies.

At a brick's edge: a cutout that does not lie wholly on its own brick's image is cut instead from a neighbouring brick
whose image holds all of it and has every file, on that brick's native grid (``pixels_brick`` names it); where no
neighbour does, it stays on its own brick, zero-padded with invvar 0 off the image, and its bands are flagged
``partial``. DR10's brick images reach ~82 pixels beyond the brick's unique area, so a primary galaxy's 96-pixel
cutout always lies on its own brick there; the rule matters for larger cutouts and for surveys with narrower overlaps.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from dhs_core.conventions import stamp_origin
from dhs_core.errors import InputFileError, MissingBrickError
from dhs_core.fetch import Fetcher, FetchPolicy
from dhs_core.survey.coadds import BAND_OK, CoaddBrick, missing_brick_reason, stamp_window
from dhs_core.survey.cutout_cache import SOURCE_LOCAL, GalaxyCutout, missing_cutout
from dhs_core.survey.cutout_service import fetch_service_cutout
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.plan import coadd_files

OpenBrick = Callable[..., CoaddBrick]
CUTOUTS_FROM_BRICKS = "bricks"  # the survey root's coadds: local, or fetched from its portal brick by brick
CUTOUTS_FROM_SERVICE = "service"  # the Legacy Surveys cutout service
CUTOUT_SERVICE_URL = "https://www.legacysurvey.org/viewer"


def coadd_cutouts(open_brick: OpenBrick, brickname: str, galaxies: pa.Table, size: int) -> list[GalaxyCutout]:
    """The cutouts of ``galaxies`` on ``brickname``, opened (decoded whole) once by ``open_brick``; a galaxy whose
    cutout is not whole there is cut from the first of its ``neighbours`` that holds it whole (opened for sections
    only), else kept padded."""
    brick = open_brick(brickname)
    try:
        x, y = brick.sky_to_pixel(galaxies["ra"].to_numpy(), galaxies["dec"].to_numpy())
    except MissingBrickError as exc:  # no file at all: every stamp on it fails, saying why
        return [missing_cutout(brickname, size, missing_brick_reason(brick, exc))] * galaxies.num_rows
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    neighbours = (
        galaxies["neighbours"].to_pylist() if "neighbours" in galaxies.column_names else [[]] * len(x)
    )
    wcs = brick.wcs.to_header_string(relax=True)  # the brick's, once: every cutout on it records it
    opened: dict[str, tuple[CoaddBrick, str] | None] = {}
    cutouts = []
    for i in range(len(x)):
        cut = _brick_cutout(brick, wcs, float(x[i]), float(y[i]), size)
        if not _lies_whole(cut.x, cut.y, size, cut.shape):
            ra, dec = galaxies["ra"][i].as_py(), galaxies["dec"][i].as_py()
            cut = next(
                (
                    c
                    for c in (_neighbour_cutout(n, ra, dec, size, open_brick, opened) for n in neighbours[i])
                    if c
                ),
                cut,
            )
        cutouts.append(cut)
    for other in opened.values():
        if other is not None:
            other[0].close()
    return cutouts


def _brick_cutout(brick: CoaddBrick, wcs: str, x: float, y: float, size: int) -> GalaxyCutout:
    """The cutout at brick pixel ``(x, y)``, with the brick's WCS header text ``wcs``."""
    return GalaxyCutout(brick.cutout_at_pixel(x, y, size), x, y, brick.shape, brick.brickname, wcs)


def _lies_whole(x: float, y: float, size: int, shape: tuple[int, int]) -> bool:
    """A ``size``-pixel cutout around brick pixel ``(x, y)`` lies wholly on an image of ``shape`` (rows, columns)."""
    x0, y0 = (int(v) for v in stamp_origin(x, y, size))
    return stamp_window(x0, y0, size, shape).status == BAND_OK


def _neighbour_cutout(
    name: str, ra: float, dec: float, size: int, open_brick: OpenBrick, opened: dict
) -> GalaxyCutout | None:
    """The cutout on brick ``name`` if its image holds all of it and it has every file, else None. ``opened``: the
    neighbours opened so far (with their WCS text; None for a brick without files)."""
    if name not in opened:
        brick = open_brick(name, sections=True)
        try:
            opened[name] = (brick, brick.wcs.to_header_string(relax=True))  # reads the headers only
        except MissingBrickError:
            opened[name] = None
    if opened[name] is None:
        return None
    brick, wcs = opened[name]
    x, y = (float(v) for v in brick.sky_to_pixel(ra, dec))
    if not _lies_whole(x, y, size, brick.shape):
        return None
    cut = _brick_cutout(brick, wcs, x, y, size)
    return cut if cut.cutout.all_ok else None


@dataclass(frozen=True)
class LocalCoadds:
    """Cutouts from the coadds of a survey root on disk."""

    layout: SurveyLayout
    name: str = SOURCE_LOCAL

    def cut(self, brickname: str, galaxies: pa.Table, size: int) -> list[GalaxyCutout]:
        return coadd_cutouts(self.open_brick, brickname, galaxies, size)

    def open_brick(self, brickname: str, sections: bool = False) -> CoaddBrick:
        """The brick, decoded whole on first use (``sections``: only the rows a cutout touches)."""
        return CoaddBrick(self.layout, brickname, stamps_expected=1 if sections else None)


@dataclass(frozen=True)
class PortalCoadds:
    """Cutouts from the portal's coadds (``url``: the region root), fetched brick by brick into the survey cache
    ``layout.root`` as the fetch layer does (retries, resume, integrity; a file the portal does not have is recorded as
    a coverage gap), and deleted once the brick's galaxies are cut unless ``keep``. A file that could not be fetched
    stops the work unit, naming it; nothing of the unit is published and a re-run resumes it."""

    layout: SurveyLayout
    url: str
    policy: FetchPolicy = field(default_factory=FetchPolicy)
    keep: bool = True
    name: str = "portal"

    def cut(self, brickname: str, galaxies: pa.Table, size: int) -> list[GalaxyCutout]:
        fetched: list[str] = []

        def open_brick(name: str, sections: bool = False) -> CoaddBrick:
            self.fetch(name)
            fetched.append(name)
            return LocalCoadds(self.layout).open_brick(name, sections)

        try:
            return coadd_cutouts(open_brick, brickname, galaxies, size)
        finally:
            if not self.keep:
                for name in fetched:
                    self.delete(name)

    def fetch(self, brickname: str) -> None:
        """Fetch the brick's 7 coadd files (complete files are not fetched again)."""
        rows = Fetcher(self.url, self.layout.root, self.policy).fetch(coadd_files([brickname]))
        failed = [r for r in rows.to_pylist() if r["status"] == "failed"]
        if failed:
            raise InputFileError(
                f"{self.url}/{failed[0]['path']}",
                f"could not be fetched ({failed[0]['error']}); run again to resume it",
            )

    def delete(self, brickname: str) -> None:
        """Remove the brick's fetched files and their records, keeping the coverage-gap markers."""
        for relative in coadd_files([brickname]):
            path = self.layout.path(relative)
            folder, base = os.path.split(path)
            for stale in (path, os.path.join(folder, f".{base}.fetched.json")):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(stale)


@dataclass(frozen=True)
class ServiceCutouts:
    """Cutouts from the Legacy Surveys cutout service at ``url`` (e.g. ``https://www.legacysurvey.org/viewer``), one
    galaxy at a time (``dhs_core.survey.cutout_service``)."""

    url: str
    policy: FetchPolicy = field(default_factory=FetchPolicy)
    name: str = "service"

    def cut(self, brickname: str, galaxies: pa.Table, size: int) -> list[GalaxyCutout]:
        return [
            fetch_service_cutout(self.url, brickname, ra, dec, size, self.policy)
            for ra, dec in zip(galaxies["ra"].to_pylist(), galaxies["dec"].to_pylist())
        ]
