"""Checks of the injected stamps, blocking: one stamp per task, and controls that are their cutouts bit for bit."""

import numpy as np
import pyarrow.compute as pc
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dhs_assets.manifest.checks import run_partitions
from dhs_assets.resources import DataRoot, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.tables import read_table

CONTROLS_RECUT = 20  # controls per partition cut again from the coadds and compared bit for bit


@asset_check(asset=injected_stamps, blocking=True, description=(
    "Every manifest task has exactly one stamp, in order; controls carry a zero arc and, for up to 20 per "
    "partition cut again from the coadds, equal their cutout bit for bit (the null injection); ok stamps are finite."))
def stamps_valid(context: AssetCheckExecutionContext, data_root: DataRoot, survey_root: SurveyRoot) -> AssetCheckResult:
    problems, counts, bricks = [], {"stamps": 0, "ok": 0, "controls_recut": 0}, {}
    for partition in run_partitions(context):
        manifest = read_table(data_root.path, "injection_manifest", partition, columns=["task_id", "ra", "dec", "stamp_size"])
        stamps = read_table(data_root.path, "injected_stamps", partition)
        if not stamps["task_id"].equals(manifest["task_id"]):
            problems.append(f"{partition}: stamps do not match the manifest's tasks")
            continue
        counts["stamps"] += stamps.num_rows
        ok = np.array([s == "ok" for s in stamps["status"].to_pylist()])
        counts["ok"] += int(ok.sum())
        controls = np.flatnonzero(stamps["is_control"].to_numpy(zero_copy_only=False))
        for i in controls:
            if np.any(np.asarray(stamps["arc"][int(i)].as_py())):
                problems.append(f"{partition}: control {stamps['task_id'][int(i)]} has an arc")
                break
        for i in controls[:CONTROLS_RECUT]:
            i = int(i)
            size = int(manifest["stamp_size"][i].as_py())
            name = stamps["brickname"][i].as_py()
            brick = bricks.setdefault(name, CoaddBrick(survey_root.layout, name))  # each brick's files read once
            cutout = brick.cutout(manifest["ra"][i].as_py(), manifest["dec"][i].as_py(), size)
            if np.asarray(stamps["stamp"][i].as_py(), np.float32).tobytes() != cutout.image.astype(np.float32).tobytes():
                problems.append(f"{partition}: control {stamps['task_id'][i]} differs from its cutout")
            counts["controls_recut"] += 1
        finite = [np.all(np.isfinite(np.asarray(stamps["stamp"][int(i)].as_py()))) for i in np.flatnonzero(ok)]
        if not all(finite):
            problems.append(f"{partition}: an ok stamp has non-finite pixels")
    return AssetCheckResult(passed=not problems, metadata={**counts, "problems": "; ".join(problems[:10])})


STAMP_CHECKS = [stamps_valid]
