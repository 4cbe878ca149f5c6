"""Sources, PSF, rendering: each of the original's physics bugs (§6 items 9-17) pinned by a test."""

import numpy as np
import pytest
from scipy.special import gammainc

from dhs_core.errors import ConfigError
from dhs_core.inject.lens import q_phi_to_ellipticity
from dhs_core.inject.psf import kernel, resolve_psf_fwhm
from dhs_core.inject.render import (
    Grid,
    LensParams,
    convolve,
    render_unit_source,
    render_unit_sources,
    sersic_cutoff,
)
from dhs_core.inject.sources import (
    SersicSources,
    Template,
    TemplateSources,
    half_light_radius,
    sersic_b,
    sersic_sb,
    sersic_total_flux_per_ie,
    template_sb,
)


def _sersic(flux, r_e, n=1.0, q=1.0, pa=0.0):
    return SersicSources(flux, r_e, n, q, pa)


def test_sersic_b_is_exact_and_normalisation_is_analytic():
    for n in (0.5, 1.0, 2.5, 4.0):
        assert gammainc(2 * n, sersic_b(n)) == pytest.approx(0.5, abs=1e-12)
    # the total flux of the profile, integrated numerically, is the requested flux, for any q (bug 12)
    for q in (1.0, 0.4):
        x = np.linspace(-6, 6, 3001)
        xx, yy = np.meshgrid(x, x)
        total = sersic_sb(xx, yy, 2.5, 0.3, 1.0, q, 0.7).sum() * (x[1] - x[0]) ** 2
        assert total == pytest.approx(2.5, rel=1e-3)
    assert sersic_total_flux_per_ie(1.0, 1.0, 1.0) == pytest.approx(
        2 * np.pi * np.exp(sersic_b(1.0)) / sersic_b(1.0) ** 2
    )
    with pytest.raises(ConfigError):
        sersic_sb(0.0, 0.0, 1.0, 0.0, 1.0)


def test_magnification_survives_normalisation():
    """The source is normalised unlensed, so the lensed flux is flux x mu (bug 9: not renormalised).

    For an SIS every source point inside the Einstein radius is magnified by 2 theta_E / |beta|, so the
    expected flux is 2 theta_E times the mean of 1/|beta| over the source light (fine quadrature)."""
    grid = Grid((96, 96), 16)  # the demagnified inner image of a compact source needs fine sampling
    r_e, theta_e = 0.05, 1.2
    step = 0.002
    q = np.arange(-0.45, 0.45, step) + step / 2
    qx, qy = np.meshgrid(q, q)
    light = sersic_sb(qx, qy, 1.0, r_e, 1.0) * step**2
    fluxes = []
    for beta in (0.7, 0.5, 0.3):
        image = render_unit_source(
            grid, 47.5, 47.5, LensParams(theta_e), _sersic(1.0, r_e), beta, 0.0, sersic_cutoff(r_e, 1.0)
        )
        expected = 2 * theta_e * np.sum(light / np.hypot(qx + beta, qy)) / light.sum()
        assert image.sum() == pytest.approx(expected, rel=0.01)
        fluxes.append(image.sum())
    assert fluxes == sorted(fluxes) and fluxes[-1] > 7  # grows as the source nears the caustic


def test_oversampling_removes_the_point_sampling_bias():
    """Point-sampling a compact source at pixel centres overestimates its flux (bug 14; +46 % measured)."""

    def flux(oversample):
        grid = Grid((64, 64), oversample)
        return render_unit_source(
            grid, 32.0, 32.0, None, _sersic(1.0, 0.15), 0.0, 0.0, sersic_cutoff(0.15, 1.0)
        ).sum()

    assert flux(1) > 1.4
    assert flux(4) == pytest.approx(1.0, abs=0.01)
    assert flux(8) == pytest.approx(1.0, abs=0.001)
    with pytest.raises(ConfigError):
        Grid((64, 64), 0)


