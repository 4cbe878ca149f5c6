"""Phase 4c: inject the tasks of a manifest into cutouts of the real coadds around each LRG.

Rows are grouped by brick (one ``CoaddBrick`` read per brick, cut into every stamp it holds) and each
group goes to the engine (``dhs_core.inject.engine.inject``) as the task batch it expects. A stamp row
carries every manifest column (so it joins back to its frozen draws) beside the engine's columns: the
stamp ``image``, the noiseless ``arc``, the cutout's ``invvar`` and ``maskbits``, metrics and status.

Stamps are in brick order (bricks sorted by name), manifest order inside a brick.

Edges: a stamp that reaches past its brick's image is zero-padded there (invvar 0) and flagged
(``cutout_ok`` false, status ``failed``, the bands' ``partial`` status in ``status_reason``), as the
original did; it is not stitched from the neighbour brick. A brick without any coadd file gives failed
rows that name the missing folder; a corrupt file stops the run with an error naming it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dhs_core.conventions import BANDS
from dhs_core.errors import MissingBrickError, MissingColumnError
from dhs_core.inject.columns import ENGINE_COLUMNS, METRIC_COLUMNS, TASK_COLUMNS
from dhs_core.inject.engine import EngineConfig, inject
from dhs_core.inject.metrics import SNR_DEFINITIONS, good_pixels
from dhs_core.pixels import pixels_array
from dhs_core.stamps.reasons import failure_category
from dhs_core.survey.coadds import CoaddBrick, Cutout, missing_brick_reason
from dhs_core.survey.layout import SurveyLayout


def engine_tasks(manifest: pa.Table) -> pa.Table:
    """The engine's task table of manifest rows (same order, same names); controls keep their zero lens."""
    needed = [*TASK_COLUMNS, "ra", "dec", "brickname", "stamp_size"]
    present = set(manifest.column_names)
    missing = [c for c in needed if c not in present]
    if missing:
        raise MissingColumnError("injection manifest", missing)
    return manifest.select(list(TASK_COLUMNS))


def brick_groups(manifest: pa.Table) -> list[tuple[str, np.ndarray]]:
    """``(brickname, row indices in manifest order)`` for every brick of the manifest, bricks sorted by name."""
    names = manifest["brickname"].to_numpy(zero_copy_only=False).astype(str)
    order = np.argsort(names, kind="stable")
    bricks, starts = np.unique(names[order], return_index=True)
    return list(zip(bricks.tolist(), np.split(order, starts[1:]))) if len(names) else []


MAX_TARGET_ARC_SNR = (
    1000.0  # an S/N target above this is a broken manifest, not a lens (the seed's bins end at 100)
)
MANIFEST_REJECTED = "manifest:"  # how the status_reason of a row rejected by the re-validation starts


