"""SIE + shear against lenstronomy (the independent implementation) and against analytic SIS results."""

import numpy as np
import pytest
from lenstronomy.LensModel.lens_model import LensModel

from dhs_core.errors import ConfigError
from dhs_core.inject.lens import (
    deflection,
    ellipticity_to_q_phi,
    hessian,
    magnification,
    q_phi_to_ellipticity,
)


def _random_lenses(n, rng):
    q = rng.uniform(0.3, 1.0, n)
    phi = rng.uniform(0, np.pi, n)
    e1, e2 = q_phi_to_ellipticity(q, phi)
    shear = rng.uniform(0, 0.1, n)
    angle = rng.uniform(0, np.pi, n)
    return dict(
        theta_e=rng.uniform(0.3, 3.0, n),
        e1=e1,
        e2=e2,
        gamma1=shear * np.cos(2 * angle),
        gamma2=shear * np.sin(2 * angle),
        cx=rng.uniform(-0.5, 0.5, n),
        cy=rng.uniform(-0.5, 0.5, n),
    )


@pytest.fixture(scope="module")
def lenstronomy_model():
    return LensModel(["SIE", "SHEAR"])


def test_deflection_matches_lenstronomy_on_1000_lenses(lenstronomy_model):
    rng = np.random.default_rng(11)
    lenses = _random_lenses(1000, rng)
    grid = np.linspace(-4.0, 4.0, 41)
    gx, gy = np.meshgrid(grid, grid)
    gx, gy = gx.ravel(), gy.ravel()
    worst64 = worst32 = 0.0
    for i in range(1000):
        p = {k: v[i] for k, v in lenses.items()}
        kwargs = [
            dict(theta_E=p["theta_e"], e1=p["e1"], e2=p["e2"], center_x=p["cx"], center_y=p["cy"]),
            dict(gamma1=p["gamma1"], gamma2=p["gamma2"], ra_0=p["cx"], dec_0=p["cy"]),
        ]
        x, y = gx + rng.uniform(-0.1, 0.1), gy + rng.uniform(-0.1, 0.1)
        away = np.hypot(x - p["cx"], y - p["cy"]) > 0.1  # lenstronomy softens the centre by 1e-10"
        ref_x, ref_y = lenstronomy_model.alpha(x, y, kwargs)
        ax, ay = deflection(x, y, p["theta_e"], p["e1"], p["e2"], p["gamma1"], p["gamma2"], p["cx"], p["cy"])
        worst64 = max(worst64, np.abs(ax - ref_x)[away].max(), np.abs(ay - ref_y)[away].max())
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        fx, fy = deflection(
            x32, y32, p["theta_e"], p["e1"], p["e2"], p["gamma1"], p["gamma2"], p["cx"], p["cy"]
        )
        assert fx.dtype == np.float32 and fy.dtype == np.float32
        ref32_x, ref32_y = lenstronomy_model.alpha(x32.astype(np.float64), y32.astype(np.float64), kwargs)
        worst32 = max(worst32, np.abs(fx - ref32_x)[away].max(), np.abs(fy - ref32_y)[away].max())
    assert worst64 <= 1e-8, worst64
    assert worst32 <= 1e-6, worst32


def test_sqrt_q_normalisation():
    """theta_E is the product-average Einstein radius: b = theta_E sqrt(q) on the major axis (bug 15)."""
    q = 0.5
    e1, e2 = q_phi_to_ellipticity(q, 0.0)
    # on the major axis (y = 0) the SIE deflection is (b / e) arctan(e x / (q |x|)), e = sqrt(1 - q^2)
    e = np.sqrt(1 - q**2)
    ax, ay = deflection(np.array([2.0]), np.array([0.0]), 1.0, e1, e2)
    assert ax[0] == pytest.approx(np.sqrt(q) / e * np.arctan(e / q), rel=1e-14) and ay[0] == 0.0
    # without sqrt(q) (the original's Sérsic path) it would be 1/sqrt(q) = 1.41x larger
    assert ax[0] < 1.0 / e * np.arctan(e / q)


