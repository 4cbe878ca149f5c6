"""Render one mock brick's coadds: sources through a Moffat PSF, sky noise matching invvar, masks.

Every catalogued source is drawn with GalSim (de Vaucouleurs, exponential, Sérsic, point) through a
Moffat (beta = 3.5) PSF of the brick's FWHM in each band; pixel values are nanomaggies. The invvar of a
pixel is the brick's sky noise modulated by overlapping exposure footprints (piecewise constant, as a
coadd's), and the noise is drawn from it. Masks follow DR10: BRIGHT and MEDIUM discs
around stars (radius 1630" * 1.396**-G, halved for MEDIUM), SATUR where a star's core exceeds the
saturation level, a few ALLMASK pixels, NPRIMARY outside the brick's box.
"""

from __future__ import annotations

import galsim
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from dhs_core.conventions import (
    ALLMASK,
    PIXEL_SCALE_ARCSEC,
    SATURATED,
    MaskBits,
)
from dhs_core.survey.mock_layout import MOFFAT_BETA, MockBrick

SATURATION_NMGY = 400.0  # per pixel
GSPARAMS = galsim.GSParams(folding_threshold=5e-3, maxk_threshold=2e-3)


def brick_wcs(brick: MockBrick, size_px: int) -> WCS:
    """TAN WCS centred on the brick at 0.262"/px, RA increasing to the left (CD1_1 < 0), as DR10."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [brick.ra, brick.dec]
    wcs.wcs.crpix = [(size_px + 1) / 2.0, (size_px + 1) / 2.0]
    scale = PIXEL_SCALE_ARCSEC / 3600.0
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    return wcs


def _galsim_profile(kind: str, flux: float, shape_r: float, e1: float, e2: float, sersic: float):
    if kind == "PSF":
        return None
    if kind == "DEV":
        prof = galsim.DeVaucouleurs(half_light_radius=shape_r, flux=flux, gsparams=GSPARAMS)
    elif kind == "SER":
        prof = galsim.Sersic(n=float(sersic), half_light_radius=shape_r, flux=flux, gsparams=GSPARAMS)
    else:  # EXP, REX
        prof = galsim.Exponential(half_light_radius=shape_r, flux=flux, gsparams=GSPARAMS)
    if e1 or e2:
        prof = prof.shear(g1=float(e1), g2=float(e2))
    return prof


def _add_stamp(
    image: galsim.ImageF, prof: galsim.GSObject, x: float, y: float, half_size_arcsec: float
) -> None:
    """Draw ``prof`` centred at 0-based pixel (x, y) into ``image`` (bounds 1..N), clipped at the edges."""
    ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    n = int(np.clip(2 * np.ceil(half_size_arcsec / PIXEL_SCALE_ARCSEC) + 1, 15, 301))
    bounds = galsim.BoundsI(ix + 1 - n // 2, ix + 1 + n // 2, iy + 1 - n // 2, iy + 1 + n // 2)
    overlap = bounds & image.bounds
    if not overlap.isDefined():
        return
    stamp = prof.drawImage(nx=n, ny=n, scale=PIXEL_SCALE_ARCSEC, offset=(x - ix, y - iy))
    stamp.setCenter(ix + 1, iy + 1)
    image[overlap] += stamp[overlap]


def lensed_arc(
    theta_e: float,
    beta_x: float,
    beta_y: float,
    src_hlr: float,
    flux: float,
    size_px: int = 41,
    oversample: int = 5,
) -> galsim.InterpolatedImage:
    """A singular isothermal sphere lensing a circular exponential source (flux in nMgy, angles arcsec).

    Ray-shot on an oversampled grid centred on the lens; the source is normalised on its unlensed
    profile, so the arc's flux is the source flux times the magnification.
    """
    n = size_px * oversample
    step = PIXEL_SCALE_ARCSEC / oversample
    coords = (np.arange(n) - (n - 1) / 2.0) * step
    tx, ty = np.meshgrid(coords, coords)
    radius = np.hypot(tx, ty)
    radius = np.where(radius > 0, radius, 1e-12)
    bx = tx - theta_e * tx / radius - beta_x
    by = ty - theta_e * ty / radius - beta_y
    scale_length = src_hlr / 1.6783469900166612
    surface = flux / (2 * np.pi * scale_length**2) * np.exp(-np.hypot(bx, by) / scale_length)
    return galsim.InterpolatedImage(
        galsim.ImageF((surface * step**2).astype(np.float32), scale=step),
        normalization="flux",
        gsparams=GSPARAMS,
    )


def _exposure_map(rng: np.random.Generator, size_px: int) -> np.ndarray:
    """Relative inverse variance from overlapping exposure footprints: piecewise constant, as a coadd's.

    Normalised to a median of 1, so the brick's summary depth is the median depth of its pixels.
    """
    counts = np.full((size_px, size_px), 4.0, dtype=np.float32)
    for _ in range(4):
        x0, y0 = rng.integers(-size_px // 2, size_px // 2, 2)
        w, h = rng.integers(size_px // 2, size_px, 2)
        counts[max(y0, 0) : max(y0 + h, 0), max(x0, 0) : max(x0 + w, 0)] += 1.0
    return counts / np.median(counts)


def _masks(
    brick: MockBrick,
    wcs: WCS,
    size_px: int,
    cat: dict,
    xs: np.ndarray,
    ys: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    mask = np.zeros((size_px, size_px), dtype=np.int32)
    yy, xx = np.mgrid[0:size_px, 0:size_px]
    ra, dec = wcs.pixel_to_world_values(xx.ravel().astype(float), yy.ravel().astype(float))
    ra_off = np.mod(ra - brick.ra1, 360.0)
    inside = (ra_off < np.mod(brick.ra2 - brick.ra1, 360.0)) & (dec >= brick.dec1) & (dec < brick.dec2)
    mask[~inside.reshape(size_px, size_px)] |= int(MaskBits.NPRIMARY)
    gaia = cat["gaia_phot_g_mean_mag"]
    for k in np.flatnonzero((cat["type"] == "PSF") & (gaia > 0) & (gaia < 16.0)):
        bright = gaia[k] < 13.0
        radius_px = 1630.0 * 1.396 ** (-gaia[k]) * (1.0 if bright else 0.5) / PIXEL_SCALE_ARCSEC
        disc = (xx - xs[k]) ** 2 + (yy - ys[k]) ** 2 < radius_px**2
        mask[disc] |= int(MaskBits.BRIGHT if bright else MaskBits.MEDIUM)
    for band in "grz":  # a short bad column per band
        x0, y0 = rng.integers(50, size_px - 50, 2)
        mask[y0 : y0 + rng.integers(5, 30), x0] |= int(ALLMASK[band])
    return mask


def render_brick(brick: MockBrick, cat: dict, planted: list[dict], size_px: int, seed: int):
    """Images, invvars and maskbits of one brick, plus each object's maskbits at its centre.

    Returns ``(images, invvars, maskbits, wcs, object_maskbits)``; ``images[band]`` is None for a
    band the brick lacks. ``planted`` lists lenses to add: dicts with ``index`` (catalogue row),
    ``theta_e``, ``beta_x``, ``beta_y``, ``src_hlr`` (arcsec) and ``src_flux_<band>`` (nMgy).
    """
    rng = np.random.default_rng([seed, brick.brickid, 0x72656E646572])  # "render"
    wcs = brick_wcs(brick, size_px)
    xs, ys = wcs.world_to_pixel_values(cat["ra"], cat["dec"])
    exposure_map = _exposure_map(rng, size_px)
    maskbits = _masks(brick, wcs, size_px, cat, xs, ys, rng)
    images, invvars = {}, {}
    for k, band in enumerate("grz"):
        if brick.missing_band == band:
            images[band] = invvars[band] = None
            continue
        fwhm = brick.psfsize[k]
        psf = galsim.Moffat(beta=MOFFAT_BETA, fwhm=fwhm, gsparams=GSPARAMS)
        image = galsim.ImageF(size_px, size_px, scale=PIXEL_SCALE_ARCSEC)
        flux = np.maximum(cat[f"true_flux_{band}"], 0.0)
        for i in range(len(flux)):
            prof = _galsim_profile(
                cat["type"][i],
                float(flux[i]),
                float(cat["shape_r"][i]),
                float(cat["shape_e1"][i]),
                float(cat["shape_e2"][i]),
                float(cat["sersic"][i]),
            )
            conv = (
                psf.withFlux(float(flux[i]))
                if prof is None
                else galsim.Convolve(prof, psf, gsparams=GSPARAMS)
            )
            reach = 3 * fwhm + (
                8 * float(cat["shape_r"][i]) if prof is not None else 2 * fwhm * np.log10(max(flux[i], 1.0))
            )
            _add_stamp(image, conv, xs[i], ys[i], reach)
        for lens in planted:
            arc = lensed_arc(
                lens["theta_e"], lens["beta_x"], lens["beta_y"], lens["src_hlr"], lens[f"src_flux_{band}"]
            )
            _add_stamp(
                image, galsim.Convolve(arc, psf, gsparams=GSPARAMS), xs[lens["index"]], ys[lens["index"]], 8.0
            )
        model = image.array
        maskbits[model > SATURATION_NMGY] |= int(SATURATED[band])
        ivar = (exposure_map / brick.sky_sigma[k] ** 2).astype(np.float32)
        data = (model + rng.standard_normal(model.shape, dtype=np.float32) / np.sqrt(ivar)).astype(np.float32)
        if brick.nan_patch and band == "r":
            y0, x0 = size_px // 3, size_px // 3
            data[y0 : y0 + 24, x0 : x0 + 24] = np.nan
            ivar[y0 : y0 + 24, x0 : x0 + 24] = 0.0
        images[band], invvars[band] = data, ivar
    ix = np.clip(np.floor(xs + 0.5).astype(int), 0, size_px - 1)
    iy = np.clip(np.floor(ys + 0.5).astype(int), 0, size_px - 1)
    return images, invvars, maskbits, wcs, maskbits[iy, ix]


def coadd_header(brick: MockBrick, wcs: WCS, product: str, band: str | None) -> fits.Header:
    header = wcs.to_header()
    header["BRICKNAM"] = (brick.brickname, "LegacySurvey brick RRRr[pm]DDd")
    header["BRICKID"] = brick.brickid
    header["RAMIN"], header["RAMAX"] = brick.ra1, brick.ra2
    header["DECMIN"], header["DECMAX"] = brick.dec1, brick.dec2
    header["PRODTYPE"] = product
    if band:
        header["BAND"] = band
    header["BUNIT"] = {"image": "nanomaggy", "invvar": "1/nanomaggy^2", "maskbits": ""}[product]
    header["MOCKSKY"] = (True, "dhs mock DR10 sky, not real data")
    return header


def write_compressed(
    path: str, data: np.ndarray, header: fits.Header, dither_seed: int, quantize_level: float = 4.0
) -> None:
    """Write a tile-compressed ``.fits.fz`` (RICE, data in HDU 1) deterministically.

    Floats are quantized as fpack does: ``quantize_level`` > 0 is the number of levels per noise sigma
    (fpack's default 4), < 0 an absolute step; integers are compressed losslessly.
    """
    quantized = data.dtype.kind == "f"
    hdu = fits.CompImageHDU(
        data,
        header=header,
        compression_type="RICE_1",
        quantize_level=quantize_level if quantized else 0.0,
        quantize_method=2 if quantized else -1,
        dither_seed=dither_seed,
    )
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def planted_arc(lens: dict, band: str, psf_fwhm_arcsec: float, size: int, x: float, y: float) -> np.ndarray:
    """The noiseless arc of a planted lens (a row of ``mock_lenses_truth.csv``: ``theta_e``, ``beta_x``, ``beta_y``,
    ``src_hlr`` in arcsec, ``src_flux_<band>`` in nMgy) as the mock sky drew it, through its Moffat PSF, on a
    ``size``-pixel square grid with the lens at 0-based pixel (``x``, ``y``): nanomaggies per pixel. The truth that
    real-lens S/N measurements are checked against."""
    arc = lensed_arc(
        float(lens["theta_e"]),
        float(lens["beta_x"]),
        float(lens["beta_y"]),
        float(lens["src_hlr"]),
        float(lens[f"src_flux_{band}"]),
    )
    psf = galsim.Moffat(beta=MOFFAT_BETA, fwhm=psf_fwhm_arcsec, gsparams=GSPARAMS)
    image = galsim.ImageF(size, size, scale=PIXEL_SCALE_ARCSEC)
    _add_stamp(image, galsim.Convolve(arc, psf, gsparams=GSPARAMS), x, y, 8.0)
    return image.array.astype(np.float64)