def test_the_lens_sits_at_the_galaxys_subpixel_position():
    """An Einstein ring of a centred source is centred on the LRG's position, not on pixel 31.5 (bug 14)."""
    grid = Grid((64, 64), 6)
    for cx, cy in ((32.3, 31.6), (31.5, 32.0), (32.0, 32.0)):
        ring = render_unit_source(
            grid, cx, cy, LensParams(1.5), _sersic(1.0, 0.1), 0.0, 0.0, sersic_cutoff(0.1, 1.0)
        )
        yy, xx = np.mgrid[0:64, 0:64]
        # within 0.03 px (sub-pixel sampling); the original's offset was 0.5 px
        assert (ring * xx).sum() / ring.sum() == pytest.approx(cx, abs=0.03)
        assert (ring * yy).sum() / ring.sum() == pytest.approx(cy, abs=0.03)


def test_selective_ray_shooting_matches_the_full_grid():
    """The pixel selection is a bound: on random lenses (q down to 0.3, shear to 0.1, the SIS, sources
    near the caustics) and sources, shooting only the selected pixels loses no light inside the cutoff."""
    grid = Grid((64, 64), 4)
    rng = np.random.default_rng(11)
    n = 24
    e1, e2 = q_phi_to_ellipticity(rng.uniform(0.3, 1.0, n), rng.uniform(0, np.pi, n))
    e1[:3] = e2[:3] = 0.0  # SIS
    lens = LensParams(rng.uniform(0.4, 2.5, n), e1, e2, rng.uniform(-0.1, 0.1, n), rng.uniform(-0.1, 0.1, n))
    r_e, index, q, pa = (
        rng.uniform(0.05, 0.4, n),
        rng.uniform(0.5, 4, n),
        rng.uniform(0.3, 1, n),
        rng.uniform(0, np.pi, n),
    )
    sx, sy = rng.uniform(-0.4, 0.4, (2, n))
    cx, cy = rng.uniform(31, 33, (2, n))
    cutoff = np.array([sersic_cutoff(r, i) for r, i in zip(r_e, index)])
    fast = render_unit_sources(grid, cx, cy, lens, SersicSources(1.0, r_e, index, q, pa), sx, sy, cutoff)
    full = render_unit_sources(
        grid, cx, cy, lens, SersicSources(1.0, r_e, index, q, pa), sx, sy, np.full(n, 1e9)
    )  # every pixel shot
    # what is lost is the light beyond the cutoff (1e-5 of the flux), never a pixel inside it
    assert np.all(np.abs(fast - full).max(axis=(1, 2)) <= 1e-4 * full.max(axis=(1, 2)))
    assert np.all(np.abs(fast.sum(axis=(1, 2)) / full.sum(axis=(1, 2)) - 1) < 1e-4)
    # one source at a time gives the batch's pixels
    for t in (0, 5, 17):
        one = render_unit_source(
            grid,
            cx[t],
            cy[t],
            LensParams(lens.theta_e[t], e1[t], e2[t], lens.gamma1[t], lens.gamma2[t]),
            SersicSources(1.0, r_e[t], index[t], q[t], pa[t]),
            sx[t],
            sy[t],
            cutoff[t],
        )
        np.testing.assert_allclose(one, fast[t], rtol=1e-6, atol=1e-9 * fast[t].max())


def test_convolution_impulse_response():
    """A unit flux at any pixel returns the kernel centred on it: no shift, no wrap (bug 13's ifftshift)."""
    k = kernel(0.9)  # the original's worst case: 11 px shift at 0.9"
    half = k.shape[0] // 2
    rng = np.random.default_rng(0)
    for y, x in [(32, 32), (0, 0), (63, 5), *rng.integers(0, 64, (20, 2))]:
        impulse = np.zeros((64, 64))
        impulse[y, x] = 1.0
        out = convolve(impulse, k)
        assert np.unravel_index(np.argmax(out), out.shape) == (y, x)
        expected = np.zeros((64 + 2 * half, 64 + 2 * half))
        expected[y : y + 2 * half + 1, x : x + 2 * half + 1] = k
        np.testing.assert_allclose(out, expected[half : half + 64, half : half + 64], atol=1e-12)
    centre = np.zeros((64, 64))
    centre[32, 32] = 1.0
    assert convolve(centre, k).sum() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ConfigError):
        convolve(centre, np.ones((4, 4)))


