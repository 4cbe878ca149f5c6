"""Checks of the injection manifest, all blocking: a manifest that fails one must not reach Phase 4c."""

import pyarrow.compute as pc
from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dhs_assets.catalog.partitions import partitions_of_run
from dhs_assets.datasets.partitions import dataset_split, dataset_split_key, dataset_split_partitions
from dhs_assets.manifest.assets import injection_manifest
from dhs_assets.metadata import plain
from dhs_assets.resources import DataRoot
from dhs_core.asset_names import INJECTION_MANIFEST
from dhs_core.catalog.splits import SPLITS
from dhs_core.datasets.record import recorded_spec
from dhs_core.manifest import validation
from dhs_core.tables import materialized_partitions, partition_dir, read_table


def run_partitions(context: AssetCheckExecutionContext) -> list[str]:
    """The manifest partitions (or stamp partitions: the same keys) materialized by the check's run."""
    return partitions_of_run(context, dataset_split_partitions)


def _manifests(context: AssetCheckExecutionContext, data_root: DataRoot):
    """Each checked partition's key, tasks and the manifest settings of the spec it records."""
    for partition in run_partitions(context):
        config = recorded_spec(partition_dir(data_root.path, INJECTION_MANIFEST, partition)).manifest
        yield partition, read_table(data_root.path, INJECTION_MANIFEST, partition), config


def _selection_sets(context: AssetCheckExecutionContext, data_root: DataRoot):
    """Each checked partition's selection sets, ``(partition and set id, the set's tasks, settings)``: the sampling
    checks judge each set's sample on its own, as it was drawn."""
    for partition, table, config in _manifests(context, data_root):
        for set_id in sorted(set(table["selection_set_id"].to_pylist())):
            yield f"{partition} {set_id}", table.filter(pc.equal(table["selection_set_id"], set_id)), config


def _result(checks_by_partition: dict[str, list]) -> AssetCheckResult:
    """One result over the run's partitions: passed if every check of every partition passed; the
    details of one partition, or of the failing ones, as metadata."""
    failing = {p: checks for p, checks in checks_by_partition.items() if not all(ok for _, (ok, _) in checks)}
    shown = failing or dict(list(checks_by_partition.items())[:1])
    metadata = {"partitions_checked": len(checks_by_partition), "partitions_failing": ", ".join(failing)}
    for partition, checks in shown.items():
        prefix = f"{partition} " if len(shown) > 1 or failing else ""
        for name, (ok, details) in checks:
            metadata[f"{prefix}{name}_passed"] = bool(ok)
            metadata.update({f"{prefix}{name}_{k}": plain(v) for k, v in details.items()})
    return AssetCheckResult(passed=not failing, metadata=metadata)


@asset_check(
    asset=injection_manifest,
    blocking=True,
    description=(
        "Task ids unique; every random column inside its range and no NaN; controls carry no lens; every row in "
        "the partition's split, and no galaxy in two splits' manifests of this dataset."
    ),
)
def manifest_integrity(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    results = {}
    for partition, table, config in _manifests(context, data_root):
        dataset, split = dataset_split(partition)
        wrong_split = sum(s != split for s in table["region_split"].to_pylist())
        done = set(materialized_partitions(data_root.path, INJECTION_MANIFEST))
        others = {s: dataset_split_key(dataset, s) for s in SPLITS if s != split}
        tables = {
            s: read_table(data_root.path, INJECTION_MANIFEST, key, columns=["row_id"])
            for s, key in others.items()
            if key in done
        }
        tables[split] = table
        results[partition] = [
            ("ids", validation.unique_task_ids(table)),
            ("draws", validation.draws_in_range(table, config)),
            ("split", (wrong_split == 0, {"rows_of_another_split": wrong_split})),
            ("splits", validation.splits_disjoint(tables)),
        ]
    return _result(results)


@asset_check(
    asset=injection_manifest,
    blocking=True,
    description=(
        "Realised control fraction within 1 percentage point of the configured one (3 binomial sigma for small "
        "samples); both reported."
    ),
)
def manifest_controls(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    return _result(
        {
            p: [("controls", validation.control_fraction(t, c))]
            for p, t, c in _selection_sets(context, data_root)
        }
    )


@asset_check(
    asset=injection_manifest,
    blocking=True,
    description=(
        "Every configuration used, with a chi-square test against uniform counts (p reported); no PSF x depth "
        "stratum above its share of the galaxies (counts reported)."
    ),
)
def manifest_balance(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    return _result(
        {
            p: [("configs", validation.config_usage(t, c)), ("strata", validation.strata_balance(t, c))]
            for p, t, c in _selection_sets(context, data_root)
        }
    )


MANIFEST_CHECKS = [manifest_integrity, manifest_controls, manifest_balance]
