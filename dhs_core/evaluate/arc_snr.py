r"""The arc S/N of a real lens: fit a smooth model of the lens galaxy's light together with a model of the arc, and
measure the fitted (noiseless) arc with the very S/N definitions of the injections (``dhs_core.inject.metrics``).

**Lens light.** An elliptical Sérsic (:func:`~dhs_core.inject.sources.sersic_sb`: flux, centre, :math:`R_e`,
index :math:`n \in [1, 8]` starting from de Vaucouleurs' 4, axis ratio :math:`q \ge 0.2`, position angle): lens
galaxies are massive early types. Fitted alone, even robustly, a Sérsic trades its slope for the arc's light (it ran
to :math:`n = 0.5` and took most of a ring on the mock sky's lenses), so the arc is fitted with it.

**Arc.** A ring about the lens centre whose radial profile is a Gaussian of centre :math:`\theta_E` (at least 0.6
PSF FWHM: a ring inside the PSF's core is the lens's own core light by another name, and the fit trades one for the
other) and width :math:`\sigma_r` and whose brightness round the ring is :math:`\exp(c_0 + \sum_{k=1}^{2} a_k \cos k\phi + b_k \sin
k\phi)`: positive everywhere, one arc, two arcs or a whole ring.

Both are drawn on a grid oversampled 3 times, summed to pixels and convolved with the band's Moffat PSF
(``dhs_core.inject.psf.kernel``), and fitted together to the band's good pixels within 6" of the centre, weighted by
:math:`\sqrt{\mathrm{invvar}}` (``scipy.optimize.least_squares``, trust-region reflective), from several starting
Einstein radii (``THETA_E_STARTS_ARCSEC``; the catalogue's alone where it has one), each starting from the lens light
fitted alone (with a soft-L1 loss, so that an arc pulls it little), keeping the best :math:`\chi^2` (the lens alone
among the candidates).

**S/N.** ``arc_snr_peak`` and ``arc_snr_integrated`` of the fitted arc over the stamp's good pixels, exactly as an
injection's (peak: the largest :math:`\mathrm{arc}\sqrt{\mathrm{invvar}}`; integrated:
:math:`\sqrt{\sum \mathrm{arc}^2\,\mathrm{invvar}}`), so anchors and injections stand on one scale. Per band; the
injections' targets are in ``EngineConfig.snr_band`` (r). Checked on the mock sky's planted lenses against the S/N of
their true arcs (``tests/core/evaluate/test_arc_snr.py``, tolerance stated there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.signal import fftconvolve

from dhs_core.conventions import PIXEL_SCALE_ARCSEC
from dhs_core.inject.metrics import snr_metrics
from dhs_core.inject.psf import kernel
from dhs_core.inject.sources import sersic_sb

OVERSAMPLE = 3
LENS_SERSIC_N = 4.0
SERSIC_N_RANGE = (1.0, 8.0)
MIN_AXIS_RATIO = 0.2
FIT_REACH_ARCSEC = 6.0  # pixels further than this from the centre are left out of the fit (neighbours, sky)
THETA_E_STARTS_ARCSEC = (0.9, 1.6, 2.6)
THETA_E_RANGE_ARCSEC = (0.3, 4.0)
# a ring well inside the PSF core is the lens's own core light by another name: the fit would trade one for the other
MIN_THETA_E_FWHM = 0.6
RING_WIDTH_RANGE_ARCSEC = (0.03, 0.8)  # sigma of the ring's radial profile before the PSF
CENTRE_FREEDOM_PX = 2.0
MAX_EVALUATIONS = 60  # per fit (each also costs a finite-difference Jacobian): converged fits take 10-40


@dataclass(frozen=True)
class LensFit:
    """A fitted lens: ``lens_light`` and ``arc`` (ny, nx, nanomaggies per pixel, PSF-convolved); the lens centre
    ``x``, ``y`` (0-based pixels), ``r_e_arcsec``, Sérsic index ``n``, ``q``, ``pa_rad`` (from +x), ``lens_flux``
    (nMgy); the arc's ``theta_e_arcsec`` and ``arc_flux`` (nMgy); ``chi2`` over ``n_pixels`` fitted pixels;
    ``converged`` as scipy said of the winning fit."""

    lens_light: np.ndarray
    arc: np.ndarray
    x: float
    y: float
    r_e_arcsec: float
    n: float
    q: float
    pa_rad: float
    lens_flux: float
    theta_e_arcsec: float
    arc_flux: float
    chi2: float
    n_pixels: int
    converged: bool


class _Model:
    """Lens light and arc on one stamp's oversampled grid; parameters
    ``(log_flux, x, y, log_r_e, e1, e2, theta_e, log_width, c0, a1, b1, a2, b2, n)`` (pixels, arcsec)."""

    def __init__(self, shape: tuple[int, int], psf_fwhm_arcsec: float):
        ny, nx = shape
        self.shape, self.psf = shape, kernel(psf_fwhm_arcsec)
        fine = [(np.arange(m * OVERSAMPLE) + 0.5) / OVERSAMPLE - 0.5 for m in (nx, ny)]
        self.fx, self.fy = (v * PIXEL_SCALE_ARCSEC for v in np.meshgrid(*fine))

    def _to_pixels(self, surface: np.ndarray) -> np.ndarray:
        ny, nx = self.shape
        pixels = surface.reshape(ny, OVERSAMPLE, nx, OVERSAMPLE).mean(axis=(1, 3)) * PIXEL_SCALE_ARCSEC**2
        return fftconvolve(pixels, self.psf, mode="same")

    def lens_light(self, p) -> np.ndarray:
        log_flux, cx, cy, log_r_e, e1, e2 = p[:6]
        q, pa = axis_ratio(e1, e2)
        sb = sersic_sb(
            self.fx,
            self.fy,
            np.exp(log_flux),
            np.exp(log_r_e),
            p[13],
            q,
            pa,
            cx * PIXEL_SCALE_ARCSEC,
            cy * PIXEL_SCALE_ARCSEC,
        )
        return self._to_pixels(sb)

    def arc(self, p) -> np.ndarray:
        cx, cy, theta_e, log_width, c0, a1, b1, a2, b2 = p[1], p[2], *p[6:13]
        dx, dy = self.fx - cx * PIXEL_SCALE_ARCSEC, self.fy - cy * PIXEL_SCALE_ARCSEC
        r, phi = np.hypot(dx, dy), np.arctan2(dy, dx)
        azimuth = c0 + a1 * np.cos(phi) + b1 * np.sin(phi) + a2 * np.cos(2 * phi) + b2 * np.sin(2 * phi)
        sb = np.exp(np.minimum(azimuth, 30.0) - 0.5 * ((r - theta_e) / np.exp(log_width)) ** 2)
        return self._to_pixels(sb)


def fit_lens(
    image: np.ndarray,
    invvar: np.ndarray,
    good: np.ndarray,
    psf_fwhm_arcsec: float,
    x: float,
    y: float,
    theta_e_arcsec: float | None = None,
) -> LensFit:
    """Fit lens light and arc (module docstring) to one band: ``image`` (nanomaggies), ``invvar`` (nMgy^-2), ``good``
    (bool), all (ny, nx), with the lens near 0-based pixel (``x``, ``y``); ``theta_e_arcsec``: the catalogue's
    Einstein radius (None or NaN: fitted from several starts)."""
    # the fit sees a box reaching FIT_REACH_ARCSEC about the centre (plus the PSF's reach, so no light is lost)
    reach = int(np.ceil(FIT_REACH_ARCSEC / PIXEL_SCALE_ARCSEC)) + 4
    x0, y0 = max(int(round(x)) - reach, 0), max(int(round(y)) - reach, 0)
    box = (slice(y0, int(round(y)) + reach + 1), slice(x0, int(round(x)) + reach + 1))
    full_shape, (image, invvar, good), x, y = (
        image.shape,
        (a[box] for a in (image, invvar, good)),
        x - x0,
        y - y0,
    )
    model = _Model(image.shape, psf_fwhm_arcsec)
    yy, xx = np.indices(image.shape)
    use = good & (invvar > 0) & (np.hypot(xx - x, yy - y) * PIXEL_SCALE_ARCSEC < FIT_REACH_ARCSEC)
    sigma_inverse = np.sqrt(np.where(use, invvar, 0.0))[use]
    data = image[use]

    def residuals(p):
        return (data - (model.lens_light(p) + model.arc(p))[use]) * sigma_inverse

    central = image[use & (np.hypot(xx - x, yy - y) < 4)]
    log_flux = np.log(max(float(np.sum(np.clip(central, 0, None))) * 3, 1e-3))
    sky_sigma = 1 / np.sqrt(np.median(invvar[use])) if use.any() else 1.0
    c0 = np.log(max(sky_sigma, 1e-6) / PIXEL_SCALE_ARCSEC**2)  # a ring about as bright as the noise per pixel
    lower = [np.log(1e-4), x - CENTRE_FREEDOM_PX, y - CENTRE_FREEDOM_PX, np.log(0.1), -0.8, -0.8]
    upper = [np.log(1e5), x + CENTRE_FREEDOM_PX, y + CENTRE_FREEDOM_PX, np.log(20.0), 0.8, 0.8]
    min_theta_e = max(THETA_E_RANGE_ARCSEC[0], MIN_THETA_E_FWHM * psf_fwhm_arcsec)
    lower += [min_theta_e, np.log(RING_WIDTH_RANGE_ARCSEC[0]), c0 - 15, -10, -10, -10, -10]
    upper += [THETA_E_RANGE_ARCSEC[1], np.log(RING_WIDTH_RANGE_ARCSEC[1]), c0 + 15, 10, 10, 10, 10]
    lower, upper = lower + [SERSIC_N_RANGE[0]], upper + [SERSIC_N_RANGE[1]]
    known = theta_e_arcsec is not None and np.isfinite(theta_e_arcsec)
    starts = (float(theta_e_arcsec),) if known else THETA_E_STARTS_ARCSEC
    # first the lens light alone (the ring held at its faintest), robustly; then lens and arc together from each
    # starting Einstein radius, the lens from that fit: an arc the data do not ask for stays faint
    lens_only = np.array([0, 1, 2, 3, 4, 5, 13])
    first = np.array(
        [log_flux, x, y, np.log(1.0), 0.0, 0.0, min_theta_e, np.log(0.2), c0 - 15, 0, 0, 0, 0, LENS_SERSIC_N]
    )

    def lens_residuals(q):
        p = first.copy()
        p[lens_only] = q
        return residuals(p)

    bounds = (np.array(lower)[lens_only], np.array(upper)[lens_only])
    lens = least_squares(
        lens_residuals,
        first[lens_only],
        bounds=bounds,
        x_scale="jac",
        loss="soft_l1",
        max_nfev=MAX_EVALUATIONS,
    )
    first[lens_only] = lens.x
    # (cost, parameters, converged) of each candidate, the lens alone first
    best = (0.5 * float(np.sum(residuals(first) ** 2)), first, bool(lens.success))
    for theta_e in starts:
        start = first.copy()
        start[6], start[8] = np.clip(theta_e, min_theta_e, THETA_E_RANGE_ARCSEC[1]), c0
        fit = least_squares(residuals, start, bounds=(lower, upper), x_scale="jac", max_nfev=MAX_EVALUATIONS)
        if fit.cost < best[0]:
            best = (float(fit.cost), fit.x, bool(fit.success))
    cost, p, converged = best
    q, pa = axis_ratio(p[4], p[5])
    light, arc = np.zeros(full_shape), np.zeros(full_shape)
    light[box], arc[box] = model.lens_light(p), model.arc(p)
    return LensFit(
        light,
        arc,
        float(p[1]) + x0,
        float(p[2]) + y0,
        float(np.exp(p[3])),
        float(p[13]),
        q,
        pa,
        float(np.exp(p[0])),
        float(p[6]),
        float(arc.sum()),
        2 * cost,
        int(use.sum()),
        converged,
    )


def axis_ratio(e1: float, e2: float) -> tuple[float, float]:
    """Axis ratio and position angle (rad) of an ellipticity (e1, e2) with |e| = (1 - q) / (1 + q), q >= 0.2."""
    e = min(float(np.hypot(e1, e2)), (1 - MIN_AXIS_RATIO) / (1 + MIN_AXIS_RATIO))
    return (1 - e) / (1 + e), 0.5 * float(np.arctan2(e2, e1))


def arc_snr(fit: LensFit, invvar: np.ndarray, good: np.ndarray) -> dict[str, float]:
    """``arc_snr_peak`` and ``arc_snr_integrated`` of the fitted arc over the good pixels, as for an injection."""
    metrics = snr_metrics(fit.arc, invvar, good)
    return {k: float(metrics[k]) for k in ("arc_snr_peak", "arc_snr_integrated")}
