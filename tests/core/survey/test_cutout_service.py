"""Cutouts from the Legacy Surveys cutout service, against a server on 127.0.0.1 that answers as legacysurvey/imagine
does: ``subimage`` requests with native slices of each brick (image then invvar per band, no maskbits), ``maskbits``
requests resampled to the nearest pixel on a TAN grid centred on the position. The cache rows equal the local ones
(image, invvar, maskbits, position, brick); a 503 is retried; an error page in place of a FITS file is an error
naming the request; and the maskbits grid meets the brick's to under half a pixel anywhere in DR10 South."""

import io
import os
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pyarrow as pa
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dhs_core.conventions import BANDS
from dhs_core.errors import InputFileError
from dhs_core.fetch import FetchPolicy
from dhs_core.survey.coadds import CoaddBrick, read_compressed_image, wcs_from_header
from dhs_core.survey.cutout_cache import CACHE_SIZE, cache_rows
from dhs_core.survey.cutout_service import fetch_service_cutout, service_url
from dhs_core.survey.cutout_sources import LocalCoadds, ServiceCutouts
from dhs_core.survey.layout import SurveyLayout

FAST = FetchPolicy(attempts=3, backoff_base_s=0.01, backoff_cap_s=0.05, timeout_s=10)


def _subimage_answer(layout: SurveyLayout, brickname: str, ra: float, dec: float, box: int) -> bytes:
    """What the service's subimage mode sends for one brick: per band an image HDU then an invvar HDU, each the brick's
    slice around (ra, dec) clipped at its edge, origin and band in the header, the slice's WCS."""
    hdus = [fits.PrimaryHDU()]
    for band in BANDS:
        if not os.path.exists(layout.coadd_path(brickname, "image", band)):
            continue
        image, header = read_compressed_image(layout.coadd_path(brickname, "image", band))
        invvar, _ = read_compressed_image(layout.coadd_path(brickname, "invvar", band))
        wcs = WCS(header)
        x, y = wcs.world_to_pixel_values(ra, dec)
        height, width = image.shape
        x0 = int(
            np.clip(np.round(x + 1 - box / 2) - 1, 0, width - 1)
        )  # imagine's rounding, on 1-based pixels
        y0 = int(np.clip(np.round(y + 1 - box / 2) - 1, 0, height - 1))
        x1, y1 = min(x0 + box, width), min(y0 + box, height)
        sub = wcs.slice((slice(y0, y1), slice(x0, x1))).to_header()
        for kind, data in (("image", image), ("invvar", invvar)):
            hdu = fits.ImageHDU(data[y0:y1, x0:x1], header=sub)
            hdu.header.update(
                {"BRICK": brickname, "BAND": band, "IMAGETYP": kind, "BRICK_X0": x0, "BRICK_Y0": y0}
            )
            hdus.append(hdu)
    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out)
    return out.getvalue()


def _maskbits_answer(
    layout: SurveyLayout, brickname: str, ra: float, dec: float, size: int, scale: float
) -> bytes:
    """What the service's resampling mode sends with ``maskbits``: an image HDU, then the maskbits on a TAN grid centred
    on (ra, dec) (reference pixel (size + 1) / 2, RA decreasing with x), each pixel the brick's nearest pixel."""
    maskbits, header = read_compressed_image(layout.coadd_path(brickname, "maskbits"))
    grid = WCS(naxis=2)
    grid.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    grid.wcs.crval = [ra, dec]
    grid.wcs.crpix = [(size + 1) / 2, (size + 1) / 2]
    grid.wcs.cd = [[-scale / 3600, 0], [0, scale / 3600]]
    rows, columns = np.mgrid[0:size, 0:size]
    sky = grid.pixel_to_world_values(columns.ravel(), rows.ravel())
    x, y = wcs_from_header(header).world_to_pixel_values(*sky)
    xi, yi = np.floor(x + 0.5).astype(int), np.floor(y + 0.5).astype(int)
    inside = (xi >= 0) & (yi >= 0) & (xi < maskbits.shape[1]) & (yi < maskbits.shape[0])
    out = np.zeros(size * size, np.int32)
    out[inside] = maskbits[yi[inside], xi[inside]]
    image = fits.ImageHDU(np.zeros((size, size), np.float32), header=grid.to_header())
    image.header["IMAGETYP"] = "IMAGE"
    mask = fits.ImageHDU(out.reshape(size, size), header=grid.to_header())
    mask.header["IMAGETYP"] = "MASKBITS"
    stream = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), image, mask]).writeto(stream)
    return stream.getvalue()


