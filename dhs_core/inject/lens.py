r"""Singular isothermal ellipsoid (SIE) plus external shear, in lenstronomy's conventions.

Convergence of the SIE, in the frame of its major axis (x along the major axis):

.. math::
    \kappa(x, y) = \frac{b}{2\sqrt{q^2 x^2 + y^2}}, \qquad b = \theta_E \sqrt{q}

so that :math:`\theta_E` is the Einstein radius averaged (as a product) over the major and minor axes:
the :math:`\sqrt{q}` normalisation of lenstronomy's ``SIE``. Deflection (Kormann et al. 1994; Keeton &
Kochanek 1998), with :math:`\psi = \sqrt{q^2 x^2 + y^2}` and :math:`e = \sqrt{1 - q^2}`:

.. math::
    \alpha_x = \frac{b}{e} \arctan\frac{e x}{\psi}, \qquad \alpha_y = \frac{b}{e} \operatorname{artanh}\frac{e y}{\psi}

and its Hessian is :math:`\frac{b}{\psi r^2}\begin{pmatrix} y^2 & -xy \\ -xy & x^2 \end{pmatrix}` with
:math:`r^2 = x^2 + y^2`. When :math:`e \to 0` (the SIS) the series of arctan/artanh is used, so there
is no division by zero.

Ellipticity: ``e1, e2`` as lenstronomy defines them, :math:`\phi = \tfrac12 \operatorname{atan2}(e_2, e_1)`,
:math:`c = \sqrt{e_1^2 + e_2^2}`, :math:`q = (1 - c)/(1 + c)`; :math:`\phi` is the angle of the major axis
from +x, counter-clockwise. External shear ``gamma1, gamma2`` (lenstronomy's ``SHEAR``) is centred on the
lens: :math:`\alpha = (\gamma_1 x + \gamma_2 y,\; \gamma_2 x - \gamma_1 y)`.

All angles in arcsec, in the stamp frame of ``dhs_core.conventions`` (+x along columns, +y along rows).
"""

from __future__ import annotations

import numpy as np

from dhs_core.errors import ConfigError

_SERIES_BELOW = 1e-4  # e = sqrt(1 - q^2) below which arctan/artanh use their series


def ellipticity_to_q_phi(e1, e2):
    """Axis ratio q (minor/major) and position angle phi (rad, major axis from +x) of ``e1, e2``."""
    e1, e2 = np.asarray(e1, dtype=np.float64), np.asarray(e2, dtype=np.float64)
    c = np.hypot(e1, e2)
    if np.any(c >= 1):
        raise ConfigError("lens ellipticity |e|", float(np.max(c)), "< 1 (q > 0)")
    return (1 - c) / (1 + c), 0.5 * np.arctan2(e2, e1)


def q_phi_to_ellipticity(q, phi):
    """``e1, e2`` of an axis ratio ``q`` in (0, 1] and a position angle ``phi`` (rad)."""
    q = np.asarray(q, dtype=np.float64)
    if np.any((q <= 0) | (q > 1)):
        raise ConfigError("lens axis ratio q", q, "in (0, 1]")
    c = (1 - q) / (1 + q)
    return c * np.cos(2 * np.asarray(phi)), c * np.sin(2 * np.asarray(phi))


def lens_frame(e1, e2):
    """Per-lens constants of ``e1, e2``: axis ratio q, cos and sin of the major-axis angle, and
    ``e = sqrt(1 - q^2)`` (float64 arrays, or floats)."""
    q, phi = ellipticity_to_q_phi(e1, e2)
    return q, np.cos(phi), np.sin(phi), np.sqrt(np.maximum(1 - q**2, 0.0))


def _major_axis_frame(x, y, e1, e2, center_x, center_y):
    q, cos, sin, e = lens_frame(e1, e2)
    dx = np.asarray(x, dtype=np.float64) - center_x
    dy = np.asarray(y, dtype=np.float64) - center_y
    return dx, dy, dx * cos + dy * sin, -dx * sin + dy * cos, q, cos, sin


def _over_e(function, series_sign, e, t):
    """``function(e t) / e`` (arctan or artanh), exact where ``e`` is above the series threshold and by its
    series ``t + sign e^2 t^3 / 3 + e^4 t^5 / 5`` below it (e -> 0, the SIS). ``e`` is one value per lens,
    broadcastable to ``t``; each branch is computed only where it applies."""

    def series(e, t):
        e2t2 = (e * t) ** 2
        return t * (1 + series_sign * e2t2 / 3 + e2t2 * e2t2 / 5)

    def exact(e, t):
        return function(e * t) / e

    small = e < _SERIES_BELOW
    if not small.any():
        return exact(e, t)
    if small.all():
        return series(e, t)
    e, t = np.broadcast_arrays(e, t)
    small = np.broadcast_to(small, t.shape)
    out = np.empty(t.shape, dtype=t.dtype)
    out[small] = series(e[small], t[small])
    out[~small] = exact(e[~small], t[~small])
    return out