def test_sis_limit_has_no_division_by_zero():
    x = np.array([1.0, -2.0, 0.0, 0.3])
    y = np.array([0.0, 1.0, 0.0, -0.4])
    with np.errstate(all="raise"):
        ax, ay = deflection(x, y, 1.5, 0.0, 0.0)
        near = deflection(x, y, 1.5, 1e-9, 0.0)
    r = np.hypot(x, y)
    expected_x = np.where(r > 0, 1.5 * x / np.where(r > 0, r, 1), 0.0)
    expected_y = np.where(r > 0, 1.5 * y / np.where(r > 0, r, 1), 0.0)
    np.testing.assert_allclose(ax, expected_x, atol=1e-15)
    np.testing.assert_allclose(ay, expected_y, atol=1e-15)
    np.testing.assert_allclose(near[0], expected_x, atol=1e-8)


def test_hessian_is_the_derivative_of_the_deflection(lenstronomy_model):
    rng = np.random.default_rng(4)
    lenses = _random_lenses(50, rng)
    h = 1e-6
    for i in range(50):
        p = [lenses[k][i] for k in ("theta_e", "e1", "e2", "gamma1", "gamma2", "cx", "cy")]
        x, y = rng.uniform(-3, 3, 100), rng.uniform(-3, 3, 100)
        keep = np.hypot(x - p[5], y - p[6]) > 0.2
        f_xx, f_xy, f_yy = hessian(x, y, *p)
        xp, _ = deflection(x + h, y, *p)
        xm, _ = deflection(x - h, y, *p)
        yp_x, yp_y = deflection(x, y + h, *p)
        ym_x, ym_y = deflection(x, y - h, *p)
        np.testing.assert_allclose(f_xx[keep], ((xp - xm) / (2 * h))[keep], atol=2e-8)
        np.testing.assert_allclose(f_yy[keep], ((yp_y - ym_y) / (2 * h))[keep], atol=2e-8)
        np.testing.assert_allclose(f_xy[keep], ((yp_x - ym_x) / (2 * h))[keep], atol=2e-8)
        kwargs = [
            dict(theta_E=p[0], e1=p[1], e2=p[2], center_x=p[5], center_y=p[6]),
            dict(gamma1=p[3], gamma2=p[4], ra_0=p[5], dec_0=p[6]),
        ]
        ref = lenstronomy_model.hessian(x, y, kwargs)  # finite differences of 1e-10" inside lenstronomy
        np.testing.assert_allclose(f_xx[keep], ref[0][keep], atol=1e-4)
        np.testing.assert_allclose(f_xy[keep], ref[1][keep], atol=1e-4)


def test_sis_magnification_of_a_small_disk_source():
    """Total magnification of a uniform disk behind an SIS, by ray-shooting, against 2 theta_E <1/|beta|>."""
    theta_e, radius, beta0 = 1.2, 0.05, 0.4
    step = 0.002
    grid = np.arange(-2.0, 2.0, step) + step / 2
    x, y = np.meshgrid(grid, grid)
    ax, ay = deflection(x, y, theta_e, 0.0, 0.0)
    inside = np.hypot(x - ax - beta0, y - ay) < radius
    mu_rays = inside.sum() * step**2 / (np.pi * radius**2)
    # the analytic mean of 1/|beta| over the disk, by polar quadrature about the disk centre
    rr, tt = np.meshgrid(
        np.linspace(0, radius, 2001)[1:] - radius / 4000, np.linspace(0, 2 * np.pi, 2001)[:-1]
    )
    beta = np.hypot(beta0 + rr * np.cos(tt), rr * np.sin(tt))
    mean_inverse = np.sum(rr / beta) / np.sum(rr)
    assert mu_rays == pytest.approx(2 * theta_e * mean_inverse, rel=5e-3)
    assert 2 * theta_e * mean_inverse == pytest.approx(
        2 * theta_e / beta0, rel=2e-3
    )  # near the point-source value
    # the point magnifications of the two images: theta_E / beta +- 1
    images = np.array([beta0 + theta_e, beta0 - theta_e])
    np.testing.assert_allclose(
        np.abs(magnification(images, np.zeros(2), theta_e, 0.0, 0.0)),
        [theta_e / beta0 + 1, theta_e / beta0 - 1],
        rtol=1e-12,
    )


def test_ellipticity_conversions():
    q, phi = ellipticity_to_q_phi(*q_phi_to_ellipticity(0.4, 0.3))
    assert q == pytest.approx(0.4) and phi == pytest.approx(0.3)
    with pytest.raises(ConfigError):
        ellipticity_to_q_phi(0.8, 0.7)
    with pytest.raises(ConfigError):
        q_phi_to_ellipticity(0.0, 0.0)
