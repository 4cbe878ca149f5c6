"""Phase 4c: inject the tasks of a manifest into cutouts of the real coadds around each LRG.

Rows are grouped by brick (one ``CoaddBrick`` read per brick, cut into every stamp it holds) and each
group goes to the engine (``dhs_core.inject.engine.inject``) as the task batch it expects. The output
keeps the manifest's order and its keys (task id, galaxy, configuration, replicate, control flag and
split) beside the engine's columns, so a stamp joins back to its frozen draws.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dhs_core.errors import MissingColumnError
from dhs_core.inject.engine import EngineConfig, inject
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.survey.layout import SurveyLayout

# engine task column <- manifest column (docs/manifest.md); the rest keep their names
TASK_FROM_MANIFEST = {
    "theta_e": "theta_e_arcsec", "src_x": "src_x_arcsec", "src_y": "src_y_arcsec", "src_reff": "src_reff_arcsec",
    "src_pa": "src_phi_rad", "arc_snr_target": "target_arc_snr", "lens_rmag": "rmag", "psfsize_g": "psfsize_g",
    "psfsize_r": "psfsize_r", "psfsize_z": "psfsize_z", "task_seed": "task_seed64",
}
SAME_NAME = ("task_id", "is_control", "lens_e1", "lens_e2", "gamma1", "gamma2", "src_kind", "src_n", "src_q", "template_index",
             "brightness_mode", "src_dmag", "src_gr", "src_rz")
KEYS = ("task_id", "row_id", "brickname", "region_split", "selection_set_id", "config_id", "replicate", "is_control")


def engine_tasks(manifest: pa.Table) -> pa.Table:
    """The engine's task table of manifest rows (same order); controls keep their zero lens."""
    needed = [*TASK_FROM_MANIFEST.values(), *SAME_NAME, "ra", "dec"]
    missing = [c for c in needed if c not in manifest.column_names]
    if missing:
        raise MissingColumnError("injection manifest", missing)
    columns = {name: manifest[name] for name in SAME_NAME}
    columns.update({task: manifest[source] for task, source in TASK_FROM_MANIFEST.items()})
    return pa.table(columns)


def inject_manifest(manifest: pa.Table, layout: SurveyLayout, bank, config: EngineConfig, stamp_size: int,
                    bricks: dict | None = None) -> pa.Table:
    """Stamps of every manifest row (same order): the manifest's keys and the engine's columns.

    ``bricks``: a cache of opened ``CoaddBrick`` by brick name, shared between calls (filled here).
    """
    bricks = {} if bricks is None else bricks
    tasks = engine_tasks(manifest)
    names = manifest["brickname"].to_numpy(zero_copy_only=False)
    ra, dec = manifest["ra"].to_numpy(), manifest["dec"].to_numpy()
    order = np.argsort(names, kind="stable")
    batches, positions = [], []
    for name in np.unique(names):
        rows = order[np.searchsorted(names[order], name, "left"):np.searchsorted(names[order], name, "right")]
        brick = bricks.setdefault(name, CoaddBrick(layout, name))
        cutouts = [brick.cutout(ra[i], dec[i], stamp_size) for i in rows]
        batches.append(inject(cutouts, tasks.take(rows), bank, config))
        positions.append(rows)
    result = pa.Table.from_batches(batches) if batches else pa.table({})
    back = np.argsort(np.concatenate(positions)) if positions else np.zeros(0, np.int64)
    result = result.take(back)
    keys = manifest.select([k for k in KEYS if k != "task_id"])
    return pa.table({"task_id": result["task_id"], **{k: keys[k] for k in keys.column_names},
                     **{k: result[k] for k in result.column_names if k != "task_id"}})
