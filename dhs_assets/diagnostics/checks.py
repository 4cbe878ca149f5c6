"""The leakage, null-injection and shortcut diagnostics as checks of the injected stamps.

Blocking (bad data must not flow on): the column audit, the null injection through the engine and split
leakage. The core-only shortcut gate warns: the raw default recipe is expected to fail it, honestly."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from dhs_assets.diagnostics.samples import engine_config, run_folders
from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_assets.manifest.checks import run_partitions
from dhs_assets.resources import DataRoot, SourceBank, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.asset_names import INJECTED_STAMPS
from dhs_core.bank import open_bank
from dhs_core.diagnostics.leakage import split_leakage
from dhs_core.diagnostics.samples import column_audit_verdict, null_injection_verdict, shortcut_gate_verdict
from dhs_core.tables import parquet_source


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
    result = column_audit_verdict(run_folders(context, data_root), diagnostics.core())
    return AssetCheckResult(
        passed=result["passed"],
        metadata={
            "label_bearing": ", ".join(result["label_bearing"]) or "none",
            "columns": MetadataValue.json(result["columns"]),
            **{f"auc_{name}": value["auc"] for name, value in result["columns"].items()},
        },
    )


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
    with open_bank(bank.file(data_root.path)) as opened:
        result = null_injection_verdict(
            run_folders(context, data_root),
            survey_root.layout,
            opened,
            engine_config(context.instance, run_partitions(context)[0]),
            diagnostics.core(),
        )
    return AssetCheckResult(
        passed=result["passed"],
        metadata={
            "tasks": result["tasks"],
            "bit_identical": result["bit_identical"],
            "probe": MetadataValue.json(result["probe"]),
            "probe_consistent_with_chance": result["probe_consistent_with_chance"],
        },
    )


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
    gates = shortcut_gate_verdict(run_folders(context, data_root), diagnostics.core())
    return AssetCheckResult(
        passed=gates["passed"],
        severity=AssetCheckSeverity.WARN,
        metadata={
            "gated_auc": round(gates["gated_auc"], 4),
            "threshold": gates["threshold"],
            "preprocessing": gates["preprocessing"],
            "core_lr_raw": gates["core_lr"]["raw"]["auc"],
            "core_lr_residual": gates["core_lr"]["residual_radial_profile"]["auc"],
            "radial_raw": gates["radial_profile"]["raw"]["auc"],
            "radial_residual": gates["radial_profile"]["residual_radial_profile"]["auc"],
            "core_brightness_mean_ratio": round(gates["core_brightness"]["mean_ratio"], 4),
            "gates": MetadataValue.json(gates),
        },
    )


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
