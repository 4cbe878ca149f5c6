"""Stamps of real objects (known lenses, hard negatives): cut through the same cutout sources as the cutout cache
(``dhs_core.survey.cutout_sources``: local coadds, the portal's bricks, the cutout service), each brick opened once
for all its objects, into the stamps' pixel columns.

Each row gets a ``status``: ``ok``; ``partial`` when the stamp reaches past its brick's image and no neighbouring
brick holds it whole (zero-padded there with invvar 0, so those pixels are not good pixels: measured, but left out of
recall and false-positive rates, where zero padding could tell a class); ``no_pixels`` on a brick without files or
with a band missing; ``outside_footprint`` when the position lies on no brick of the survey's bricks table. Every row
is kept, with a ``status_reason`` that says why it is not ``ok``: recorded, never dropped.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS, STAMP_SIZE
from dhs_core.evaluate.completeness import STATUS_OK  # a stamp's status, as the stamps write it
from dhs_core.inject.metrics import good_pixels, mask_fractions
from dhs_core.pixels import pixel_rows
from dhs_core.stamps.cutouts import with_neighbours
from dhs_core.survey.bricks import brick_neighbours, bricks_containing
from dhs_core.survey.coadds import BAND_OK, BAND_PARTIAL, Cutout

STATUS_PARTIAL = "partial"
STATUS_OUTSIDE = "outside_footprint"
STATUS_NO_PIXELS = "no_pixels"
MEASURABLE = (STATUS_OK, STATUS_PARTIAL)


def locate(objects: pa.Table, bricks: pa.Table) -> pa.Table:
    """``objects`` (``ra``, ``dec`` in deg) with the ``brickname`` whose unique area holds each (null outside the
    footprint) and the ``neighbours`` of that brick (where a stamp not whole on it is looked for)."""
    found = bricks_containing(bricks, objects["ra"].to_numpy(), objects["dec"].to_numpy())
    located = objects.append_column("brickname", pa.array(found, pa.string()))
    return with_neighbours(located, brick_neighbours(bricks))


def cut_objects(source, objects: pa.Table, size: int = STAMP_SIZE) -> list[tuple[Cutout | None, str, str]]:
    """``(cutout, status, reason)`` per row of ``objects`` (``ra``, ``dec``, ``brickname``; null brick: outside): the
    ``size``-pixel cutout from ``source``, each brick opened once, its status and why it is not ``ok``. With
    ``neighbours`` (``dhs_core.stamps.cutouts.with_neighbours``) a stamp not whole on its brick is cut from a
    neighbour that holds it whole, as the cutout cache does."""
    results = [(None, STATUS_OUTSIDE, "on no brick of the survey's bricks table")] * objects.num_rows
    bricks = objects["brickname"].to_pylist()
    for brick in sorted({b for b in bricks if b is not None}):
        rows = [i for i, b in enumerate(bricks) if b == brick]
        galaxies = objects.take(pa.array(rows)).select(
            [c for c in ("ra", "dec", "neighbours") if c in objects.column_names]
        )
        galaxies = galaxies.append_column("row_id", pa.array(np.arange(len(rows), dtype=np.int64)))
        for i, cut in zip(rows, source.cut(brick, galaxies, size)):
            results[i] = (cut.cutout, *_status(cut.cutout, cut.problem))
    return results


def _status(cutout: Cutout, problem: str) -> tuple[str, str]:
    statuses = (*cutout.band_status, cutout.maskbits_status)
    if problem or any(s not in (BAND_OK, BAND_PARTIAL) for s in statuses):
        return (
            STATUS_NO_PIXELS,
            problem or f"bands {dict(zip(BANDS, cutout.band_status))}, maskbits {statuses[-1]}",
        )
    if cutout.all_ok:
        return STATUS_OK, ""
    return (
        STATUS_PARTIAL,
        "reaches past its brick's image, which no neighbouring brick holds whole: zero-padded",
    )


def stamp_columns(
    cutouts: list[tuple[Cutout | None, str, str]], size: int = STAMP_SIZE
) -> dict[str, pa.Array]:
    """The stamps' pixel and status columns of :func:`cut_objects`' results: ``image``, ``invvar`` (3 x size x size
    float32, nanomaggies and nMgy^-2), ``maskbits`` (size x size int32), as bytes (``dhs_core.pixels``),
    ``cutout_ok``, ``status``, ``status_reason``, ``bad_pixel_frac`` and ``wise_brightmask_frac`` (of the r band's good pixels)."""
    blank = Cutout.missing("".join(BANDS), size)
    image, invvar, maskbits, status, reason, bad, wise = [], [], [], [], [], [], []
    for cutout, state, why in cutouts:
        used = cutout if cutout is not None else blank
        image.append(used.image)
        invvar.append(used.invvar)
        maskbits.append(used.maskbits)
        fractions = mask_fractions(used.maskbits, good_pixels(used.invvar, used.maskbits, "".join(BANDS))[1])
        bad.append(float(fractions["bad_pixel_frac"]))
        wise.append(float(fractions["wise_brightmask_frac"]))
        status.append(state)
        reason.append(why)
    return {
        "image": pixel_rows(image, "image", size),
        "invvar": pixel_rows(invvar, "invvar", size),
        "maskbits": pixel_rows(maskbits, "maskbits", size),
        "cutout_ok": pa.array([s == STATUS_OK for s in status]),
        "status": pa.array(status, pa.string()),
        "status_reason": pa.array(reason, pa.string()),
        "bad_pixel_frac": pa.array(bad, pa.float64()),
        "wise_brightmask_frac": pa.array(wise, pa.float64()),
    }
