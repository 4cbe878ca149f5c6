"""Anchors: real known lenses cut from the same imaging as the injections, with their arc S/N measured on the
injections' scale (``dhs_core.evaluate.arc_snr``).

One row per known lens of the chosen tiers (``AnchorConfig.tiers``; Tier A = confident by default), inside the
footprint or not: ``task_id`` (``anchor/<name>``, the id a model's scores give it), the catalogue's columns, the brick,
the stamp's pixel and status columns (``dhs_core.evaluate.real_stamps``), the PSF FWHM used, and for a usable stamp the
fit in the S/N band: ``theta_e_arcsec`` (the catalogue gives none in the lenscat format, so it is fitted:
``theta_e_source``), ``arc_snr_peak`` and ``arc_snr_integrated``, the fitted lens light and arc (``lens_light_fit``,
``arc_fit``: size x size float32, nanomaggies), the lens's Sérsic radius and index and the fit's reduced chi^2. Rows
outside the footprint or without pixels keep null S/N and say why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS, STAMP_SIZE
from dhs_core.errors import ConfigError
from dhs_core.evaluate.arc_snr import arc_snr, fit_lens
from dhs_core.evaluate.known_lenses import TIERS
from dhs_core.evaluate.real_stamps import MEASURABLE, cut_objects, locate, stamp_columns
from dhs_core.inject.metrics import good_pixels
from dhs_core.inject.psf import resolve_psf_fwhm

ANCHOR_ID_PREFIX = "anchor/"
FLOAT64 = pa.float64()
CATALOG_COLUMNS = ("name", "tier", "grading", "type", "zlens", "zlens_value", "ra", "dec", "ref")


@dataclass(frozen=True)
class AnchorConfig:
    """``tiers``: the known-lens tiers cut as anchors (``A`` confident, ``B`` probable); ``snr_band``: the band the
    arc S/N is measured in (the injections' ``EngineConfig.snr_band``)."""

    tiers: tuple[str, ...] = ("A",)
    snr_band: str = "r"

    def __post_init__(self):
        known = sorted(set(TIERS.values()))
        if not self.tiers or any(t not in known for t in self.tiers):
            raise ConfigError("anchors.tiers", list(self.tiers), f"a non-empty subset of {known}")
        if self.snr_band not in BANDS:
            raise ConfigError("anchors.snr_band", self.snr_band, f"one of {BANDS}")


def anchor_stamps(
    lenses: pa.Table, bricks: pa.Table, source, config: AnchorConfig = AnchorConfig(), size: int = STAMP_SIZE
) -> pa.Table:
    """The anchors of ``lenses`` (``known_lenses``) on the survey of ``bricks`` (``survey_bricks``: geometry and
    ``psfsize_<band>``), cut by ``source`` (a cutout source); see the module's docstring. Sorted by task_id."""
    chosen = lenses.filter(
        pa.array(np.isin(np.array(lenses["tier"].to_pylist(), dtype=object), config.tiers))
    )
    located = locate(chosen.select(list(CATALOG_COLUMNS)), bricks)
    cutouts = cut_objects(source, located, size)
    band = BANDS.index(config.snr_band)
    psf_of = {
        name: {b: bricks[f"psfsize_{b}"][i].as_py() for b in BANDS}
        for i, name in enumerate(bricks["brickname"].to_pylist())
    }
    measured = []
    for brick, (cutout, status, _) in zip(located["brickname"].to_pylist(), cutouts):
        if status not in MEASURABLE:
            measured.append(None)
            continue
        fwhm, _ = resolve_psf_fwhm({}, psf_of.get(brick, {}))
        good = good_pixels(cutout.invvar, cutout.maskbits, "".join(BANDS))[band]
        fit = fit_lens(
            cutout.image[band], cutout.invvar[band], good, fwhm[config.snr_band], cutout.x, cutout.y
        )
        measured.append((fwhm[config.snr_band], fit, arc_snr(fit, cutout.invvar[band], good)))
    table = located.drop_columns(["neighbours"]).add_column(
        0, "task_id", pa.array([ANCHOR_ID_PREFIX + n for n in located["name"].to_pylist()], pa.string())
    )
    for name, column in {
        **stamp_columns(cutouts, size),
        **_fit_columns(measured, config.snr_band, size),
    }.items():
        table = table.append_column(name, column)
    return table.sort_by("task_id")


def _fit_columns(measured: list, band: str, size: int) -> dict[str, pa.Array]:
    def values(get, dtype=FLOAT64):
        return pa.array([None if m is None else get(*m) for m in measured], dtype)

    def plane(get):
        return pa.array(
            [
                np.zeros(size * size, np.float32) if m is None else get(*m).astype(np.float32).ravel()
                for m in measured
            ],
            pa.list_(pa.float32()),
        )

    return {
        "snr_band": pa.array([band] * len(measured), pa.string()),
        f"psf_fwhm_used_{band}": values(lambda fwhm, fit, snr: fwhm),
        "theta_e_arcsec": values(lambda fwhm, fit, snr: fit.theta_e_arcsec),
        "theta_e_source": values(lambda fwhm, fit, snr: "fitted", pa.string()),
        "arc_snr_peak": values(lambda fwhm, fit, snr: snr["arc_snr_peak"]),
        "arc_snr_integrated": values(lambda fwhm, fit, snr: snr["arc_snr_integrated"]),
        "arc_flux_fit": values(lambda fwhm, fit, snr: fit.arc_flux),
        "lens_r_e_arcsec": values(lambda fwhm, fit, snr: fit.r_e_arcsec),
        "lens_sersic_n": values(lambda fwhm, fit, snr: fit.n),
        "lens_fit_chi2_per_pixel": values(lambda fwhm, fit, snr: fit.chi2 / max(fit.n_pixels, 1)),
        "lens_fit_converged": values(lambda fwhm, fit, snr: fit.converged, pa.bool_()),
        "lens_light_fit": plane(lambda fwhm, fit, snr: fit.lens_light),
        "arc_fit": plane(lambda fwhm, fit, snr: fit.arc),
    }


MIN_ANCHORS_PER_BIN = 2


def snr_bins_from_anchors(snr, n_bins: int = 4) -> tuple[tuple[float, float, float], ...]:
    """Injection S/N bins (rows ``(low, high, weight)``, as ``ManifestConfig.snr_bins``) set from the measured peak
    arc S/N of real anchors (the seed's §10 steps 1-2): edges at the quantiles 0, 1/n, ..., 1 of the anchors' S/N, so
    each bin holds an equal share of the anchors, each weighted by that share; fewer bins when there are fewer than
    ``MIN_ANCHORS_PER_BIN`` anchors per bin. Empty when fewer than two anchors have an S/N."""
    values = np.sort(np.asarray([v for v in snr if v is not None and np.isfinite(v) and v > 0], float))
    n_bins = min(n_bins, len(values) // MIN_ANCHORS_PER_BIN)
    if n_bins < 1 or len(values) < 2:
        return ()
    edges = np.unique(np.round(np.quantile(values, np.linspace(0, 1, n_bins + 1)), 2))
    edges[-1] = round(np.floor(values[-1] * 100) / 100 + 0.01, 2)  # the brightest anchor inside the last bin
    counts = np.histogram(values, bins=edges)[0]
    return tuple(
        (float(low), float(high), float(round(count / len(values), 4)))
        for low, high, count in zip(edges[:-1], edges[1:], counts)
    )
