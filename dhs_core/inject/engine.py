"""The injection engine: one call per batch of tasks sharing a brick; the only place that knows a task row.

A task row is a manifest row (its columns: ``dhs_core.inject.columns``). A chunk of tasks goes through the
stages in the order the physics happens: stack the cutouts, resolve each band's PSF, screen out galaxies too
masked near the lens, plan each injection (check it, pick its source and kernels), render the lensed source at
unit flux and convolve it, scale it to its brightness (magnitude offset or S/N target), mask the core, add arc
Poisson noise, add the arc to the cutout, measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS, PIXEL_SCALE_ARCSEC, STAMP_SIZE, mag_to_flux
from dhs_core.errors import ConfigError, TaskError
from dhs_core.inject import metrics as m
from dhs_core.inject.columns import (
    ARRAY_COLUMNS,
    FLOAT_COLUMNS,
    METRIC_COLUMNS,
    REQUIRED,
    SNR_COLUMNS,
    engine_schema,
)
from dhs_core.inject.lens import ellipticity_to_q_phi
from dhs_core.inject.psf import DEFAULT_BETA, DEFAULT_FALLBACK_FWHM, kernel, resolve_psf_fwhm
from dhs_core.inject.render import Convolver, Grid, LensParams, render_unit_sources, sersic_cutoff
from dhs_core.inject.sources import SersicSources, Template, TemplateSources, distinct, half_light_radii
from dhs_core.pixels import pixel_column, plane_shape
from dhs_core.survey.coadds import BAND_OK, Cutout


@dataclass(frozen=True)
class EngineConfig:
    """``oversample`` sub-pixels per pixel side; PSF ``psf_model``/``psf_beta``/``psf_default_fwhm`` (arcsec);
    ``snr_band`` for the S/N target; optional arc Poisson noise with ``gain_e_per_nmgy`` electrons per
    nanomaggy (the value the later stronglens engine used); ``core_mask_radius_px`` zeroes the arc inside
    that radius of the lens (0 = off); ``max_masked_near_lens``: the largest fraction of pixels within a task's
    ``arc_reach`` of the lens that may be bad (masked or without data, in any band) for its galaxy to be used, the
    same rule for controls and injections; ``batch_size`` tasks go through numpy together (memory about 1 MB per
    task)."""

    oversample: int = 4
    psf_model: str = "moffat"
    psf_beta: float = DEFAULT_BETA
    psf_default_fwhm: float = DEFAULT_FALLBACK_FWHM
    snr_band: str = "r"
    poisson_noise: bool = False
    gain_e_per_nmgy: float = 150.0
    core_mask_radius_px: float = 0.0
    max_masked_near_lens: float = 0.2
    batch_size: int = 64

    def __post_init__(self):
        if self.snr_band not in BANDS:
            raise ConfigError("engine.snr_band", self.snr_band, f"one of {BANDS}")
        if self.gain_e_per_nmgy <= 0:
            raise ConfigError("engine.gain_e_per_nmgy", self.gain_e_per_nmgy, "> 0")
        if self.batch_size < 1:
            raise ConfigError("engine.batch_size", self.batch_size, ">= 1")
        if not 0 <= self.max_masked_near_lens <= 1:
            raise ConfigError("engine.max_masked_near_lens", self.max_masked_near_lens, "in [0, 1]")


# an S/N target is met by scaling the arc over good pixels; when most of its flux is masked, the scaled
# source would be orders of magnitude too bright (the demo met r = -2 mag sources under a bright star)
MIN_GOOD_ARC_FRACTION = 0.5


@dataclass(frozen=True)
class _Pixels:
    """A chunk's cutouts stacked: ``image`` and ``invvar`` (T, bands, ny, nx; nanomaggies, nMgy^-2), ``maskbits``
    (T, ny, nx), the lens ``centre`` (2, T: x, y in stamp pixels), whether each cutout's maskbits and every band
    are on the brick, and the ``good`` pixels (T, bands, ny, nx: invvar > 0 and no bad maskbit). What depends on the
    cutout alone is computed once per distinct cutout (tasks of one galaxy share theirs: ~80 at the survey's
    density): ``of_task`` (T: each task's among them) and their ``unique_invvar``, ``unique_maskbits`` and
    ``unique_good`` pixels."""

    cutouts: Sequence[Cutout]
    image: np.ndarray
    invvar: np.ndarray
    maskbits: np.ndarray
    centre: np.ndarray
    maskbits_ok: np.ndarray
    bands_ok: np.ndarray
    good: np.ndarray
    of_task: np.ndarray
    unique_invvar: np.ndarray
    unique_maskbits: np.ndarray
    unique_good: np.ndarray


def _stack_cutouts(cutouts: Sequence[Cutout]) -> _Pixels:
    unique, of_task = distinct(cutouts)
    invvar, maskbits = np.stack([c.invvar for c in unique]), np.stack([c.maskbits for c in unique])
    good = m.good_pixels(invvar, maskbits, BANDS)
    return _Pixels(
        cutouts,
        np.stack([c.image for c in unique])[of_task],
        invvar[of_task],
        maskbits[of_task],
        np.array([[c.x for c in cutouts], [c.y for c in cutouts]], dtype=np.float64),
        np.array([c.maskbits_status == BAND_OK for c in cutouts]),
        np.array([all(s == BAND_OK for s in c.band_status) for c in cutouts]),
        good[of_task],
        of_task,
        invvar,
        maskbits,
        good,
    )


def _resolve_psfs(tasks: list[dict], config: EngineConfig) -> tuple[list[dict], list[tuple]]:
    """Per task, the PSF FWHM (arcsec) used in each band and the bands that fell back from the object's own."""
    fwhm, fallbacks = zip(
        *(
            resolve_psf_fwhm(
                {b: t.get(f"psfsize_{b}") for b in BANDS},
                {b: t.get(f"brick_psfsize_{b}") for b in BANDS},
                BANDS,
                config.psf_default_fwhm,
            )
            for t in tasks
        )
    )
    return list(fwhm), list(fallbacks)


def _screen(
    pixels: _Pixels, tasks: list[dict], rejected: Sequence[str | None], limit: float
) -> list[str | None]:
    """Per task, why it fails before planning (None: go on): rejected by the caller, or its galaxy too masked
    near the lens. Decided before the class, so controls and injections are held to the same rule."""
    masked = _masked_near_lens(pixels, tasks, limit)
    return [early if early is not None else late for early, late in zip(rejected, masked)]


@dataclass(frozen=True)
class _Plan:
    """What one valid, non-control task renders: its source group, template and PSF kernels."""

    group: tuple
    template: Template | None
    cutoff: float
    kernels: tuple


def _plan_tasks(
    tasks: list[dict], errors: list[str | None], bank, config: EngineConfig, fwhm: list[dict], pixels: _Pixels
) -> tuple[list[_Plan | None], list[str | None]]:
    """The plan of every injection still standing (None for controls and failed tasks), and the errors with
    the bad tasks' reasons added."""
    plans: list[_Plan | None] = [None] * len(tasks)
    errors = list(errors)
    for i, task in enumerate(tasks):
        if task["is_control"] or errors[i] is not None:
            continue
        try:
            plans[i] = _plan(task, bank, config, fwhm[i], bool(pixels.maskbits_ok[i]))
        except TaskError as exc:
            errors[i] = f"TaskError: {exc}"
        except Exception as exc:  # a bug, not a bad row: stop, naming the task
            exc.add_note(f"while planning injection task {task['task_id']}")
            raise
    return plans, errors


def _plan(task: dict, bank, config: EngineConfig, fwhm: dict, maskbits_ok: bool) -> _Plan:
    """Check a task row and resolve its source and kernels; raises TaskError for a bad task."""
    if task["brightness_mode"] not in ("dmag", "snr"):
        raise TaskError(f"unknown brightness_mode {task['brightness_mode']!r}")
    needed = (*REQUIRED["any"], *REQUIRED.get(task["src_kind"], ()), *REQUIRED[task["brightness_mode"]])
    nulls = [name for name in needed if task.get(name) is None]
    if nulls:
        raise TaskError(f"null in required column(s) {', '.join(nulls)}")
    if task["brightness_mode"] == "snr" and task["target_snr_definition"] not in m.SNR_DEFINITIONS:
        raise TaskError(
            f"unknown target_snr_definition {task['target_snr_definition']!r} (expected one of {m.SNR_DEFINITIONS})"
        )
    if task["brightness_mode"] == "snr" and not maskbits_ok:
        raise TaskError("S/N target needs maskbits, which are not ok")
    if not (task["theta_e_arcsec"] > 0 and np.isfinite(task["theta_e_arcsec"])):
        raise TaskError(f"theta_e_arcsec {task['theta_e_arcsec']} is not a finite value > 0")
    try:
        ellipticity_to_q_phi(task["lens_e1"], task["lens_e2"])  # raises for |e| >= 1
    except ConfigError as exc:
        raise TaskError(str(exc)) from None
    kernels = tuple(kernel(fwhm[b], config.psf_model, config.psf_beta) for b in BANDS)
    kind = task["src_kind"]
    if kind == "sersic":
        r_e, n, q = task["src_reff_arcsec"], task["src_n"], task["src_q"]
        if not (r_e > 0 and 0.3 <= n <= 8 and 0 < q <= 1):
            raise TaskError(
                f"Sérsic (r_e {r_e}, n {n}, q {q}) outside r_e > 0 arcsec, 0.3 <= n <= 8, 0 < q <= 1"
            )
        return _Plan(("sersic",), None, sersic_cutoff(r_e, n), kernels)
    if kind == "template":
        if bank is None:
            raise TaskError("template source but no source bank given")
        template: Template = bank.template(int(task["template_index"]))
        if not template.hlr_arcsec > 0:
            raise TaskError(
                f"template {task['template_index']} has hlr_arcsec {template.hlr_arcsec} (not > 0 arcsec)"
            )
        planes = template.planes.shape[0]
        if planes not in (1, len(BANDS)):
            raise TaskError(f"template has {planes} bands; need 1 or {len(BANDS)}")
        if not task["src_reff_arcsec"] > 0:
            raise TaskError(f"src_reff_arcsec {task['src_reff_arcsec']} is not > 0")
        cutoff = template.light_radius_arcsec * task["src_reff_arcsec"] / template.hlr_arcsec
        return _Plan(("template", template.planes.shape, template.pixel_scale), template, cutoff, kernels)
    raise TaskError(f"unknown src_kind {kind!r}")


def _colour_ratios(tasks: list[dict]) -> np.ndarray:
    """Flux in g, r, z relative to r from the source colours g - r and r - z, per task: (T, 3)."""
    gr = np.array([t["src_gr"] for t in tasks], dtype=np.float64)
    rz = np.array([t["src_rz"] for t in tasks], dtype=np.float64)
    return np.stack([10 ** (-0.4 * gr), np.ones_like(gr), 10 ** (0.4 * rz)], axis=1)


def _column(tasks: list[dict], name: str) -> np.ndarray:
    return np.array([t[name] for t in tasks], dtype=np.float64)


def _render_unit_arcs(
    tasks: list[dict], plans: list[_Plan | None], pixels: _Pixels, grid: Grid, ratios: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every planned task's arc at unit r flux, PSF-convolved in every band (T, bands, ny, nx; zero for the
    others), and its unlensed r flux kept in the stamp (T; NaN for the others). Tasks of one source group
    (Sérsic, or templates of one shape) render together."""
    convolver = Convolver(grid.shape)  # its kernel spectra are cached per process
    arc_unit = np.zeros(pixels.image.shape)
    unlensed_r = np.full(len(tasks), np.nan)
    groups: dict[tuple, list[int]] = {}
    for i, plan in enumerate(plans):
        if plan is not None:
            groups.setdefault(plan.group, []).append(i)
    for members in groups.values():
        index = np.array(members)
        try:
            arc_unit[index], unlensed_r[index] = _render_group(
                index, tasks, plans, pixels.centre, grid, convolver, ratios
            )
        except (
            Exception
        ):  # a planned task does not fail to render unless dhs has a bug: find the task, and stop
            for i in members:
                try:
                    _render_group(np.array([i]), tasks, plans, pixels.centre, grid, convolver, ratios)
                except Exception as single:
                    single.add_note(f"while rendering injection task {tasks[i]['task_id']}")
                    raise
            raise
    return arc_unit, unlensed_r


def _render_group(
    index: np.ndarray,
    tasks: list[dict],
    plans: list,
    centre: np.ndarray,
    grid: Grid,
    convolver: Convolver,
    ratios: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Tasks ``index`` (one source group) at unit r flux: their PSF-convolved arcs in every band and their
    unlensed r flux kept in the stamp."""
    group = [tasks[i] for i in index]
    if plans[index[0]].group[0] == "sersic":
        sources = SersicSources(
            1.0, *(_column(group, c) for c in ("src_reff_arcsec", "src_n", "src_q", "src_phi_rad"))
        )
    else:
        planes = plans[index[0]].template.planes.shape[0]
        sources = TemplateSources(
            [plans[i].template for i in index],
            _column(group, "src_reff_arcsec"),
            _column(group, "src_phi_rad"),
            np.ones((len(index), planes)),
            pyramid=True,
        )
    lens = LensParams(
        *(_column(group, c) for c in ("theta_e_arcsec", "lens_e1", "lens_e2", "gamma1", "gamma2"))
    )
    where = (
        centre[0][index],
        centre[1][index],
        _column(group, "src_x_arcsec"),
        _column(group, "src_y_arcsec"),
        np.array([plans[i].cutoff for i in index]),
    )
    unit, unlensed = (
        image[:, None] if image.ndim == 3 else image  # (tasks, planes, ny, nx)
        for image in (
            render_unit_sources(grid, where[0], where[1], model, sources, *where[2:])
            for model in (lens, None)
        )
    )
    unlensed = unlensed[:, BANDS.index("r") if unlensed.shape[1] > 1 else 0]
    arcs = np.zeros((len(index), len(BANDS), *grid.shape))
    kept = np.full(len(index), np.nan)
    by_kernels: dict[tuple, list[int]] = {}
    for local, i in enumerate(index):
        by_kernels.setdefault(tuple(id(k) for k in plans[i].kernels), []).append(local)
    for local in map(np.array, by_kernels.values()):
        kernels = plans[index[local[0]]].kernels
        # single precision FFT: its errors (~1e-7 of the peak) are far below the stamp's float32 output
        arcs[local] = (
            convolver.convolve(unit[local].astype(np.float32), list(kernels))
            * ratios[index[local]][:, :, None, None]
        )
        kept[local] = convolver.flux_kept(unlensed[local], kernels[BANDS.index("r")])
    return arcs, kept


@dataclass(frozen=True)
class _Brightness:
    """Each task's r-band source flux (nanomaggies; 0 where nothing is injected), whether its arc is injected,
    the errors with unmet S/N targets added, and the S/N metrics of its unit-flux arc."""

    flux_r: np.ndarray
    rendered: np.ndarray
    errors: list[str | None]
    unit_metrics: dict


def _scale_to_brightness(
    tasks: list[dict],
    plans: list[_Plan | None],
    errors: list[str | None],
    arc_unit: np.ndarray,
    pixels: _Pixels,
    config: EngineConfig,
) -> _Brightness:
    """The r flux of each rendered task: from ``rmag + src_dmag`` (dmag mode), or the flux at which its arc
    meets ``target_arc_snr`` in its own S/N definition in ``config.snr_band`` (S/N is linear in flux, so a target
    is met exactly); a target is unmet when under half the arc's flux falls on good pixels."""
    n, band = len(tasks), BANDS.index(config.snr_band)
    errors = list(errors)
    rendered = np.array([p is not None and e is None for p, e in zip(plans, errors)], dtype=bool)
    flux_r = np.zeros(n)
    good, invvar = pixels.good[:, band], pixels.invvar[:, band]
    planned = np.flatnonzero([p is not None for p in plans])  # the others' arcs are zero, and so their S/N
    unit_metrics = {name: np.zeros(n) for name in SNR_COLUMNS}
    for name, values in m.snr_metrics(arc_unit[planned, band], invvar[planned], good[planned]).items():
        unit_metrics[name][planned] = values
    unit_snr = np.array(
        [
            unit_metrics[f"arc_snr_{t.get('target_snr_definition') or 'integrated'}"][i]
            if rendered[i]
            else 0.0
            for i, t in enumerate(tasks)
        ]
    )
    unit_band = arc_unit[:, band]
    with np.errstate(divide="ignore", invalid="ignore"):
        on_good = np.where(good, unit_band, 0.0).sum(axis=(1, 2)) / unit_band.sum(axis=(1, 2))
    for i in np.flatnonzero(rendered):
        task = tasks[i]
        if task["brightness_mode"] == "dmag":
            flux_r[i] = float(mag_to_flux(task["rmag"] + task["src_dmag"]))
        elif unit_snr[i] > 0 and on_good[i] >= MIN_GOOD_ARC_FRACTION:
            flux_r[i] = task["target_arc_snr"] / unit_snr[i]
        else:  # scaled on the few good pixels left, the source would be absurdly bright everywhere else
            errors[i] = _unmet_target_reason(good[i], on_good[i], invvar[i], config.snr_band)
            rendered[i] = False
    return _Brightness(np.where(rendered, flux_r, 0.0), rendered, errors, unit_metrics)


def _mask_core(arc: np.ndarray, centre: np.ndarray, radius_px: float) -> np.ndarray:
    """The arcs with every pixel within ``radius_px`` of the lens zeroed (0: unchanged)."""
    if radius_px <= 0:
        return arc
    yy, xx = np.mgrid[0 : arc.shape[-2], 0 : arc.shape[-1]]
    inside = np.hypot(xx - centre[0][:, None, None], yy - centre[1][:, None, None]) < radius_px
    return np.where(inside[:, None], 0.0, arc)


def _with_poisson_noise(
    arc: np.ndarray, tasks: list[dict], rendered: np.ndarray, config: EngineConfig
) -> np.ndarray:
    """The arcs as float32 with, if ``config.poisson_noise``, the arc's own shot noise (``gain_e_per_nmgy``
    electrons per nanomaggy), drawn from each task's ``task_seed64``."""
    if not config.poisson_noise:
        return arc.astype(np.float32)
    added = arc.copy()
    for i in np.flatnonzero(rendered):
        rng = np.random.default_rng(np.uint64(np.int64(tasks[i]["task_seed64"]).view(np.uint64)))
        electrons = config.gain_e_per_nmgy * np.clip(arc[i], 0, None)
        added[i] += (rng.poisson(electrons) - electrons) / config.gain_e_per_nmgy
    return added.astype(np.float32)


def _add_to_cutouts(images: np.ndarray, added: np.ndarray, rendered: np.ndarray) -> np.ndarray:
    """stamp = cutout + the float32 arc, added in float32: a stamp is reproducible from its cutout and arc.
    Nothing added (a control, zero flux, every arc pixel masked): the cutout's own bits, never image + 0.0.
    Only ``rendered`` tasks have an arc to add."""
    stamps = images.copy()
    for i in np.flatnonzero(rendered):
        if added[i].any():  # a view: the arc is neither gathered nor copied
            stamps[i] += added[i]
    return stamps


def _measure(
    tasks: list[dict],
    pixels: _Pixels,
    grid: Grid,
    arc_unit: np.ndarray,
    unlensed_r: np.ndarray,
    arc: np.ndarray,
    brightness: _Brightness,
    fwhm: list[dict],
    config: EngineConfig,
) -> dict:
    """The metric columns: mask fractions and invvar summaries of the cutout, the arc's S/N (null where the
    maskbits or a band are missing), injected flux per band, magnification, the lensed half-light radius
    (arcsec) and physics warnings."""
    r, band = BANDS.index("r"), BANDS.index(config.snr_band)
    columns: dict = {
        **{
            name: values[pixels.of_task]
            for name, values in {
                **m.mask_fractions(pixels.unique_maskbits, pixels.unique_good[:, r]),
                **m.invvar_summary(pixels.unique_invvar, BANDS),
            }.items()
        },
    }
    if config.core_mask_radius_px > 0:
        columns.update(m.snr_metrics(arc[:, band], pixels.invvar[:, band], pixels.good[:, band]))
    else:  # the S/N metrics are linear in the arc's flux
        columns.update({name: value * brightness.flux_r for name, value in brightness.unit_metrics.items()})
    columns["snr_null_reason"] = [
        "" if ok else f"maskbits {c.maskbits_status}, bands {','.join(c.band_status)}"
        for ok, c in zip(pixels.maskbits_ok & pixels.bands_ok, pixels.cutouts)
    ]
    columns.update({f"injected_flux_{b}": arc[:, i].sum(axis=(1, 2)) for i, b in enumerate(BANDS)})
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["magnification"] = np.where(
            unlensed_r > 0, arc_unit[:, r].sum(axis=(1, 2)) / unlensed_r, np.nan
        )
    lit = np.flatnonzero(brightness.rendered)  # an arc without flux has no half-light radius
    columns["lensed_hlr_arcsec"] = np.full(len(tasks), np.nan)
    columns["lensed_hlr_arcsec"][lit] = half_light_radii(
        arc[lit, r], grid.pixel_scale, pixels.centre[0][lit], pixels.centre[1][lit]
    )
    columns["physics_warnings"] = [
        "; ".join(m.physics_warnings(t["theta_e_arcsec"], f["r"], mu)) if ok else ""
        for t, f, mu, ok in zip(tasks, fwhm, columns["magnification"], brightness.rendered)
    ]
    return columns


def _inject_chunk(
    cutouts: Sequence[Cutout], tasks: list[dict], bank, config: EngineConfig, rejected: Sequence[str | None]
) -> dict:
    """Columns (numpy arrays or lists) of the output rows of a chunk of tasks, all rendered together."""
    pixels = _stack_cutouts(cutouts)
    grid = Grid(pixels.image.shape[2:], config.oversample)
    fwhm, fallbacks = _resolve_psfs(tasks, config)
    screened = _screen(pixels, tasks, rejected, config.max_masked_near_lens)
    plans, planned = _plan_tasks(tasks, screened, bank, config, fwhm, pixels)
    ratios = _colour_ratios(tasks)
    arc_unit, unlensed_r = _render_unit_arcs(tasks, plans, pixels, grid, ratios)
    brightness = _scale_to_brightness(tasks, plans, planned, arc_unit, pixels, config)
    arc = _mask_core(
        arc_unit * brightness.flux_r[:, None, None, None], pixels.centre, config.core_mask_radius_px
    )
    added = _with_poisson_noise(arc, tasks, brightness.rendered, config)
    stamps = _add_to_cutouts(pixels.image, added, brightness.rendered)

    columns = _measure(tasks, pixels, grid, arc_unit, unlensed_r, arc, brightness, fwhm, config)
    columns.update({f"psf_fwhm_used_{b}": np.array([f[b] for f in fwhm]) for b in BANDS})
    columns["psf_fallback_bands"] = [",".join(f) for f in fallbacks]
    columns.update(
        {
            f"src_flux_{b}": np.where(brightness.rendered, brightness.flux_r * ratios[:, i], 0.0)
            for i, b in enumerate(BANDS)
        }
    )
    finite = np.all(np.isfinite(stamps), axis=(1, 2, 3))
    status = [_status(c, ok, e) for c, ok, e in zip(cutouts, finite, brightness.errors)]
    columns.update(
        task_id=[t["task_id"] for t in tasks],
        status=[s for s, _ in status],
        status_reason=[why for _, why in status],
        image=stamps,
        arc=arc.astype(np.float32) if config.poisson_noise else added,  # the noiseless arc
        invvar=pixels.invvar,
        maskbits=pixels.maskbits,
        cutout_ok=np.array([c.all_ok for c in cutouts], dtype=bool),
    )
    failed = np.array([e is not None for e in brightness.errors])
    snr_valid = pixels.maskbits_ok & pixels.bands_ok
    # S/N metrics are null where they cannot be trusted; every metric is null for a task that failed
    columns["_null"] = {
        name: failed | (~snr_valid if name in SNR_COLUMNS else False) for name in METRIC_COLUMNS
    }
    return columns


def _masked_near_lens(pixels: _Pixels, tasks: list[dict], limit: float) -> list[str | None]:
    """Per task, why its galaxy is unusable (None: usable): more than ``limit`` of the pixels within the task's
    ``arc_reach_arcsec`` of the lens are bad in some band. Decided from the cutout alone; complete cutouts only
    (the others fail for coverage). Each distinct cutout's pixels are sorted by distance from the lens once, with
    their running count of bad pixels, so a task's fraction is a lookup at its reach."""
    reasons: list[str | None] = [None] * len(tasks)
    ny, nx = pixels.unique_good.shape[-2:]
    yy, xx = np.mgrid[0:ny, 0:nx]
    bad = ~np.all(pixels.unique_good, axis=1)
    by_distance: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, (cutout, task) in enumerate(zip(pixels.cutouts, tasks)):
        reach = task.get("arc_reach_arcsec")
        if not cutout.all_ok or reach is None:
            continue
        slot = int(pixels.of_task[i])
        if slot not in by_distance:
            distance = np.hypot(xx - cutout.x, yy - cutout.y).ravel()
            order = np.argsort(distance, kind="stable")
            by_distance[slot] = distance[order], np.cumsum(bad[slot].ravel()[order])
        distance, bad_within = by_distance[slot]
        inside = int(np.searchsorted(distance, reach / PIXEL_SCALE_ARCSEC, side="right"))
        fraction = float(bad_within[inside - 1] / inside) if inside else float("nan")
        if fraction > limit:
            reasons[i] = (
                f'masked near the lens: {100 * fraction:.0f} % of the pixels within {reach:.1f}" are masked or without '
                f"data (> {100 * limit:.0f} %)"
            )
    return reasons


def _unmet_target_reason(good: np.ndarray, on_good: float, invvar: np.ndarray, band: str) -> str:
    """Why an S/N target in ``band`` cannot be met: no good pixel at all (and why), or too little of the arc on them."""
    if not good.any():
        why = (
            "invvar <= 0 everywhere"
            if not np.any(invvar > 0)
            else "every pixel with invvar > 0 has a bad maskbit"
        )
        return f"TaskError: no good {band} pixel in the stamp ({why}): an S/N target cannot be met"
    share = max(0.0, float(np.nan_to_num(on_good)))  # never "-0 %"
    return (
        f"TaskError: {100 * share:.0f} % of the arc's {band} flux falls on good pixels (< {100 * MIN_GOOD_ARC_FRACTION:.0f} %): "
        "its S/N target cannot be met by a plausible source"
    )


def _status(cutout: Cutout, finite: bool, error: str | None) -> tuple[str, str]:
    """``ok`` only for a complete, finite cutout injected without error; otherwise ``failed`` with every reason."""
    problems = [f"{b} {s}" for b, s in zip(cutout.bands, cutout.band_status) if s != BAND_OK]
    if cutout.maskbits_status != BAND_OK:
        problems.append(f"maskbits {cutout.maskbits_status}")
    if not finite:
        problems.append("non-finite pixels")
    if error is not None:
        problems.append(error)
    return ("ok", "") if not problems else ("failed", "; ".join(problems))


def inject(
    cutouts: Sequence[Cutout],
    tasks: pa.Table,
    bank,
    config: EngineConfig,
    rejected: Sequence[str | None] | None = None,
) -> pa.RecordBatch:
    """Inject every task into its cutout (``cutouts[i]`` for row i). One row out per task: ``task_id``,
    ``status`` (ok / failed) and ``status_reason``, ``cutout_ok`` (every band and the maskbits fully on the
    brick), the stamp ``image`` and the noiseless ``arc`` (bands x size x size float32, nanomaggies), the
    cutout's ``invvar`` (same shape, nMgy^-2) and ``maskbits`` (size x size int32), each a row's bytes (``dhs_core.pixels``); PSF sizes
    used and fallbacks, the metrics and the source fluxes. A bad task never stops
    the batch: its row is failed with the reason, the cutout as stamp, a zero arc and null metrics.
    ``rejected``: per task, a reason to fail it that way without rendering it (None: render), e.g. from the
    stamps step's re-validation of its manifest.

    Tasks go through numpy ``config.batch_size`` at a time; the output does not depend on that size.
    """
    if len(cutouts) != tasks.num_rows:
        raise ConfigError("cutouts", len(cutouts), f"one per task ({tasks.num_rows})")
    rows = tasks.to_pylist()
    shape = cutouts[0].image.shape if cutouts else (len(BANDS), STAMP_SIZE, STAMP_SIZE)
    rejected = [None] * len(rows) if rejected is None else list(rejected)
    chunks = [
        _inject_chunk(
            cutouts[i : i + config.batch_size],
            rows[i : i + config.batch_size],
            bank,
            config,
            rejected[i : i + config.batch_size],
        )
        for i in range(0, len(rows), config.batch_size)
    ]
    return _to_batch(chunks, shape)


def _to_batch(chunks: list[dict], shape) -> pa.RecordBatch:
    """The chunks' columns as one batch of :func:`dhs_core.inject.columns.engine_schema`."""
    schema = engine_schema()

    def joined(name):
        parts = [c[name] for c in chunks]
        if len(parts) == 1:  # a unit's chunk is usually one galaxy's tasks: its pixels are not copied again
            return parts[0]
        return (
            np.concatenate(parts)
            if parts and isinstance(parts[0], np.ndarray)
            else [v for p in parts for v in p]
        )

    nulls = {
        name: np.concatenate([np.broadcast_to(c["_null"][name], len(c["task_id"])) for c in chunks])
        if chunks
        else np.zeros(0, bool)
        for name in METRIC_COLUMNS
    }
    columns = {}
    for field in schema:
        name = field.name
        if name in ARRAY_COLUMNS:
            planes = joined(name) if chunks else np.zeros((0, *plane_shape(name, shape[-1])))
            columns[name] = pixel_column(planes, name)
        elif name in FLOAT_COLUMNS:
            values = joined(name) if chunks else np.zeros(0)
            columns[name] = pa.array(np.asarray(values, np.float64), pa.float64(), mask=nulls.get(name))
        elif name == "cutout_ok":
            columns[name] = pa.array(joined(name) if chunks else np.zeros(0, bool), pa.bool_())
        else:
            columns[name] = pa.array(joined(name), pa.string())
    return pa.RecordBatch.from_pydict(columns, schema=schema)
