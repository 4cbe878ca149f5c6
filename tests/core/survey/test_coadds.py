import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

from dhs_core.errors import InputFileError
from dhs_core.survey.coadds import (
    BAND_MISSING,
    BAND_OK,
    BAND_OUTSIDE,
    BAND_PARTIAL,
    CoaddBrick,
    read_compressed_image,
)
from dhs_core.survey.layout import SurveyLayout

TESTCASE6 = "legacysurvey_coadds/obiwan/testcase6-out"
DR5_1238 = "legacysurvey_coadds/obiwan/outdir_1238p245_DR5/elg/123/1238p245/rs0"


@pytest.fixture(scope="module")
def brick_1102(reference_data):
    return CoaddBrick(SurveyLayout(str(reference_data / TESTCASE6)), "1102p240", bands="z")


@pytest.fixture(scope="module")
def brick_1238(reference_data, tmp_path_factory):
    """The DR5 brick 1238p245 (3600 x 3600, data only near one edge), copied into the DR10 layout."""
    root = tmp_path_factory.mktemp("dr5")
    folder = root / "coadd/123/1238p245"
    folder.mkdir(parents=True)
    for product in ("image", "invvar"):
        shutil.copy(reference_data / DR5_1238 / f"coadd/legacysurvey-1238p245-{product}-z.fits.fz", folder)
    return CoaddBrick(SurveyLayout(str(root)), "1238p245", bands="gz")


def test_compressed_data_are_read_from_hdu1(reference_data):
    path = reference_data / TESTCASE6 / "coadd/110/1102p240/legacysurvey-1102p240-image-z.fits.fz"
    with fits.open(path) as hdul:
        assert hdul[0].data is None  # HDU 0 of a .fits.fz is empty: reading it was a bug of the original
    data, header = read_compressed_image(str(path))
    assert data.shape == (100, 100) and header["BRICKNAM"] == "1102p240"


def test_wcs_round_trip_and_brick_centre(brick_1102):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-10, 110, 500), rng.uniform(-10, 110, 500)
    ra, dec = brick_1102.pixel_to_sky(x, y)
    x2, y2 = brick_1102.sky_to_pixel(ra, dec)
    assert np.max(np.abs(x2 - x)) < 1e-8 and np.max(np.abs(y2 - y)) < 1e-8
    # 0-based pixel convention: FITS CRPIX 1300.5 is the 0-based position 1299.5
    cx, cy = brick_1102.sky_to_pixel(110.212443095599, 24.0)
    assert cx == pytest.approx(1299.5, abs=1e-9) and cy == pytest.approx(1149.5, abs=1e-9)
    # pixel scale 0.262"/px, RA decreasing along +x
    ra0, dec0 = brick_1102.pixel_to_sky(50.0, 50.0)
    ra1, dec1 = brick_1102.pixel_to_sky(51.0, 50.0)
    assert float(ra1 - ra0) * np.cos(np.radians(float(dec0))) * 3600 == pytest.approx(-0.262, rel=1e-3)


def test_cutout_inside_equals_the_image_slice(brick_1102, reference_data):
    image, _ = read_compressed_image(
        str(reference_data / TESTCASE6 / "coadd/110/1102p240/legacysurvey-1102p240-image-z.fits.fz")
    )
    ra, dec = brick_1102.pixel_to_sky(50.3, 49.6)
    stamp = brick_1102.cutout(float(ra), float(dec), size=64)
    assert (
        stamp.band_status == (BAND_OK,) and stamp.maskbits_status == BAND_MISSING
    )  # this run wrote no maskbits
    assert stamp.x == pytest.approx(32.3, abs=1e-6) and stamp.y == pytest.approx(31.6, abs=1e-6)
    np.testing.assert_array_equal(stamp.image[0], image[18:82, 18:82])
    assert stamp.image.dtype == np.float32 and stamp.maskbits.dtype == np.int32


