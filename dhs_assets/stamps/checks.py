"""Checks of the injected stamps, blocking: one stamp per task, and controls that are their cutouts bit for bit."""

import numpy as np
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
        pixels = {name: stamps[name].combine_chunks().flatten().to_numpy().reshape(stamps.num_rows, -1) for name in ("stamp", "arc")}
        ok = np.array([s == "ok" for s in stamps["status"].to_pylist()], dtype=bool)
        counts["ok"] += int(ok.sum())
        controls = np.flatnonzero(stamps["is_control"].to_numpy(zero_copy_only=False))
        if np.any(pixels["arc"][controls]):
            problems.append(f"{partition}: a control has an arc")
        for i in controls[:CONTROLS_RECUT].tolist():
            name = stamps["brickname"][i].as_py()
            brick = bricks.setdefault(name, CoaddBrick(survey_root.layout, name))  # each brick's files read once
            cutout = brick.cutout(manifest["ra"][i].as_py(), manifest["dec"][i].as_py(), int(manifest["stamp_size"][i].as_py()))
            if pixels["stamp"][i].astype(np.float32).tobytes() != cutout.image.astype(np.float32).tobytes():
                problems.append(f"{partition}: control {stamps['task_id'][i]} differs from its cutout")
            counts["controls_recut"] += 1
        if not np.all(np.isfinite(pixels["stamp"][ok])):
            problems.append(f"{partition}: an ok stamp has non-finite pixels")
    return AssetCheckResult(passed=not problems, metadata={**counts, "problems": "; ".join(problems[:10])})


STAMP_CHECKS = [stamps_valid]
