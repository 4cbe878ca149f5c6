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
snr_definition     the S/N ``arc_snr_target`` is in: ``peak`` (max per-pixel S/N of the noiseless arc, the original's
                   ``arc_snr``) or ``integrated`` (matched-filter S/N), both in ``EngineConfig.snr_band``
src_gr, src_rz     source colours g - r and r - z (AB)
psfsize_g/r/z      the object's PSF FWHM per band (<= 0, NaN or null: missing)
brick_psfsize_g/r/z the brick's median PSF FWHM, used where the object's is missing (then r, then a default)
arc_reach          the largest distance from the lens at which the manifest's grid puts arc light; a galaxy whose
                   pixels within it are too masked is unusable, whatever its class
task_seed          int64 seed of this task's random draws (arc Poisson noise)
================== =================================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dhs_core.conventions import BANDS, PIXEL_SCALE_ARCSEC, STAMP_SIZE, mag_to_flux
from dhs_core.errors import ConfigError, TaskError
from dhs_core.inject import metrics as m
from dhs_core.inject.lens import ellipticity_to_q_phi
from dhs_core.inject.psf import DEFAULT_BETA, DEFAULT_FALLBACK_FWHM, kernel, resolve_psf_fwhm
from dhs_core.inject.render import Convolver, Grid, LensParams, render_unit_sources, sersic_cutoff
from dhs_core.inject.sources import SersicSources, Template, TemplateSources, half_light_radii
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


METRIC_COLUMNS = (
    "arc_snr_peak",
    "arc_snr_integrated",
    "arc_snr_sum",
    "bad_pixel_frac",
    "wise_brightmask_frac",
    *(f"invvar_{s}_{b}" for b in BANDS for s in ("median", "p10")),
    *(f"injected_flux_{b}" for b in BANDS),
    "magnification",
    "lensed_hlr_arcsec",
)


SNR_COLUMNS = ("arc_snr_peak", "arc_snr_integrated", "arc_snr_sum")
# an S/N target is met by scaling the arc over good pixels; when most of its flux is masked, the scaled
# source would be orders of magnitude too bright (the demo met r = -2 mag sources under a bright star)
MIN_GOOD_ARC_FRACTION = 0.5
REQUIRED = {  # task columns an injection cannot go without, by source kind
    "any": (
        "theta_e",
        "lens_e1",
        "lens_e2",
        "gamma1",
        "gamma2",
        "src_x",
        "src_y",
        "src_reff",
        "src_pa",
        "src_gr",
        "src_rz",
        "brightness_mode",
        "src_kind",
    ),
    "sersic": ("src_n", "src_q"),
    "template": ("template_index",),
    "snr": ("arc_snr_target", "snr_definition"),
    "dmag": ("lens_rmag", "src_dmag"),
}


@dataclass(frozen=True)
class _Plan:
    """What one valid, non-control task renders: its source group, template and PSF kernels."""

    group: tuple
    template: Template | None
    cutoff: float
    kernels: tuple


def _plan(task: dict, bank, config: EngineConfig, fwhm: dict, maskbits_ok: bool) -> _Plan:
    """Check a task row and resolve its source and kernels; raises TaskError for a bad task."""
    if task["brightness_mode"] not in ("dmag", "snr"):
        raise TaskError(f"unknown brightness_mode {task['brightness_mode']!r}")
    needed = (*REQUIRED["any"], *REQUIRED.get(task["src_kind"], ()), *REQUIRED[task["brightness_mode"]])
    nulls = [name for name in needed if task.get(name) is None]
    if nulls:
        raise TaskError(f"null in required column(s) {', '.join(nulls)}")
    if task["brightness_mode"] == "snr" and task["snr_definition"] not in m.SNR_DEFINITIONS:
        raise TaskError(
            f"unknown snr_definition {task['snr_definition']!r} (expected one of {m.SNR_DEFINITIONS})"
        )
    if task["brightness_mode"] == "snr" and not maskbits_ok:
        raise TaskError("S/N target needs maskbits, which are not ok")
    if not (task["theta_e"] > 0 and np.isfinite(task["theta_e"])):
        raise TaskError(f"theta_e {task['theta_e']} is not a finite value > 0 arcsec")
    try:
        ellipticity_to_q_phi(task["lens_e1"], task["lens_e2"])  # raises for |e| >= 1
    except ConfigError as exc:
        raise TaskError(str(exc)) from None
    kernels = tuple(kernel(fwhm[b], config.psf_model, config.psf_beta) for b in BANDS)
    kind = task["src_kind"]
    if kind == "sersic":
        r_e, n, q = task["src_reff"], task["src_n"], task["src_q"]
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
        if not task["src_reff"] > 0:
            raise TaskError(f"src_reff {task['src_reff']} is not > 0 arcsec")
        cutoff = template.light_radius_arcsec * task["src_reff"] / template.hlr_arcsec
        return _Plan(("template", template.planes.shape, template.pixel_scale), template, cutoff, kernels)
    raise TaskError(f"unknown src_kind {kind!r}")


