"""Cutouts from the Legacy Surveys cutout service, against a server on 127.0.0.1 that answers ``subimage`` requests
as legacysurvey/imagine does (native slices of each brick, image then invvar per band, no maskbits): the pixels equal
the brick's own cutout; an error page in place of a FITS file is an error naming the request."""

import io
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dhs_core.conventions import BANDS
from dhs_core.errors import InputFileError
from dhs_core.survey.coadds import CoaddBrick, read_compressed_image
from dhs_core.survey.cutout_service import fetch_service_cutout, service_url
from dhs_core.survey.layout import SurveyLayout


def _subimage_answer(layout: SurveyLayout, brickname: str, ra: float, dec: float, box: int) -> bytes:
    """What the service's subimage mode sends for one brick: per band an image HDU then an invvar HDU, each the brick's
    slice around (ra, dec) clipped at its edge, origin and band in the header, the slice's WCS."""
    hdus = [fits.PrimaryHDU()]
    for band in BANDS:
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


@pytest.fixture()
def service(small_sky):
    layout = SurveyLayout(str(small_sky))
    state = {"brick": None, "error_page": False, "requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query, keep_blank_values=True)
            state["requests"].append(query)
            if state["error_page"]:
                body, kind = b"<html><body>Server Error (500)</body></html>", "text/html"
            else:
                ra, dec, box = float(query["ra"][0]), float(query["dec"][0]), int(query["size"][0])
                body, kind = _subimage_answer(layout, state["brick"], ra, dec, box), "image/fits"
            self.send_response(200)
            self.send_header("Content-Type", kind)
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


def test_service_pixels_equal_the_brick_cutout_inside_and_at_the_edge(service, small_sky):
    base, layout, state = service
    state["brick"] = name = _complete_brick(small_sky)
    brick = CoaddBrick(layout, name)
    ny, nx = brick.shape
    for x, y in ((nx / 2 + 0.3, ny / 2 - 0.2), (10.4, ny / 2)):
        ra, dec = (float(v) for v in brick.pixel_to_sky(x, y))
        got = fetch_service_cutout(base, name, ra, dec, 64)
        want = brick.cutout(ra, dec, 64)
        assert np.array_equal(got.image, want.image) and np.array_equal(got.invvar, want.invvar)
        assert (
            got.band_status == want.band_status and abs(got.x - want.x) < 1e-6 and abs(got.y - want.y) < 1e-6
        )
        assert got.maskbits_status == "missing"  # the service's native mode has no maskbits
    asked = state["requests"][-1]
    assert "subimage" in asked and "invvar" in asked and asked["layer"] == ["ls-dr10-south"]


def test_an_error_page_in_place_of_a_fits_file_names_the_request(service, small_sky):
    base, _, state = service
    state["error_page"] = True
    with pytest.raises(InputFileError, match=r"cutout.fits\?ra=.*no FITS file: b'<html>"):
        fetch_service_cutout(base, "0001m040", 0.1, -4.0, 64)
    with pytest.raises(ValueError, match="3000"):
        service_url(base, 0.1, -4.0, 2999)
