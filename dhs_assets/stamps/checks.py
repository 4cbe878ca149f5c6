"""Checks of the injected stamps and their cutout cache, blocking: one stamp per task, controls that are their cutouts
bit for bit, failures only for expected reasons, ok classes that masks do not separate; one cutout per galaxy."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue, asset_check

from dhs_assets.catalog.partitions import partitions_of_run, split_partitions
from dhs_assets.manifest.checks import run_partitions
from dhs_assets.metadata import latest_metadata
from dhs_assets.resources import DataRoot, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_assets.stamps.cutouts import galaxy_cutouts
from dhs_core.asset_names import GALAXY_CUTOUTS, INJECTED_STAMPS, INJECTION_MANIFEST, PARENT_SAMPLE
from dhs_core.diagnostics.symmetry import SYMMETRY_ALPHA, SYMMETRY_COLUMNS, class_symmetry
from dhs_core.stamps.read import read_stamps
from dhs_core.stamps.validation import VALIDATION_COLUMNS, StampsLimits, StampsValidation
from dhs_core.survey.cutout_cache import cache_findings
from dhs_core.tables import partition_dir, read_table


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
    partitions = run_partitions(context)
    recorded = latest_metadata(context.instance, injected_stamps.key, partitions[0])
    limits = StampsLimits(float(recorded.get("max_failed_fraction", StampsLimits.max_failed_fraction)))
    validation = StampsValidation(survey_root.layout, limits)
    for partition in partitions:
        manifest = read_table(data_root.path, INJECTION_MANIFEST, partition, columns=["task_id"])
        arrays, stamps = read_stamps(
            partition_dir(data_root.path, INJECTED_STAMPS, partition), list(VALIDATION_COLUMNS)
        )
        validation.add(partition, manifest["task_id"], arrays, stamps)
    passed, metadata = validation.verdict()
    return AssetCheckResult(passed=passed, metadata=metadata)


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
            partition_dir(data_root.path, INJECTED_STAMPS, partition),
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


@asset_check(
    asset=galaxy_cutouts,
    blocking=True,
    description=(
        "Every parent galaxy of the split has exactly one cached cutout of the cache's size, and nothing else is "
        "cached; rows on bricks without files are counted (their stamps fail, saying why)."
    ),
)
def galaxy_cutouts_complete(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    results = {
        split: cache_findings(
            read_table(data_root.path, GALAXY_CUTOUTS, split, ["row_id", "cutout_size", "brick_problem"]),
            read_table(data_root.path, PARENT_SAMPLE, split, ["row_id"]),
        )
        for split in partitions_of_run(context, split_partitions)
    }
    return AssetCheckResult(
        passed=all(r["passed"] for r in results.values()),
        metadata={
            "failing": ", ".join(s for s, r in results.items() if not r["passed"]),
            "findings": MetadataValue.json(results),
        },
    )


STAMP_CHECKS = [stamps_valid, stamps_class_symmetry, galaxy_cutouts_complete]