def manifest_problems(rows: pa.Table) -> list[str | None]:
    """The stamps step's re-validation of its manifest, per row: why an injection cannot be made (None: it can).

    Injections need a finite theta_E > 0 arcsec, ellipticity |e| < 1 and finite shear; in ``snr`` mode a finite
    S/N target in (0, 1000], in ``dmag`` mode a finite source offset in magnitudes; a finite source size > 0
    arcsec; a template index in [0, n_templates). A manifest written by dhs passes; one edited or corrupted does
    not, and its bad rows fail with the reason instead of becoming ok stamps with no arc or absurd ones."""

    def values(name):
        return rows[name].to_numpy(zero_copy_only=False).astype(np.float64)

    control = rows["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    mode = rows["brightness_mode"].to_numpy(zero_copy_only=False).astype(str)
    definition = rows["target_snr_definition"].to_numpy(zero_copy_only=False).astype(str)
    kind = rows["src_kind"].to_numpy(zero_copy_only=False).astype(str)
    theta_e, target, dmag, reff = (
        values("theta_e_arcsec"),
        values("target_arc_snr"),
        values("src_dmag"),
        values("src_reff_arcsec"),
    )
    e1, e2, g1, g2 = values("lens_e1"), values("lens_e2"), values("gamma1"), values("gamma2")
    template, n_templates = values("template_index"), values("n_templates")
    checks = (
        (
            ~(np.isfinite(theta_e) & (theta_e > 0)),
            "theta_e_arcsec {theta_e_arcsec} is not a finite value > 0",
        ),
        (~(np.hypot(e1, e2) < 1), "lens ellipticity lens_e1 {lens_e1}, lens_e2 {lens_e2} is not |e| < 1"),
        (~(np.isfinite(g1) & np.isfinite(g2)), "shear gamma1 {gamma1}, gamma2 {gamma2} is not finite"),
        (
            (mode == "snr") & ~(np.isfinite(target) & (target > 0) & (target <= MAX_TARGET_ARC_SNR)),
            f"target_arc_snr {{target_arc_snr}} is not in (0, {MAX_TARGET_ARC_SNR:g}]",
        ),
        (
            (mode == "snr") & ~np.isin(definition, SNR_DEFINITIONS),
            "target_snr_definition {target_snr_definition} is not peak or integrated",
        ),
        ((mode == "dmag") & ~np.isfinite(dmag), "src_dmag {src_dmag} is not finite"),
        (~np.isin(mode, ("snr", "dmag")), "brightness_mode {brightness_mode} is not snr or dmag"),
        (~(np.isfinite(reff) & (reff > 0)), "src_reff_arcsec {src_reff_arcsec} is not a finite value > 0"),
        (
            (kind == "template") & ~((template >= 0) & (template < n_templates)),
            "template_index {template_index} is not in [0, n_templates {n_templates})",
        ),
    )
    problems: list[str | None] = [None] * rows.num_rows
    for bad, message in checks:
        for i in np.flatnonzero(bad & ~control):
            row = {
                name: rows[name][int(i)].as_py() for name in rows.column_names if "{" + name + "}" in message
            }
            text = message.format(**row)
            problems[i] = text if problems[i] is None else f"{problems[i]}; {text}"
    return [None if p is None else f"{MANIFEST_REJECTED} {p}" for p in problems]


def inject_brick(
    rows: pa.Table,
    layout: SurveyLayout,
    bank,
    config: EngineConfig,
    brick: CoaddBrick | None = None,
    validate: bool = True,
) -> pa.Table:
    """Stamps of manifest ``rows`` that all lie on one brick (same order), cut from its coadds: every manifest column,
    then the engine's. ``brick``: the brick's opened coadds when the caller keeps them for more rows. ``validate``:
    rows that fail :func:`manifest_problems` become failed stamps with the reason (off only for the null injection,
    whose zero-flux rows are deliberately outside what a manifest may hold)."""
    names = pc.unique(rows["brickname"]).to_pylist()
    if len(names) != 1:
        raise ValueError(f"inject_brick takes the rows of one brick, got {names[:5]}")
    brick = brick or CoaddBrick(layout, names[0], stamps_expected=rows.num_rows)
    return inject_cutouts(rows, *brick_cutouts(brick, rows), bank, config, validate)


def brick_cutouts(brick: CoaddBrick, rows: pa.Table) -> tuple[list[Cutout], str | None]:
    """The stamp-sized cutouts of ``rows`` cut from ``brick``, and None; on a brick without files, missing cutouts
    and why (``missing_brick_reason``)."""
    size = int(rows["stamp_size"][0].as_py())
    ra, dec = rows["ra"].to_numpy(), rows["dec"].to_numpy()
    try:
        return [brick.cutout(ra[i], dec[i], size) for i in range(rows.num_rows)], None
    except MissingBrickError as exc:
        return [Cutout.missing("".join(BANDS), size)] * rows.num_rows, missing_brick_reason(brick, exc)


def inject_cutouts(
    rows: pa.Table,
    cutouts: list[Cutout],
    reason: str | None,
    bank,
    config: EngineConfig,
    validate: bool = True,
) -> pa.Table:
    """Stamps of manifest ``rows`` of one brick from their ``cutouts`` (one per row, from the brick or the cutout
    cache); ``reason``: why every row fails (the brick has no files), else None."""
    tasks = engine_tasks(rows)
    stamps = pa.Table.from_batches(
        [inject(cutouts, tasks, bank, config, manifest_problems(rows) if validate else None)]
    )
    if reason is not None:
        stamps = stamps.set_column(
            stamps.schema.get_field_index("status_reason"),
            "status_reason",
            pa.array([reason] * rows.num_rows, pa.string()),
        )
    return join_stamps(
        rows, match_controls(stamps, tasks["is_control"].to_numpy(zero_copy_only=False).astype(bool))
    )


CLASS_MATCH = (
    "class match: excluded with injection"  # how the status_reason of a control failed by matching starts
)


def match_controls(stamps: pa.Table, is_control: np.ndarray) -> pa.Table:
    """Fail, for each injection that failed only because its arc fell on masked pixels (the one failure a control
    cannot have), the ok control of the same rows with the nearest bad-pixel fraction (r band, from its maskbits and
    invvar; each control once, ties to the first), with reason ``CLASS_MATCH <task_id>`` and null metrics. So the ok
    rows of the two classes lose the same kind of galaxy and masks do not tell them apart."""
    reasons = stamps["status_reason"].to_pylist()
    lost = [
        i
        for i, (reason, control) in enumerate(zip(reasons, is_control))
        if not control and reason and failure_category(reason)[0] == "arc_on_masked_pixels"
    ]
    candidates = [
        i
        for i, (ok, control) in enumerate(zip(stamps["status"].to_pylist(), is_control))
        if ok == "ok" and control
    ]
    if not lost or not candidates:
        return stamps
    invvar, maskbits = pixels_array(stamps["invvar"], "invvar"), pixels_array(stamps["maskbits"], "maskbits")
    bad = 1 - good_pixels(invvar, maskbits, "".join(BANDS))[:, BANDS.index("r")].mean(axis=(1, 2))
    status = stamps["status"].to_pylist()
    matched = np.zeros(stamps.num_rows, bool)
    task_ids = stamps["task_id"].to_pylist()
    for i in lost:
        free = [j for j in candidates if not matched[j]]
        if not free:
            break
        j = free[int(np.argmin(np.abs(bad[free] - bad[i])))]
        matched[j], status[j], reasons[j] = (
            True,
            "failed",
            f"{CLASS_MATCH} {task_ids[i]} (its arc fell on masked pixels)",
        )
    columns = {"status": pa.array(status, pa.string()), "status_reason": pa.array(reasons, pa.string())}
    columns.update(
        {
            name: pc.if_else(pa.array(matched), pa.nulls(stamps.num_rows, stamps[name].type), stamps[name])
            for name in METRIC_COLUMNS
        }
    )
    for name, column in columns.items():
        stamps = stamps.set_column(stamps.schema.get_field_index(name), name, column)
    return stamps


def join_stamps(rows: pa.Table, stamps: pa.Table) -> pa.Table:
    """Manifest ``rows`` beside the engine's ``stamps`` of them (same order; ``task_id`` once)."""
    clash = (set(rows.column_names) & set(stamps.column_names)) - {"task_id"}
    if clash:
        raise ValueError(f"manifest and engine columns share names: {sorted(clash)}")
    return pa.table(
        {
            **{c: rows[c] for c in rows.column_names},
            **{c: stamps[c] for c in stamps.column_names if c != "task_id"},
        }
    )


def manifest_rows(stamps: pa.Table) -> pa.Table:
    """The manifest columns of stamp rows (the engine's dropped, ``task_id`` kept): the tasks, to run again."""
    return stamps.drop_columns([c for c in ENGINE_COLUMNS if c != "task_id" and c in stamps.column_names])