def test_cutout_over_the_edge_is_zero_padded(brick_1102, reference_data):
    folder = reference_data / TESTCASE6 / "coadd/110/1102p240"
    image, _ = read_compressed_image(str(folder / "legacysurvey-1102p240-image-z.fits.fz"))
    invvar, _ = read_compressed_image(str(folder / "legacysurvey-1102p240-invvar-z.fits.fz"))
    stamp = brick_1102.cutout_at_pixel(5.0, 90.0, size=32)
    assert stamp.band_status == (BAND_PARTIAL,)
    # x0 = 5 - 16 = -11, y0 = 90 - 16 = 74: columns 0..10 and rows 26..31 of the stamp are off the brick
    assert np.all(stamp.image[0, :, :11] == 0) and np.all(stamp.invvar[0, :, :11] == 0)
    assert np.all(stamp.image[0, 26:, :] == 0) and np.all(stamp.invvar[0, 26:, :] == 0)
    np.testing.assert_array_equal(stamp.image[0, :26, 11:], image[74:100, 0:21])
    np.testing.assert_array_equal(stamp.invvar[0, :26, 11:], invvar[74:100, 0:21])
    far = brick_1102.cutout_at_pixel(500.0, 500.0, size=32)
    assert far.band_status == (BAND_OUTSIDE,) and not far.image.any()


def test_brick_with_data_in_one_corner(brick_1238, reference_data):
    """1238p245: a full 3600 x 3600 grid (CRPIX 1800.5) whose data fill only rows >= 3411."""
    assert brick_1238.shape == (3600, 3600)
    cx, cy = brick_1238.sky_to_pixel(123.887195121951, 24.5)
    assert cx == pytest.approx(1799.5, abs=1e-9) and cy == pytest.approx(1799.5, abs=1e-9)
    image, _ = read_compressed_image(
        str(reference_data / DR5_1238 / "coadd/legacysurvey-1238p245-image-z.fits.fz")
    )
    ra, dec = brick_1238.pixel_to_sky(2000.0, 3590.2)
    stamp = brick_1238.cutout(float(ra), float(dec), size=64)
    assert stamp.band_status == (BAND_MISSING, BAND_PARTIAL)  # no g file; z runs off the top edge
    assert not stamp.image[0].any() and not stamp.invvar[0].any()
    # y0 = 3590 - 32 = 3558: stamp rows 0..41 are image rows 3558..3599, rows 42.. are padding
    np.testing.assert_array_equal(stamp.image[1, :42], image[3558:3600, 1968:2032])
    assert not stamp.image[1, 42:].any() and not stamp.invvar[1, 42:].any()
    assert stamp.image[1, :42].std() > 0  # real sky there
    z_only = brick_1238.cutout(float(ra), float(dec), size=64, bands="z")
    assert z_only.bands == "z" and z_only.band_status == (BAND_PARTIAL,)
    np.testing.assert_array_equal(z_only.image[0], stamp.image[1])


def test_corrupt_coadd_is_an_error_naming_the_file(reference_data, tmp_path):
    folder = tmp_path / "coadd/110/1102p240"
    folder.mkdir(parents=True)
    source = reference_data / TESTCASE6 / "coadd/110/1102p240"
    shutil.copy(source / "legacysurvey-1102p240-invvar-z.fits.fz", folder)
    data = (source / "legacysurvey-1102p240-image-z.fits.fz").read_bytes()
    bad = folder / "legacysurvey-1102p240-image-z.fits.fz"
    bad.write_bytes(data[:2880] + b"\x00" * 100)
    brick = CoaddBrick(SurveyLayout(str(tmp_path)), "1102p240", bands="z")
    with pytest.raises(InputFileError, match=r"legacysurvey-1102p240-image-z\.fits\.fz"):
        brick.cutout_at_pixel(50, 50)


def test_brick_without_any_file_is_an_error(tmp_path):
    brick = CoaddBrick(SurveyLayout(str(tmp_path)), "0001p000")
    with pytest.raises(InputFileError, match="0001p000"):
        brick.cutout(0.1, 0.1)


def test_a_path_with_cfitsio_syntax_is_read_literally(small_sky, tmp_path):
    """Item 9: CFITSIO reads '[...]' as an HDU or filter, so a folder 'data [run1]' failed with status 125."""
    import shutil

    from dhs_core.survey.layout import SurveyLayout

    layout = SurveyLayout(str(small_sky))
    brick = sorted(os.listdir(small_sky / "coadd"))[0]
    name = sorted(os.listdir(small_sky / "coadd" / brick))[0]
    plain = layout.coadd_path(name, "image", "r")
    odd = tmp_path / "data [run1]*?(x)+!" / os.path.basename(plain)
    odd.parent.mkdir()
    shutil.copy(plain, odd)
    from dhs_core.survey.coadds import CoaddImage

    sections, whole = CoaddImage(str(odd), whole=False), CoaddImage(plain)
    assert np.array_equal(sections[slice(5, 40), slice(7, 30)], whole[slice(5, 40), slice(7, 30)])
