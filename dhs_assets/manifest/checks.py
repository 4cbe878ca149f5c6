"""Checks of the injection manifest, all blocking: a manifest that fails one must not reach Phase 4c."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from dhs_assets.manifest.assets import injection_manifest
from dhs_assets.metadata import latest_metadata
from dhs_assets.resources import DataRoot
from dhs_core.catalog.splits import SPLITS
from dhs_core.manifest import validation
from dhs_core.manifest.build import ManifestConfig
from dhs_core.tables import materialized_partitions, read_table


def _manifest(context: AssetCheckExecutionContext, data_root: DataRoot):
    """The checked partition's table and the configuration it was built with (from its metadata)."""
    partition = context.run.tags.get("dagster/partition", "")
    meta = latest_metadata(context.instance, injection_manifest.key, partition)
    if "manifest_config" not in meta:
        raise ValueError(f"injection_manifest {partition}: no materialization with a manifest_config to check against")
    return partition, read_table(data_root.path, "injection_manifest", partition), ManifestConfig.from_record(meta["manifest_config"])


def _result(*checks) -> AssetCheckResult:
    metadata, passed = {}, True
    for name, (ok, details) in checks:
        passed &= bool(ok)
        metadata.update({f"{name}_passed": bool(ok), **{f"{name}_{k}": v for k, v in details.items()}})
    return AssetCheckResult(passed=passed, metadata={k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in metadata.items()})


@asset_check(asset=injection_manifest, blocking=True, description=(
    "Task ids unique; every random column inside its range and no NaN; controls carry no lens; every row in "
    "the partition's split, and no galaxy in two splits' manifests of this selection set."))
def manifest_integrity(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    partition, table, config = _manifest(context, data_root)
    set_key, split = partition.split("|")[0], partition.split("|")[1]
    wrong_split = sum(s != split for s in table["region_split"].to_pylist())
    others = {s: read_table(data_root.path, "injection_manifest", f"{set_key}|{s}", columns=["row_id"])
              for s in SPLITS if f"{set_key}|{s}" in materialized_partitions(data_root.path, "injection_manifest")}
    others[split] = table
    return _result(("ids", validation.unique_task_ids(table)), ("draws", validation.draws_in_range(table, config)),
                   ("split", (wrong_split == 0, {"rows_of_another_split": wrong_split})),
                   ("splits", validation.splits_disjoint(others)))


@asset_check(asset=injection_manifest, blocking=True, description=(
    "Realised control fraction within 1 percentage point of the configured one (3 binomial sigma for small "
    "samples); both reported."))
def manifest_controls(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    _, table, config = _manifest(context, data_root)
    return _result(("controls", validation.control_fraction(table, config)))


@asset_check(asset=injection_manifest, blocking=True, description=(
    "Every configuration used, with a chi-square test against uniform counts (p reported); no PSF x depth "
    "stratum above its share of the galaxies (counts reported)."))
def manifest_balance(context: AssetCheckExecutionContext, data_root: DataRoot) -> AssetCheckResult:
    _, table, config = _manifest(context, data_root)
    return _result(("configs", validation.config_usage(table, config)), ("strata", validation.strata_balance(table, config)))


MANIFEST_CHECKS = [manifest_integrity, manifest_controls, manifest_balance]
