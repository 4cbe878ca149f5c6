"""dhs's renderer against lenstronomy's ImageModel: same lens, source, PSF and supersampling."""

import math

import numpy as np
import pytest
from lenstronomy.Data.imaging_data import ImageData
from lenstronomy.Data.psf import PSF
from lenstronomy.ImSim.image_model import ImageModel
from lenstronomy.LensModel.lens_model import LensModel
from lenstronomy.LensModel.Profiles.sersic_utils import SersicUtil
from lenstronomy.LightModel.light_model import LightModel
from scipy.special import gamma

from dhs_core.inject.lens import q_phi_to_ellipticity
from dhs_core.inject.psf import kernel
from dhs_core.inject.render import Grid, LensParams, convolve, render_unit_source, sersic_cutoff
from dhs_core.inject.sources import SersicSources, Template, TemplateSources, half_light_radius, sersic_b

PIXEL, SIZE, CX, CY, OVERSAMPLE = 0.262, 64, 32.3, 31.6, 4
LENS = LensParams(1.3, 0.12, -0.05, 0.03, 0.01)
LENS_KWARGS = [
    dict(theta_E=1.3, e1=0.12, e2=-0.05, center_x=0.0, center_y=0.0),
    dict(gamma1=0.03, gamma2=0.01, ra_0=0.0, dec_0=0.0),
]


def _lenstronomy_image(light_name, light_kwargs, psf_kernel):
    # pixel (i, j) sits at ((i - CX) * PIXEL, (j - CY) * PIXEL): the lens at the LRG's sub-pixel position
    data = ImageData(
        image_data=np.zeros((SIZE, SIZE)),
        transform_pix2angle=np.array([[PIXEL, 0], [0, PIXEL]]),
        ra_at_xy_0=-CX * PIXEL,
        dec_at_xy_0=-CY * PIXEL,
    )
    psf = (
        PSF(psf_type="PIXEL", kernel_point_source=psf_kernel)
        if psf_kernel is not None
        else PSF(psf_type="NONE")
    )
    model = ImageModel(
        data,
        psf,
        lens_model_class=LensModel(["SIE", "SHEAR"]),
        source_model_class=LightModel([light_name]),
        kwargs_numerics=dict(supersampling_factor=OVERSAMPLE, supersampling_convolution=False),
    )
    return model.image(kwargs_lens=LENS_KWARGS, kwargs_source=[light_kwargs])


@pytest.mark.parametrize("convolved", [False, True])
def test_sersic_source(convolved):
    r_e, n, q, pa, sx, sy, flux = 0.25, 1.5, 0.6, 0.4, 0.15, -0.1, 3.0
    # lenstronomy's SERSIC_ELLIPSE uses R^2 = q x^2 + y^2/q and an approximate b_n (1.9992 n - 0.3271):
    # the same profile has R_sersic = sqrt(q) r_e (b_L/b_n)^n and amplitude I_e exp(b_n - b_L)
    b_exact, b_lens = sersic_b(n), float(SersicUtil.b_n(n))
    ie = flux / (2 * math.pi * q * r_e**2 * n * math.exp(b_exact) * gamma(2 * n) / b_exact ** (2 * n))
    e1, e2 = q_phi_to_ellipticity(q, pa)
    k = kernel(1.2) if convolved else None
    reference = _lenstronomy_image(
        "SERSIC_ELLIPSE",
        dict(
            amp=ie * math.exp(b_exact - b_lens),
            R_sersic=math.sqrt(q) * r_e * (b_lens / b_exact) ** n,
            n_sersic=n,
            e1=float(e1),
            e2=float(e2),
            center_x=sx,
            center_y=sy,
        ),
        k,
    )
    ours = render_unit_source(
        Grid((SIZE, SIZE), OVERSAMPLE),
        CX,
        CY,
        LENS,
        SersicSources(flux, r_e, n, q, pa),
        sx,
        sy,
        sersic_cutoff(r_e, n),
    )
    if convolved:
        ours = convolve(ours, k)
    assert np.abs(ours - reference).max() <= 1e-5 * reference.max()  # float32 rays: ~1e-6 measured


@pytest.mark.parametrize("convolved", [False, True])
def test_template_source(convolved):
    y, x = np.mgrid[0:61, 0:61] - 30
    image = np.exp(-0.5 * ((x - 3) ** 2 / 30 + (y + 2) ** 2 / 12)) + 0.5 * np.exp(
        -0.5 * ((x + 8) ** 2 / 6 + (y - 5) ** 2 / 6)
    )
    image /= image.sum()
    template = Template(image, 0.03, half_light_radius(image, 0.03))
    hlr, pa, sx, sy, flux = 1.3 * template.hlr_arcsec, 0.7, 0.12, -0.08, 2.0
    step = 0.03 * hlr / template.hlr_arcsec
    k = kernel(1.2) if convolved else None
    # INTERPOL takes surface brightness (flux per arcsec^2): the template's unit flux per pixel / step^2
    reference = _lenstronomy_image(
        "INTERPOL",
        dict(image=image / step**2 * flux, amp=1.0, center_x=sx, center_y=sy, phi_G=pa, scale=step),
        k,
    )
    cutoff = math.hypot(61, 61) / 2 * step
    ours = render_unit_source(
        Grid((SIZE, SIZE), OVERSAMPLE),
        CX,
        CY,
        LENS,
        TemplateSources([template], hlr, pa, flux),
        sx,
        sy,
        cutoff,
    )
    if convolved:
        ours = convolve(ours, k)
    assert np.abs(ours - reference).max() <= 1e-5 * reference.max()  # float32 rays: ~1e-6 measured
    assert ours.sum() == pytest.approx(reference.sum(), rel=1e-6)
