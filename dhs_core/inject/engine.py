"""The injection engine: one call per batch of tasks sharing a brick; the only place that knows a task row.

Task columns (one row per task; angles arcsec, position angles rad, fluxes nanomaggies):

================== =================================================================================
task_id            stable id (string)
is_control         true: no arc; the stamp is the cutout, bit for bit
theta_e            SIE Einstein radius; ``lens_e1, lens_e2`` its ellipticity; ``gamma1, gamma2`` shear
src_x, src_y       source position relative to the lens, in the source plane
src_kind           ``sersic`` or ``template``
src_reff           Sérsic half-light semi-major axis / template half-light radius after rescaling
src_n, src_q       Sérsic index and axis ratio (Sérsic only); ``src_pa`` position angle (both kinds)
template_index     row of the source bank (template only)
brightness_mode    ``dmag``: r flux from ``lens_rmag + src_dmag``; ``snr``: scaled to ``arc_snr_target``
src_gr, src_rz     source colours g - r and r - z (AB)
psfsize_g/r/z      PSF FWHM per band (<= 0 or NaN: missing, falls back to r, then a default)
task_seed          int64 seed of this task's random draws (arc Poisson noise)
================== =================================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS, mag_to_flux
from dhs_core.errors import ConfigError, DhsError
from dhs_core.inject import metrics as m
from dhs_core.inject.psf import DEFAULT_BETA, DEFAULT_FALLBACK_FWHM, kernel, resolve_psf_fwhm
from dhs_core.inject.render import Convolver, Grid, LensParams, render_unit_source, sersic_cutoff
from dhs_core.inject.sources import Template, half_light_radius, sersic_sb, template_sb
from dhs_core.survey.coadds import BAND_OK, Cutout


@dataclass(frozen=True)
class EngineConfig:
    """``oversample`` sub-pixels per pixel side; PSF ``psf_model``/``psf_beta``/``psf_default_fwhm`` (arcsec);
    ``snr_band`` for the S/N target; optional arc Poisson noise with ``gain_e_per_nmgy`` electrons per
    nanomaggy (the value the later stronglens engine used); ``core_mask_radius_px`` zeroes the arc inside
    that radius of the lens (0 = off)."""

    oversample: int = 4
    psf_model: str = "moffat"
    psf_beta: float = DEFAULT_BETA
    psf_default_fwhm: float = DEFAULT_FALLBACK_FWHM
    snr_band: str = "r"
    poisson_noise: bool = False
    gain_e_per_nmgy: float = 150.0
    core_mask_radius_px: float = 0.0

    def __post_init__(self):
        if self.snr_band not in BANDS:
            raise ConfigError("engine.snr_band", self.snr_band, f"one of {BANDS}")
        if self.gain_e_per_nmgy <= 0:
            raise ConfigError("engine.gain_e_per_nmgy", self.gain_e_per_nmgy, "> 0")


class TaskError(DhsError):
    """A task that cannot be injected; its row gets status not-ok with this reason."""


METRIC_COLUMNS = (
    "arc_snr_peak", "arc_snr_integrated", "arc_snr_sum", "bad_pixel_frac", "wise_brightmask_frac",
    *(f"invvar_{s}_{b}" for b in BANDS for s in ("median", "p10")), *(f"injected_flux_{b}" for b in BANDS),
    "magnification", "lensed_hlr_arcsec",
)


def _source(task: dict, bank):
    """Surface-brightness function, cutoff radius (arcsec) and whether it has one plane per band."""
    kind = task["src_kind"]
    if kind == "sersic":
        r_e, n, q, pa = task["src_reff"], task["src_n"], task["src_q"], task["src_pa"]
        return (lambda bx, by: sersic_sb(bx, by, 1.0, r_e, n, q, pa)), sersic_cutoff(r_e, n), False
    if kind == "template":
        if bank is None:
            raise TaskError("template source but no source bank given")
        template: Template = bank.template(int(task["template_index"]))
        scale = task["src_reff"] / template.hlr_arcsec
        reach = template.light_radius_arcsec * scale
        per_band = template.image.ndim == 3 and template.image.shape[0] > 1
        if per_band and template.image.shape[0] != len(BANDS):
            raise TaskError(f"template has {template.image.shape[0]} bands; need 1 or {len(BANDS)}")
        return (lambda bx, by: template_sb(bx, by, template, np.ones(len(template.image) if per_band else 1), task["src_reff"], task["src_pa"])), reach, per_band
    raise TaskError(f"unknown src_kind {kind!r}")


def _colour_ratios(task: dict) -> np.ndarray:
    """Flux in g, r, z relative to r from the source colours g - r and r - z."""
    return np.array([10 ** (-0.4 * task["src_gr"]), 1.0, 10 ** (0.4 * task["src_rz"])])


def inject_one(cutout: Cutout, task: dict, bank, config: EngineConfig, convolver: Convolver | None = None) -> dict:
    """Inject one task into its cutout; returns the output row (raises TaskError for a bad task)."""
    convolver = convolver or Convolver(cutout.image.shape[1:])
    grid = Grid(cutout.image.shape[1:], config.oversample)
    fwhm, fallback = resolve_psf_fwhm({b: task.get(f"psfsize_{b}") for b in BANDS}, BANDS, config.psf_default_fwhm)
    row = {f"psf_fwhm_used_{b}": fwhm[b] for b in BANDS}
    row["psf_fallback_bands"] = ",".join(fallback)
    mask_ok = cutout.maskbits_status == BAND_OK
    good = [m.good_pixels(cutout.invvar[i], cutout.maskbits, b) for i, b in enumerate(BANDS)]
    row.update(m.mask_fractions(cutout.maskbits, good[1]))
    row.update(m.invvar_summary(cutout.invvar, BANDS))
    if task["is_control"]:
        arc = np.zeros_like(cutout.image)
        stamp = cutout.image.copy()  # null injection: the cutout's own bits
        row.update({name: 0.0 for name in ("arc_snr_peak", "arc_snr_integrated", "arc_snr_sum")})
        row.update({f"injected_flux_{b}": 0.0 for b in BANDS}, magnification=float("nan"), lensed_hlr_arcsec=float("nan"))
        row.update(physics_warnings="", src_flux_g=0.0, src_flux_r=0.0, src_flux_z=0.0)
        return {**row, "stamp": stamp, "arc": arc}

    lens = LensParams(task["theta_e"], task["lens_e1"], task["lens_e2"], task["gamma1"], task["gamma2"])
    source_sb, cutoff, per_band = _source(task, bank)
    unit = render_unit_source(grid, cutout.x, cutout.y, lens, source_sb, task["src_x"], task["src_y"], cutoff)
    ratios = _colour_ratios(task)
    kernels = [kernel(fwhm[b], config.psf_model, config.psf_beta) for b in BANDS]
    arc_unit = convolver.convolve(unit, kernels) * ratios[:, None, None]

    snr_index = BANDS.index(config.snr_band)
    if task["brightness_mode"] == "dmag":
        flux_r = float(mag_to_flux(task["lens_rmag"] + task["src_dmag"]))
    elif task["brightness_mode"] == "snr":
        if not mask_ok:
            raise TaskError(f"S/N target needs maskbits, which are {cutout.maskbits_status}")
        unit_snr = m.snr_metrics(arc_unit[snr_index], cutout.invvar[snr_index], good[snr_index])["arc_snr_integrated"]
        if not unit_snr > 0:
            raise TaskError(f"the arc falls on no good {config.snr_band} pixel: S/N cannot be scaled")
        flux_r = task["arc_snr_target"] / unit_snr
    else:
        raise TaskError(f"unknown brightness_mode {task['brightness_mode']!r}")
    arc = arc_unit * flux_r
    if config.core_mask_radius_px > 0:
        yy, xx = np.mgrid[0:grid.shape[0], 0:grid.shape[1]]
        arc[:, np.hypot(xx - cutout.x, yy - cutout.y) < config.core_mask_radius_px] = 0.0
    added = arc
    if config.poisson_noise:
        rng = np.random.default_rng(np.uint64(np.int64(task["task_seed"]).view(np.uint64)))
        electrons = config.gain_e_per_nmgy * np.clip(arc, 0, None)
        added = arc + (rng.poisson(electrons) - electrons) / config.gain_e_per_nmgy
    # nothing added (zero flux, or every arc pixel masked): the cutout's own bits, never image + 0.0
    stamp = cutout.image.copy() if not np.any(added) else (cutout.image.astype(np.float64) + added).astype(np.float32)

    if mask_ok and all(s == BAND_OK for s in cutout.band_status):
        row.update(m.snr_metrics(arc[snr_index], cutout.invvar[snr_index], good[snr_index]))
    else:
        row.update({name: None for name in ("arc_snr_peak", "arc_snr_integrated", "arc_snr_sum")})
        row["snr_null_reason"] = f"maskbits {cutout.maskbits_status}, bands {','.join(cutout.band_status)}"
    row.update({f"injected_flux_{b}": float(arc[i].sum()) for i, b in enumerate(BANDS)})
    unlensed = render_unit_source(grid, cutout.x, cutout.y, None, source_sb, task["src_x"], task["src_y"], cutoff)
    unlensed_r = convolver.flux_kept(unlensed[1] if per_band else unlensed, kernels[1]) * ratios[1]
    magnification = float(arc_unit[1].sum() / unlensed_r) if unlensed_r > 0 else float("nan")
    row["magnification"] = magnification
    row["lensed_hlr_arcsec"] = half_light_radius(arc[1], grid.pixel_scale, center=(cutout.x, cutout.y))
    row["physics_warnings"] = "; ".join(m.physics_warnings(task["theta_e"], fwhm["r"], magnification))
    row.update({f"src_flux_{b}": float(flux_r * ratios[i]) for i, b in enumerate(BANDS)})
    return {**row, "stamp": stamp, "arc": arc.astype(np.float32)}


def _status(cutout: Cutout, row: dict) -> tuple[str, str]:
    problems = [f"{b} {s}" for b, s in zip(cutout.bands, cutout.band_status) if s != BAND_OK]
    if cutout.maskbits_status != BAND_OK:
        problems.append(f"maskbits {cutout.maskbits_status}")
    if not np.all(np.isfinite(row["stamp"])):
        problems.append("non-finite pixels")
    return ("ok", "") if not problems else ("failed", "; ".join(problems))


def inject(cutouts: Sequence[Cutout], tasks: pa.Table, bank, config: EngineConfig) -> pa.RecordBatch:
    """Inject every task into its cutout (``cutouts[i]`` for row i). One row out per task: ``task_id``,
    ``status`` (ok / failed) and ``status_reason``, ``stamp`` and ``arc`` (bands x size x size float32,
    flattened), PSF sizes used and fallbacks, the metrics and the source fluxes. A bad task never stops
    the batch: its row is failed with the reason and zero arc."""
    if len(cutouts) != tasks.num_rows:
        raise ConfigError("cutouts", len(cutouts), f"one per task ({tasks.num_rows})")
    rows = []
    convolver = Convolver(cutouts[0].image.shape[1:]) if cutouts else None
    for cutout, task in zip(cutouts, tasks.to_pylist()):
        try:
            row = inject_one(cutout, task, bank, config, convolver)
            status, reason = _status(cutout, row)
        except (DhsError, ValueError, FloatingPointError) as exc:
            row = {"stamp": cutout.image.copy(), "arc": np.zeros_like(cutout.image)}
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
        row.update(task_id=task["task_id"], status=status, status_reason=reason)
        rows.append(row)
    return _to_batch(rows, cutouts[0].image.shape if cutouts else (3, 64, 64))


def _to_batch(rows: list[dict], shape) -> pa.RecordBatch:
    size = int(np.prod(shape))
    columns = {"task_id": pa.array([r["task_id"] for r in rows], pa.string()),
               "status": pa.array([r["status"] for r in rows], pa.string()),
               "status_reason": pa.array([r["status_reason"] for r in rows], pa.string())}
    for name in ("stamp", "arc"):
        flat = np.concatenate([r[name].astype(np.float32).ravel() for r in rows]) if rows else np.zeros(0, np.float32)
        columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat), size)
    for name in (*METRIC_COLUMNS, *(f"psf_fwhm_used_{b}" for b in BANDS), *(f"src_flux_{b}" for b in BANDS)):
        columns[name] = pa.array([r.get(name) for r in rows], pa.float64())
    for name in ("psf_fallback_bands", "physics_warnings", "snr_null_reason"):
        columns[name] = pa.array([r.get(name, "") for r in rows], pa.string())
    return pa.RecordBatch.from_pydict(columns)