def test_psf_kernels_are_pixel_integrated_moffats():
    k = kernel(1.3)
    n = k.shape[0]
    assert n % 2 == 1 and k.sum() == pytest.approx(1.0) and np.argmax(k) == (n * n) // 2
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)
    # independent: the analytic Moffat averaged over 15 x 15 points per pixel
    beta, fwhm, s = 3.5, 1.3, 0.262
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    sub = (np.arange(15) + 0.5) / 15 - 0.5
    x = (np.arange(n) - n // 2)[:, None] + sub[None, :]
    xx, yy = np.meshgrid(x.ravel() * s, x.ravel() * s)
    analytic = ((1 + (xx**2 + yy**2) / alpha**2) ** -beta).reshape(n, 15, n, 15).mean(axis=(1, 3))
    analytic /= analytic.sum()
    assert np.abs(k - analytic).max() <= 2e-4 * k.max()
    gaussian = kernel(1.3, "gaussian")
    assert gaussian.max() > k.max()  # no wings: more light in the core
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ConfigError):
            kernel(bad)


def test_missing_psf_sizes_fall_back_and_are_flagged():
    """PSF size 0 (no coverage) must never mean 'no convolution' (bug 17)."""
    used, fallback = resolve_psf_fwhm({"g": 0.0, "r": 1.2, "z": float("nan")})
    assert used == {"g": 1.2, "r": 1.2, "z": 1.2} and fallback == ["g:r", "z:r"]
    used, fallback = resolve_psf_fwhm({"g": None, "r": -1.0, "z": 1.1}, default=1.4)
    assert used == {"g": 1.4, "r": 1.4, "z": 1.1} and fallback == ["g:default", "r:default"]
    # the object's own size first, the brick's median only where the object has none (named), then r, then the default
    used, fallback = resolve_psf_fwhm({"g": 1.5, "r": 0.0, "z": None}, {"g": 1.0, "r": 1.3, "z": 0.0})
    assert used == {"g": 1.5, "r": 1.3, "z": 1.3} and fallback == ["r:brick", "z:r"]


def _gaussian_template(size=81, sigma_px=5.0, pixel_scale=0.03, bands=1):
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    image = np.exp(-0.5 * ((x / sigma_px) ** 2 + (y / (0.5 * sigma_px)) ** 2))
    image /= image.sum()
    planes = np.stack([image] * bands) if bands > 1 else image
    return Template(planes, pixel_scale, half_light_radius(image, pixel_scale))


def test_template_flux_comes_back():
    """A template of known flux renders to that flux (bug 11: flux passed as surface brightness, 1,111x)."""
    template = _gaussian_template()
    grid = Grid((64, 64), 4)
    for flux in (1.0, 7.5):
        image = render_unit_source(
            grid, 32.0, 32.0, None, TemplateSources([template], template.hlr_arcsec, 0.0, flux), 0.0, 0.0, 2.0
        )
        assert image.sum() == pytest.approx(flux, rel=0.01)  # bilinear sampling error; the bug was 1,111x


def test_template_rotation_and_rescaling():
    template = _gaussian_template()
    step = 0.01
    x = np.arange(-1.5, 1.5, step) + step / 2
    xx, yy = np.meshgrid(x, x)
    base = template_sb(xx, yy, template, 1.0)
    rotated = template_sb(xx, yy, template, 1.0, pa=np.pi / 2)
    np.testing.assert_allclose(rotated, np.rot90(base, 1), atol=1e-6 * base.max())  # +90 deg: x -> y
    doubled = template_sb(xx, yy, template, 1.0, hlr_arcsec=2 * template.hlr_arcsec)
    assert doubled.sum() * step**2 == pytest.approx(1.0, rel=1e-3)  # flux kept when rescaled
    assert half_light_radius(doubled, step) == pytest.approx(2 * template.hlr_arcsec, rel=0.05)
    three = _gaussian_template(bands=3)
    per_band = template_sb(xx, yy, three, [1.0, 2.0, 3.0])
    assert per_band.shape == (3,) + xx.shape
    np.testing.assert_allclose(per_band.sum(axis=(1, 2)) * step**2, [1.0, 2.0, 3.0], rtol=1e-3)