def _artanh(value):
    return np.arctanh(np.clip(value, -1 + 1e-7, 1 - 1e-7))  # |e t| < 1 off the centre since |y| <= psi


def unit_deflection(xm, ym, q, e):
    """SIE deflection per unit ``b`` in its major-axis frame at ``(xm, ym)`` (arcsec):
    ``(arctan(e xm/psi) / e, artanh(e ym/psi) / e)`` and ``psi = sqrt(q^2 xm^2 + ym^2)`` (arcsec).

    ``q, e`` per lens, broadcastable to the points; the dtype of ``xm`` is kept (float32 for the renderer's
    sub-pixels). Zero at the exact centre.
    """
    q, e = np.asarray(q, dtype=xm.dtype), np.asarray(e, dtype=xm.dtype)
    psi = np.sqrt((q * xm) ** 2 + ym**2)
    np.maximum(psi, np.finfo(psi.dtype).tiny, out=psi)  # the centre: t = 0 / tiny = 0, no deflection
    return _over_e(np.arctan, -1, e, xm / psi), _over_e(_artanh, 1, e, ym / psi), psi


def deflection(x, y, theta_e, e1, e2, gamma1=0.0, gamma2=0.0, center_x=0.0, center_y=0.0):
    """Deflection ``(alpha_x, alpha_y)`` in arcsec of SIE + shear at image-plane positions ``x, y`` (arcsec).

    ``theta_e`` Einstein radius (arcsec, lenstronomy's product-average convention); ``e1, e2`` lens
    ellipticity; ``gamma1, gamma2`` external shear about the lens centre ``(center_x, center_y)``.
    The output dtype follows ``x`` (float32 stays float32; computed in float64). At the exact centre
    the deflection is taken as zero.
    """
    dtype = np.result_type(np.asarray(x).dtype, np.float32)
    dx, dy, xm, ym, q, cos, sin = _major_axis_frame(x, y, e1, e2, center_x, center_y)
    b = np.asarray(theta_e, dtype=np.float64) * np.sqrt(q)
    unit_x, unit_y, _ = unit_deflection(xm, ym, q, np.sqrt(np.maximum(1 - q**2, 0.0)))
    ax_m, ay_m = b * unit_x, b * unit_y
    alpha_x = ax_m * cos - ay_m * sin + gamma1 * dx + gamma2 * dy
    alpha_y = ax_m * sin + ay_m * cos + gamma2 * dx - gamma1 * dy
    return alpha_x.astype(dtype, copy=False), alpha_y.astype(dtype, copy=False)


def hessian(x, y, theta_e, e1, e2, gamma1=0.0, gamma2=0.0, center_x=0.0, center_y=0.0):
    """Second derivatives of the lensing potential ``(f_xx, f_xy, f_yy)`` (dimensionless), analytic."""
    dx, dy, xm, ym, q, cos, sin = _major_axis_frame(x, y, e1, e2, center_x, center_y)
    b = np.asarray(theta_e, dtype=np.float64) * np.sqrt(q)
    psi = np.sqrt(q**2 * xm**2 + ym**2)
    r2 = xm**2 + ym**2
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = b / (psi * r2)
    hxx, hxy, hyy = scale * ym**2, -scale * xm * ym, scale * xm**2
    # rotate back to the stamp frame: H = R^T H' R
    f_xx = cos**2 * hxx - 2 * sin * cos * hxy + sin**2 * hyy + gamma1
    f_yy = sin**2 * hxx + 2 * sin * cos * hxy + cos**2 * hyy - gamma1
    f_xy = sin * cos * (hxx - hyy) + (cos**2 - sin**2) * hxy + gamma2
    return f_xx, f_xy, f_yy


def magnification(x, y, theta_e, e1, e2, gamma1=0.0, gamma2=0.0, center_x=0.0, center_y=0.0):
    """Signed point magnification ``1 / det(I - H)`` at image-plane positions (from the analytic Jacobian)."""
    f_xx, f_xy, f_yy = hessian(x, y, theta_e, e1, e2, gamma1, gamma2, center_x, center_y)
    return 1.0 / ((1 - f_xx) * (1 - f_yy) - f_xy**2)
