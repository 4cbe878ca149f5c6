"""Checks of the injected stamps, blocking: one stamp per task, controls that are their cutouts bit for bit, failures
only for expected reasons, and ok classes that masks do not separate."""

import numpy as np
from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, asset_check

from dhs_assets.manifest.checks import run_partitions
from dhs_assets.metadata import latest_metadata
from dhs_assets.resources import DataRoot, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.diagnostics.symmetry import SYMMETRY_ALPHA, SYMMETRY_COLUMNS, class_symmetry
from dhs_core.stamps.read import read_stamps
from dhs_core.stamps.reasons import failure_category
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.tables import partition_dir, read_table

CONTROLS_RECUT = 20  # controls per partition cut again from the coadds and compared bit for bit


@asset_check(
    asset=injected_stamps,
    blocking=True,
    description=(
        "Every manifest task has exactly one stamp; controls carry a zero arc and, for up to 20 per partition cut "
        "again from the coadds, equal their cutout bit for bit; ok stamps are finite, on a complete cutout; no stamp "
        "failed for a reason outside the expected ones (coverage, brick edge, masks), and no more than max_failed_fraction "
        "(run config, default 20 %) of the stamps the run made failed for those."
    ),
)
def stamps_valid(
    context: AssetCheckExecutionContext, data_root: DataRoot, survey_root: SurveyRoot
) -> AssetCheckResult:
    problems, counts, bricks, fractions = (
        [],
        {"stamps": 0, "ok": 0, "controls_recut": 0, "failed_expected": 0, "failed_unexpected": 0},
        {},
        {},
    )
    limit = float(
        latest_metadata(context.instance, injected_stamps.key, run_partitions(context)[0]).get(
            "max_failed_fraction", 0.2
        )
    )
    for partition in run_partitions(context):
        manifest = read_table(data_root.path, "injection_manifest", partition, columns=["task_id"])
        arrays, stamps = read_stamps(
            partition_dir(data_root.path, "injected_stamps", partition),
            [
                "task_id",
                "brickname",
                "ra",
                "dec",
                "stamp_size",
                "is_control",
                "status",
                "status_reason",
                "cutout_ok",
                "image",
                "arc",
            ],
        )
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
            brick = bricks.setdefault(
                name, CoaddBrick(survey_root.layout, name, stamps_expected=CONTROLS_RECUT)
            )  # read once, by sections
            cutout = brick.cutout(
                stamps["ra"][i].as_py(), stamps["dec"][i].as_py(), int(stamps["stamp_size"][i].as_py())
            )
            if arrays["image"][i].tobytes() != cutout.image.astype(np.float32).tobytes():
                problems.append(f"{partition}: control {ids[i]} differs from its cutout")
            counts["controls_recut"] += 1
        if not np.all(np.isfinite(arrays["image"][ok])):
            problems.append(f"{partition}: an ok stamp has non-finite pixels")
        if not np.all(stamps["cutout_ok"].to_numpy(zero_copy_only=False)[ok]):
            problems.append(f"{partition}: an ok stamp has an incomplete cutout")
        failed = [
            (r, failure_category(r)) for r, good in zip(stamps["status_reason"].to_pylist(), ok) if not good
        ]
        unexpected = [r for r, (_, expected) in failed if not expected]
        counts["failed_unexpected"] += len(unexpected)
        counts["failed_expected"] += len(failed) - len(unexpected)
        if unexpected:
            problems.append(
                f"{partition}: {len(unexpected)} stamp(s) failed for an unexpected reason, e.g. {unexpected[0]!r}"
            )
        fractions[partition] = round(len(failed) / max(stamps.num_rows, 1), 4)
    # judged over the run's stamps (one partition, or a backfill's range): a small split on one bad brick is not a trend
    counts["failed_fraction"] = round(counts["failed_expected"] / max(counts["stamps"], 1), 4)
    if counts["failed_fraction"] > limit:
        problems.append(
            f"{counts['failed_expected']} of {counts['stamps']} stamps failed for expected reasons (> {100 * limit:g} %)"
        )
    worst = sorted(fractions.items(), key=lambda item: -item[1])[:5]
    return AssetCheckResult(
        passed=not problems,
        metadata={
            **counts,
            "max_failed_fraction": limit,
            "problems": "; ".join(problems[:10]),
            "highest_partition_failed_fractions": ", ".join(f"{p} {f:.1%}" for p, f in worst),
        },
    )


@asset_check(
    asset=injected_stamps,
    blocking=True,
    description=(
        "Class symmetry: no mask, coverage or depth statistic separates the ok controls from the ok injections of a "
        "partition — bad_pixel_frac, wise_brightmask_frac and the invvar medians in g, r, z, one row per galaxy and class: "
        "a two-sample KS test of each distribution and Fisher's exact test of its share above the pooled 90th percentile, "
        "at a family-wise 1 % (Bonferroni over the ten)."
    ),
)
def stamps_class_symmetry(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    results, separating = {}, []
    for partition in run_partitions(context):
        _, meta = read_stamps(
            partition_dir(data_root.path, "injected_stamps", partition),
            ["row_id", "is_control", "status", *SYMMETRY_COLUMNS],
        )
        results[partition] = class_symmetry(meta)
        separating += [f"{partition}: {name}" for name in results[partition].get("separating", [])]
    worst = (
        min((t["p_value"], f"{p}: {name}") for p, r in results.items() for name, t in r["tests"].items())
        if any(r["tests"] for r in results.values())
        else (1.0, "")
    )
    return AssetCheckResult(
        passed=not separating,
        metadata={
            "separating": "; ".join(separating),
            "smallest_p_value": worst[0],
            "smallest_p_value_at": worst[1],
            "per_test_level": SYMMETRY_ALPHA / (2 * len(SYMMETRY_COLUMNS)),
            "galaxies_control": sum(r["galaxies_control"] for r in results.values()),
            "galaxies_injection": sum(r["galaxies_injection"] for r in results.values()),
            "partitions_not_judged": ", ".join(p for p, r in results.items() if not r["judged"]),
            "tests": MetadataValue.json(results),
        },
    )


STAMP_CHECKS = [stamps_valid, stamps_class_symmetry]