def test_batched_convolver_equals_the_direct_convolution():
    from dhs_core.inject.render import Convolver

    rng = np.random.default_rng(2)
    kernels = [
        kernel(1.8),
        kernel(1.3),
        kernel(0.95),
    ]  # different sizes, the largest (65 px) wider than the stamp
    convolver = Convolver((64, 64))
    single = rng.random((64, 64))
    per_band = rng.random((3, 64, 64))
    for i, k in enumerate(kernels):
        np.testing.assert_allclose(convolver.convolve(single, kernels)[i], convolve(single, k), atol=1e-13)
        np.testing.assert_allclose(
            convolver.convolve(per_band, kernels)[i], convolve(per_band[i], k), atol=1e-13
        )
        assert convolver.flux_kept(single, k) == pytest.approx(convolve(single, k).sum(), rel=1e-12)


def test_area_ratio_is_the_inverse_magnification():
    """The level of detail uses |det(I - H)| at pixel centres, computed in the lens frame; it equals
    1 / |magnification| from the analytic Hessian in the stamp frame."""
    from dhs_core.inject.lens import magnification, unit_deflection
    from dhs_core.inject.render import _area_ratio, _as_lens_arrays

    rng = np.random.default_rng(8)
    for _ in range(20):
        theta_e, e1, e2, g1, g2 = (
            rng.uniform(0.5, 2),
            *rng.uniform(-0.25, 0.25, 2),
            *rng.uniform(-0.08, 0.08, 2),
        )
        x, y = rng.uniform(-3, 3, (2, 200))
        q, e, b, to_lens, shear, _ = _as_lens_arrays(LensParams(theta_e, e1, e2, g1, g2), 1)
        xm, ym = to_lens[0, 0, 0] * x + to_lens[0, 0, 1] * y, to_lens[0, 1, 0] * x + to_lens[0, 1, 1] * y
        _, _, psi = unit_deflection(xm, ym, q[0], e[0])
        area = _area_ratio(
            xm, ym, psi, np.full(200, b[0]), np.repeat(to_lens, 200, 0), np.repeat(shear, 200, 0)
        )
        np.testing.assert_allclose(
            area, 1 / np.abs(magnification(x, y, theta_e, e1, e2, g1, g2)), rtol=1e-9, atol=1e-12
        )


def test_templates_of_one_batch_in_any_order_sample_as_each_alone():
    """A batch gathers each template's coefficients from its own cached cells, run by run of points of one template:
    points interleaved between templates get exactly the values each template gives alone."""
    narrow, wide = _gaussian_template(sigma_px=2.0), _gaussian_template(sigma_px=5.0)
    batch = TemplateSources(
        [narrow, wide, narrow], [0.3, 0.5, 0.4], [0.0, 0.7, 1.2], [1.0, 2.0, 3.0], pyramid=True
    )
    rng = np.random.default_rng(5)
    u, v = rng.uniform(0, 60, (2, 500)).astype(np.float32)
    which = rng.integers(0, 3, 500)  # unsorted: many short runs
    mixed = batch.profile(u, v, which)
    for source, template in enumerate((narrow, wide, narrow)):
        alone = TemplateSources([template], [0.3, 0.5, 0.4][source], 0.0, 1.0, pyramid=True)
        np.testing.assert_array_equal(mixed[which == source], alone.profile(u, v)[which == source])
    assert narrow.nbytes > narrow.image.nbytes  # the cells are cached on the template, counted in its bytes
