"""Checks of the injected stamps, blocking: one stamp per task, and controls that are their cutouts bit for bit."""

import numpy as np
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dhs_assets.manifest.checks import run_partitions
from dhs_assets.resources import DataRoot, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.stamps.read import read_stamps
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.tables import partition_dir, read_table

CONTROLS_RECUT = 20  # controls per partition cut again from the coadds and compared bit for bit


@asset_check(asset=injected_stamps, blocking=True, description=(
    "Every manifest task has exactly one stamp; controls carry a zero arc and, for up to 20 per partition cut "
    "again from the coadds, equal their cutout bit for bit; ok stamps are finite, on a complete cutout."))
def stamps_valid(context: AssetCheckExecutionContext, data_root: DataRoot, survey_root: SurveyRoot) -> AssetCheckResult:
    problems, counts, bricks = [], {"stamps": 0, "ok": 0, "controls_recut": 0}, {}
    for partition in run_partitions(context):
        manifest = read_table(data_root.path, "injection_manifest", partition, columns=["task_id"])
        arrays, stamps = read_stamps(partition_dir(data_root.path, "injected_stamps", partition),
                                     ["task_id", "brickname", "ra", "dec", "stamp_size", "is_control", "status", "cutout_ok", "image", "arc"])
        ids = stamps["task_id"].to_numpy(zero_copy_only=False)
        if len(set(ids)) != len(ids) or set(ids) != set(manifest["task_id"].to_pylist()):
            problems.append(f"{partition}: stamps are not one per manifest task")
            continue
        counts["stamps"] += stamps.num_rows
        ok = stamps["status"].to_numpy(zero_copy_only=False) == "ok"
        counts["ok"] += int(ok.sum())
        controls = np.flatnonzero(stamps["is_control"].to_numpy(zero_copy_only=False))
        if np.any(arrays["arc"][controls]):
            problems.append(f"{partition}: a control has an arc")
        for i in controls[:CONTROLS_RECUT].tolist():
            name = stamps["brickname"][i].as_py()
            brick = bricks.setdefault(name, CoaddBrick(survey_root.layout, name, stamps_expected=CONTROLS_RECUT))  # read once, by sections
            cutout = brick.cutout(stamps["ra"][i].as_py(), stamps["dec"][i].as_py(), int(stamps["stamp_size"][i].as_py()))
            if arrays["image"][i].tobytes() != cutout.image.astype(np.float32).tobytes():
                problems.append(f"{partition}: control {ids[i]} differs from its cutout")
            counts["controls_recut"] += 1
        if not np.all(np.isfinite(arrays["image"][ok])):
            problems.append(f"{partition}: an ok stamp has non-finite pixels")
        if not np.all(stamps["cutout_ok"].to_numpy(zero_copy_only=False)[ok]):
            problems.append(f"{partition}: an ok stamp has an incomplete cutout")
    return AssetCheckResult(passed=not problems, metadata={**counts, "problems": "; ".join(problems[:10])})


STAMP_CHECKS = [stamps_valid]
