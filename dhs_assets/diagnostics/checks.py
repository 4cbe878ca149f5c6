"""The leakage, null-injection and shortcut diagnostics as checks of the injected stamps.

Blocking (bad data must not flow on): the column audit, the null injection through the engine and split
leakage. The core-only shortcut gate warns: the raw default recipe is expected to fail it, honestly."""

from collections import defaultdict
from collections.abc import Callable

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from dhs_assets.datasets.partitions import dataset_split
from dhs_assets.diagnostics.samples import stamps_spec
from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_assets.manifest.checks import run_partitions
from dhs_assets.resources import DataRoot, SourceBank, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.asset_names import INJECTED_STAMPS
from dhs_core.bank import open_bank
from dhs_core.datasets.spec import DatasetSpec
from dhs_core.diagnostics.leakage import split_leakage
from dhs_core.diagnostics.samples import (
    column_audit_verdict,
    null_injection_verdict,
    ok_class_counts,
    shortcut_gate_verdict,
)
from dhs_core.tables import parquet_source, partition_dir


def per_dataset(
    context: AssetCheckExecutionContext,
    data_root: DataRoot,
    verdict: Callable[[list[str], DatasetSpec], tuple[bool, dict]],
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
) -> AssetCheckResult:
    """``verdict(folders, spec)`` on each dataset among the run's stamp partitions (a diagnostic judges one recipe at
    a time); passed if every dataset passed. A dataset with ok stamps of one class only is not judged (nothing to
    compare; said in the metadata). Metadata: the failing datasets' or else the first one's, each key prefixed with
    its dataset when the run holds several."""
    groups = defaultdict(list)
    for partition in run_partitions(context):
        groups[dataset_split(partition)[0]].append(partition)
    results = {}
    for name, partitions in groups.items():
        folders = [partition_dir(data_root.path, INJECTED_STAMPS, p) for p in partitions]
        spec = stamps_spec(data_root.path, partitions)
        counts = ok_class_counts(folders)
        results[name] = (
            verdict(folders, spec)
            if all(counts.values())
            else (True, {"judged": False, "ok_stamps": MetadataValue.json(counts)})
        )
    failing = [name for name, (passed, _) in results.items() if not passed]
    shown = failing or list(results)[:1]
    metadata = {"datasets": ", ".join(results), "datasets_failing": ", ".join(failing)}
    for name in shown:
        prefix = f"{name} " if len(results) > 1 else ""
        metadata.update({f"{prefix}{key}": value for key, value in results[name][1].items()})
    return AssetCheckResult(passed=not failing, severity=severity, metadata=metadata)


@asset_check(
    asset=injected_stamps,
    blocking=True,
    description=(
        "Column audit: the columns a training export carries (dhs_core.diagnostics.audit.TRAINING_EXPORT) hold no "
        "label-bearing column, and each one alone separates injections from controls with AUC within 0.5 +- 0.05 (or, "
        "for small samples, inside the interval of 0.5 that every column stays in by chance with probability 1 - alpha, 99 % "
        "by default); one stamp per galaxy and class, sampled per partition."
    ),
)
def stamps_column_audit(
    context: AssetCheckExecutionContext, data_root: DataRoot, diagnostics: DiagnosticsSettings
) -> AssetCheckResult:
    def audit(folders, spec):
        result = column_audit_verdict(folders, diagnostics.core())
        return result["passed"], {
            "label_bearing": ", ".join(result["label_bearing"]) or "none",
            "columns": MetadataValue.json(result["columns"]),
            **{f"auc_{name}": value["auc"] for name, value in result["columns"].items()},
        }

    return per_dataset(context, data_root, audit)


@asset_check(
    asset=injected_stamps,
    blocking=True,
    description=(
        "Null injection through the engine: a sample of injection tasks re-run with zero source flux gives pixels bit-identical "
        "to their cutouts, and a probe (logistic regression on the pixels, cross-validated by galaxy) does not separate them from "
        "the controls better than chance: one-sided permutation p-value above alpha (0.01; 99 label permutations through the "
        "same cross-validation)."
    ),
)
def stamps_null_injection(
    context: AssetCheckExecutionContext,
    data_root: DataRoot,
    survey_root: SurveyRoot,
    diagnostics: DiagnosticsSettings,
    bank: SourceBank,
) -> AssetCheckResult:
    def null(folders, spec):
        with open_bank(spec.bank or bank.file(data_root.path)) as opened:
            result = null_injection_verdict(
                folders, survey_root.layout, opened, spec.engine, diagnostics.core()
            )
        return result["passed"], {
            "tasks": result["tasks"],
            "bit_identical": result["bit_identical"],
            "probe": MetadataValue.json(result["probe"]),
            "probe_consistent_with_chance": result["probe_consistent_with_chance"],
        }

    return per_dataset(context, data_root, null)


@asset_check(
    asset=injected_stamps,
    blocking=False,
    description=(
        "Core-only shortcut gate (warns): logistic regression on the central r < 10 px pixels, and on azimuthal radial "
        "profiles, separating injections from controls (5-fold CV by galaxy, AUC with its 95 % interval), raw and after the "
        "residual-radial-profile preprocessing; the gated one (setting gate_preprocessing) must stay below gate_threshold "
        "(0.60; the original measured 0.98). Also the core brightness ratio (r < 8 px) and the arc-suppression probe."
    ),
)
def stamps_shortcut_gate(
    context: AssetCheckExecutionContext, data_root: DataRoot, diagnostics: DiagnosticsSettings
) -> AssetCheckResult:
    def gate(folders, spec):
        gates = shortcut_gate_verdict(folders, diagnostics.core())
        return gates["passed"], {
            "gated_auc": round(gates["gated_auc"], 4),
            "threshold": gates["threshold"],
            "preprocessing": gates["preprocessing"],
            "core_lr_raw": gates["core_lr"]["raw"]["auc"],
            "core_lr_residual": gates["core_lr"]["residual_radial_profile"]["auc"],
            "radial_raw": gates["radial_profile"]["raw"]["auc"],
            "radial_residual": gates["radial_profile"]["residual_radial_profile"]["auc"],
            "core_brightness_mean_ratio": round(gates["core_brightness"]["mean_ratio"], 4),
            "gates": MetadataValue.json(gates),
        }

    return per_dataset(context, data_root, gate, severity=AssetCheckSeverity.WARN)


@asset_check(
    asset=injected_stamps,
    blocking=True,
    description=(
        "Split leakage: across the stamps of every partition, no galaxy (row_id), brick or sky region (region_id) in two splits."
    ),
)
def stamps_split_leakage(data_root: DataRoot) -> AssetCheckResult:
    result = split_leakage(parquet_source(data_root.path, INJECTED_STAMPS, None))
    return AssetCheckResult(
        passed=result["passed"],
        metadata={
            **{
                f"{key}_in_two_splits": result[key]["in_two_splits"]
                for key in ("row_id", "brickname", "region_id")
            },
            "splits": ", ".join(result["splits"]),
            "details": MetadataValue.json(result),
        },
    )


DIAGNOSTIC_CHECKS = [stamps_column_audit, stamps_null_injection, stamps_shortcut_gate, stamps_split_leakage]