@pytest.fixture()
def service(small_sky):
    layout = SurveyLayout(str(small_sky))
    state = {"bricks": [], "error_page": False, "busy": 0, "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query, keep_blank_values=True)
            state["requests"].append(query)
            if state["busy"]:
                state["busy"] -= 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            ra, dec, box = float(query["ra"][0]), float(query["dec"][0]), int(query["size"][0])
            if state["error_page"]:
                body = b"<html><body>Server Error (500)</body></html>"
            elif "subimage" in query:
                parts = [_subimage_answer(layout, b, ra, dec, box) for b in state["bricks"]]
                hdus = fits.HDUList([fits.PrimaryHDU()])
                for part in parts:
                    hdus.extend(h.copy() for h in fits.open(io.BytesIO(part))[1:])
                stream = io.BytesIO()
                hdus.writeto(stream)
                body = stream.getvalue()
            else:
                body = _maskbits_answer(layout, state["bricks"][0], ra, dec, box, float(query["pixscale"][0]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/viewer", layout, state
    finally:
        server.shutdown()


def _complete_brick(sky) -> str:
    folders = sorted(p.parent for p in sky.glob("coadd/*/*/legacysurvey-*-maskbits.fits.fz"))
    return next(f.name for f in folders if len(list(f.glob("*.fits.fz"))) == 7)


def _galaxies(brick: CoaddBrick, pixels) -> pa.Table:
    ra, dec = brick.pixel_to_sky([p[0] for p in pixels], [p[1] for p in pixels])
    return pa.table(
        {
            "row_id": pa.array(np.arange(len(pixels)), pa.int64()),
            "brickname": [brick.brickname] * len(pixels),
            "ra": pa.array(np.atleast_1d(ra), pa.float64()),
            "dec": pa.array(np.atleast_1d(dec), pa.float64()),
        }
    )


def test_service_rows_equal_the_local_rows_inside_and_at_the_edge(service, small_sky):
    base, layout, state = service
    name = _complete_brick(small_sky)
    state["bricks"] = [name]
    brick = CoaddBrick(layout, name)
    ny, nx = brick.shape
    galaxies = _galaxies(brick, [(nx / 2 + 0.3, ny / 2 - 0.2), (10.4, ny / 2), (nx / 3, ny - 30.6)])
    state["busy"] = 2  # the first two requests answer 503: retried
    got = cache_rows(galaxies, ServiceCutouts(base, FAST).cut(name, galaxies, CACHE_SIZE), source="service")
    want = cache_rows(galaxies, LocalCoadds(layout).cut(name, galaxies, CACHE_SIZE))
    for column in want.column_names:
        if column == "source":
            assert set(got[column].to_pylist()) == {"service"}
        elif column in ("x", "y"):
            assert np.allclose(got[column].to_numpy(), want[column].to_numpy(), rtol=0, atol=1e-6)
        elif column == "brick_wcs":
            for a, b in zip(got[column].to_pylist(), want[column].to_pylist()):
                wa, wb = (WCS(fits.Header.fromstring(t)) for t in (a, b))
                assert np.allclose(wa.wcs.crpix, wb.wcs.crpix) and np.allclose(wa.wcs.crval, wb.wcs.crval)
        else:
            assert got[column].equals(want[column]), column
    assert got["pixels_brick"].to_pylist() == [name] * 3
    asked = [q for q in state["requests"] if "subimage" in q][-1]
    assert "invvar" in asked and asked["layer"] == ["ls-dr10-south"]
    assert any("maskbits" in q and "subimage" not in q for q in state["requests"])


def test_a_brick_missing_a_band_at_the_service_is_missing_there(service, small_sky):
    base, layout, state = service
    folders = sorted(p.parent for p in small_sky.glob("coadd/*/*/legacysurvey-*-maskbits.fits.fz"))
    name = next(f.name for f in folders if len(list(f.glob("*.fits.fz"))) < 7)
    state["bricks"] = [name]
    brick = CoaddBrick(layout, name)
    galaxies = _galaxies(brick, [(brick.shape[1] / 2, brick.shape[0] / 2)])
    got = cache_rows(galaxies, ServiceCutouts(base, FAST).cut(name, galaxies, CACHE_SIZE))
    want = cache_rows(galaxies, LocalCoadds(layout).cut(name, galaxies, CACHE_SIZE))
    assert got["band_files"].equals(want["band_files"]) and "missing" in got["band_files"][0].as_py()
    assert got["image"].equals(want["image"])


def test_an_error_page_in_place_of_a_fits_file_names_the_request(service):
    base, _, state = service
    state["error_page"] = True
    with pytest.raises(InputFileError, match=r"cutout.fits\?ra=.*no FITS file: b'<html>"):
        fetch_service_cutout(base, "0001m040", 0.1, -4.0, 64, FAST)
    state["error_page"], state["busy"] = False, 10
    with pytest.raises(InputFileError, match="failed after 3 attempt.*HTTP 503"):
        fetch_service_cutout(base, "0001m040", 0.1, -4.0, 64, FAST)
    with pytest.raises(ValueError, match="3000"):
        service_url(base, 0.1, -4.0, 2999)


@pytest.mark.parametrize("dec", [-68.0, -30.0, 0.0, 32.0])
def test_the_maskbits_grid_meets_the_brick_grid_to_under_half_a_pixel(dec):
    """A DR10 brick (3,600 pixels of 0.262", reference pixel at its centre) at the survey's extreme declinations: the
    service's maskbits grid for a 96-pixel cutout at the image's corner, centred as dhs centres it, maps every pixel
    within 0.5 pixel of its brick pixel, so nearest-pixel resampling returns the brick's own maskbits."""
    brick = WCS(naxis=2)
    brick.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    brick.wcs.crval = [150.0, dec]
    brick.wcs.crpix = [1800.5, 1800.5]
    brick.wcs.cd = [[-0.262 / 3600, 0], [0, 0.262 / 3600]]
    worst = 0.0
    for x0, y0 in ((0, 0), (3600 - 96, 0), (0, 3600 - 96), (3600 - 96, 3600 - 96)):
        ra, dec_c = brick.pixel_to_world_values(x0 + 47.5, y0 + 47.5)
        grid = WCS(naxis=2)
        grid.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        grid.wcs.crval = [float(ra), float(dec_c)]
        grid.wcs.crpix = [48.5, 48.5]
        grid.wcs.cd = brick.wcs.cd
        rows, columns = np.mgrid[0:96, 0:96]
        x, y = brick.world_to_pixel_values(*grid.pixel_to_world_values(columns.ravel(), rows.ravel()))
        worst = max(worst, np.abs(x - (columns.ravel() + x0)).max(), np.abs(y - (rows.ravel() + y0)).max())
    assert worst < 0.45, worst