def _colour_ratios(tasks: list[dict]) -> np.ndarray:
    """Flux in g, r, z relative to r from the source colours g - r and r - z, per task: (T, 3)."""
    gr = np.array([t["src_gr"] for t in tasks], dtype=np.float64)
    rz = np.array([t["src_rz"] for t in tasks], dtype=np.float64)
    return np.stack([10 ** (-0.4 * gr), np.ones_like(gr), 10 ** (0.4 * rz)], axis=1)


def _column(tasks: list[dict], name: str) -> np.ndarray:
    return np.array([t[name] for t in tasks], dtype=np.float64)


def _render_group(
    index: np.ndarray,
    tasks: list[dict],
    plans: list,
    centre: np.ndarray,
    grid: Grid,
    convolver: Convolver,
    ratios: np.ndarray,
    arc_unit: np.ndarray,
    unlensed_r: np.ndarray,
) -> None:
    """Render tasks ``index`` (one source group) at unit r flux into ``arc_unit`` (PSF-convolved, every
    band) and their unlensed r flux kept in the stamp into ``unlensed_r``."""
    group = [tasks[i] for i in index]
    if plans[index[0]].group[0] == "sersic":
        sources = SersicSources(1.0, *(_column(group, c) for c in ("src_reff", "src_n", "src_q", "src_pa")))
    else:
        planes = plans[index[0]].template.planes.shape[0]
        sources = TemplateSources(
            [plans[i].template for i in index],
            _column(group, "src_reff"),
            _column(group, "src_pa"),
            np.ones((len(index), planes)),
            pyramid=True,
        )
    lens = LensParams(*(_column(group, c) for c in ("theta_e", "lens_e1", "lens_e2", "gamma1", "gamma2")))
    where = (
        centre[0][index],
        centre[1][index],
        _column(group, "src_x"),
        _column(group, "src_y"),
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
    by_kernels: dict[tuple, list[int]] = {}
    for local, i in enumerate(index):
        by_kernels.setdefault(tuple(id(k) for k in plans[i].kernels), []).append(local)
    for local in map(np.array, by_kernels.values()):
        kernels = plans[index[local[0]]].kernels
        rows = index[local]
        # single precision FFT: its errors (~1e-7 of the peak) are far below the stamp's float32 output
        arc_unit[rows] = (
            convolver.convolve(unit[local].astype(np.float32), list(kernels)) * ratios[rows][:, :, None, None]
        )
        unlensed_r[rows] = convolver.flux_kept(unlensed[local], kernels[BANDS.index("r")])


def _inject_chunk(
    cutouts: Sequence[Cutout], tasks: list[dict], bank, config: EngineConfig, rejected: Sequence[str | None]
) -> dict:
    """Columns (numpy arrays or lists) of the output rows of a chunk of tasks, all rendered together."""
    n = len(tasks)
    images = np.stack([c.image for c in cutouts])
    invvar = np.stack([c.invvar for c in cutouts])
    maskbits = np.stack([c.maskbits for c in cutouts])
    centre = np.array([[c.x for c in cutouts], [c.y for c in cutouts]], dtype=np.float64)
    maskbits_ok = np.array([c.maskbits_status == BAND_OK for c in cutouts])
    bands_ok = np.array([all(s == BAND_OK for s in c.band_status) for c in cutouts])
    grid = Grid(images.shape[2:], config.oversample)
    convolver = Convolver(grid.shape)  # its kernel spectra are cached per process
    good = m.good_pixels(invvar, maskbits, BANDS)
    r, snr_band = BANDS.index("r"), BANDS.index(config.snr_band)
    columns: dict = {**m.mask_fractions(maskbits, good[:, r]), **m.invvar_summary(invvar, BANDS)}

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
    columns.update({f"psf_fwhm_used_{b}": np.array([f[b] for f in fwhm]) for b in BANDS})
    columns["psf_fallback_bands"] = [",".join(f) for f in fallbacks]
    errors: list[str | None] = list(rejected)  # rejected before the engine: failed rows, the cutout as stamp
    for i, reason in enumerate(_masked_near_lens(cutouts, tasks, good, config.max_masked_near_lens)):
        errors[i] = (
            reason if errors[i] is None else errors[i]
        )  # before the class: controls and injections alike
    plans: list[_Plan | None] = [None] * n
    for i, task in enumerate(tasks):
        if task["is_control"] or errors[i] is not None:
            continue
        try:
            plans[i] = _plan(task, bank, config, fwhm[i], bool(maskbits_ok[i]))
        except TaskError as exc:
            errors[i] = f"TaskError: {exc}"
        except Exception as exc:  # a bug, not a bad row: stop, naming the task
            exc.add_note(f"while planning injection task {task['task_id']}")
            raise

    ratios = _colour_ratios(tasks)
    arc_unit = np.zeros(images.shape)
    unlensed_r = np.full(n, np.nan)
    groups: dict[tuple, list[int]] = {}
    for i, plan in enumerate(plans):
        if plan is not None:
            groups.setdefault(plan.group, []).append(i)
    for index in groups.values():
        try:
            _render_group(
                np.array(index), tasks, plans, centre, grid, convolver, ratios, arc_unit, unlensed_r
            )
        except (
            Exception
        ):  # a planned task does not fail to render unless dhs has a bug: find the task, and stop
            for i in index:
                try:
                    _render_group(
                        np.array([i]), tasks, plans, centre, grid, convolver, ratios, arc_unit, unlensed_r
                    )
                except Exception as single:
                    single.add_note(f"while rendering injection task {tasks[i]['task_id']}")
                    raise
            raise

    rendered = np.array([p is not None and e is None for p, e in zip(plans, errors)], dtype=bool)
    flux_r = np.zeros(n)
    unit_metrics = m.snr_metrics(arc_unit[:, snr_band], invvar[:, snr_band], good[:, snr_band])
    # the S/N of the unit-flux arc in each task's own definition: S/N is linear in flux, so a target is met exactly
    unit_snr = np.array(
        [
            unit_metrics[f"arc_snr_{t.get('snr_definition') or 'integrated'}"][i] if rendered[i] else 0.0
            for i, t in enumerate(tasks)
        ]
    )
    unit_band = arc_unit[:, snr_band]
    with np.errstate(divide="ignore", invalid="ignore"):
        on_good = np.where(good[:, snr_band], unit_band, 0.0).sum(axis=(1, 2)) / unit_band.sum(axis=(1, 2))
    for i in np.flatnonzero(rendered):
        task = tasks[i]
        if task["brightness_mode"] == "dmag":
            flux_r[i] = float(mag_to_flux(task["lens_rmag"] + task["src_dmag"]))
        elif unit_snr[i] > 0 and on_good[i] >= MIN_GOOD_ARC_FRACTION:
            flux_r[i] = task["arc_snr_target"] / unit_snr[i]
        else:  # scaled on the few good pixels left, the source would be absurdly bright everywhere else
            errors[i] = _unmet_target_reason(
                good[i, snr_band], on_good[i], invvar[i, snr_band], config.snr_band
            )
            rendered[i] = False
    arc = arc_unit * np.where(rendered, flux_r, 0.0)[:, None, None, None]
    if config.core_mask_radius_px > 0:
        yy, xx = np.mgrid[0 : grid.shape[0], 0 : grid.shape[1]]
        inside = (
            np.hypot(xx - centre[0][:, None, None], yy - centre[1][:, None, None])
            < config.core_mask_radius_px
        )
        arc = np.where(inside[:, None], 0.0, arc)
    added = arc.copy()
    if config.poisson_noise:
        for i in np.flatnonzero(rendered):
            rng = np.random.default_rng(np.uint64(np.int64(tasks[i]["task_seed"]).view(np.uint64)))
            electrons = config.gain_e_per_nmgy * np.clip(arc[i], 0, None)
            added[i] += (rng.poisson(electrons) - electrons) / config.gain_e_per_nmgy
    # stamp = cutout + the float32 arc, added in float32: a stamp is reproducible from its cutout and arc.
    # Nothing added (a control, zero flux, every arc pixel masked): the cutout's own bits, never image + 0.0
    added = added.astype(np.float32)
    lit = np.any(added != 0, axis=(1, 2, 3))
    stamps = np.where(lit[:, None, None, None], images + added, images)

    if config.core_mask_radius_px > 0:
        snr = m.snr_metrics(arc[:, snr_band], invvar[:, snr_band], good[:, snr_band])
    else:  # the S/N metrics are linear in the arc's flux
        snr = {name: value * np.where(rendered, flux_r, 0.0) for name, value in unit_metrics.items()}
    snr_valid = maskbits_ok & bands_ok
    columns.update(snr)
    columns["snr_null_reason"] = [
        "" if ok else f"maskbits {c.maskbits_status}, bands {','.join(c.band_status)}"
        for ok, c in zip(snr_valid, cutouts)
    ]
    columns.update({f"injected_flux_{b}": arc[:, i].sum(axis=(1, 2)) for i, b in enumerate(BANDS)})
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["magnification"] = np.where(
            unlensed_r > 0, arc_unit[:, r].sum(axis=(1, 2)) / unlensed_r, np.nan
        )
    columns["lensed_hlr_arcsec"] = half_light_radii(arc[:, r], grid.pixel_scale, centre[0], centre[1])
    columns["physics_warnings"] = [
        "; ".join(m.physics_warnings(t["theta_e"], f["r"], mu)) if ok else ""
        for t, f, mu, ok in zip(tasks, fwhm, columns["magnification"], rendered)
    ]
    columns.update(
        {f"src_flux_{b}": np.where(rendered, flux_r * ratios[:, i], 0.0) for i, b in enumerate(BANDS)}
    )
    finite = np.all(np.isfinite(stamps), axis=(1, 2, 3))
    status = [_status(c, ok, e) for c, ok, e in zip(cutouts, finite, errors)]
    columns.update(
        task_id=[t["task_id"] for t in tasks],
        status=[s for s, _ in status],
        status_reason=[why for _, why in status],
        image=stamps,
        arc=arc.astype(np.float32),
        invvar=invvar,
        maskbits=maskbits,
        cutout_ok=np.array([c.all_ok for c in cutouts], dtype=bool),
    )
    failed = np.array([e is not None for e in errors])
    # S/N metrics are null where they cannot be trusted; every metric is null for a task that failed
    columns["_null"] = {
        name: failed | (~snr_valid if name in SNR_COLUMNS else False) for name in METRIC_COLUMNS
    }
    return columns


def _masked_near_lens(
    cutouts: Sequence[Cutout], tasks: list[dict], good: np.ndarray, limit: float
) -> list[str | None]:
    """Per task, why its galaxy is unusable (None: usable): more than ``limit`` of the pixels within the task's
    ``arc_reach`` (arcsec) of the lens are bad in some band. Decided from the cutout alone, before the class, so
    controls and injections are held to the same rule; complete cutouts only (the others fail for coverage)."""
    reasons: list[str | None] = [None] * len(tasks)
    ny, nx = good.shape[-2:]
    yy, xx = np.mgrid[0:ny, 0:nx]
    bad = ~np.all(good, axis=1)
    for i, (cutout, task) in enumerate(zip(cutouts, tasks)):
        reach = task.get("arc_reach")
        if not cutout.all_ok or reach is None:
            continue
        disk = np.hypot(xx - cutout.x, yy - cutout.y) <= reach / PIXEL_SCALE_ARCSEC
        fraction = float(bad[i][disk].mean())
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
    cutout's ``invvar`` (same shape, nMgy^-2) and ``maskbits`` (size x size int32), all flattened; PSF sizes
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


def output_columns() -> tuple[str, ...]:
    """Names of the columns :func:`inject` returns, in order."""
    return tuple(_to_batch([], (len(BANDS), STAMP_SIZE, STAMP_SIZE)).schema.names)


def _to_batch(chunks: list[dict], shape) -> pa.RecordBatch:
    def joined(name):
        parts = [c[name] for c in chunks]
        return (
            np.concatenate(parts)
            if parts and isinstance(parts[0], np.ndarray)
            else [v for p in parts for v in p]
        )

    size = int(np.prod(shape))
    columns = {name: pa.array(joined(name), pa.string()) for name in ("task_id", "status", "status_reason")}
    for name, dtype, per_row in (
        ("image", np.float32, size),
        ("arc", np.float32, size),
        ("invvar", np.float32, size),
        ("maskbits", np.int32, size // shape[0]),
    ):
        flat = joined(name).astype(dtype).ravel() if chunks else np.zeros(0, dtype)
        columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat), per_row)
    columns["cutout_ok"] = pa.array(joined("cutout_ok") if chunks else np.zeros(0, bool), pa.bool_())
    nulls = {
        name: np.concatenate([np.broadcast_to(c["_null"][name], len(c["task_id"])) for c in chunks])
        if chunks
        else np.zeros(0, bool)
        for name in METRIC_COLUMNS
    }
    for name in (*METRIC_COLUMNS, *(f"psf_fwhm_used_{b}" for b in BANDS), *(f"src_flux_{b}" for b in BANDS)):
        values = joined(name) if chunks else np.zeros(0)
        columns[name] = pa.array(np.asarray(values, np.float64), pa.float64(), mask=nulls.get(name))
    for name in ("psf_fallback_bands", "physics_warnings", "snr_null_reason"):
        columns[name] = pa.array(joined(name), pa.string())
    return pa.RecordBatch.from_pydict(columns)
