"""Diagnostics assets: per-partition stamp QA (``stamp_diagnostics``) and the cross-partition HTML ``shortcut_report``."""

import os

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dhs_assets.diagnostics.samples import engine_config
from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_assets.manifest.assets import injection_manifest, manifest_partitions
from dhs_assets.metadata import latest_metadata, table_metadata
from dhs_assets.resources import DataRoot, DuckDB, SourceBank, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.asset_names import INJECTED_STAMPS, SHORTCUT_REPORT, STAMP_DIAGNOSTICS
from dhs_core.bank import open_bank
from dhs_core.diagnostics.training_report import gate_rows, training_report
from dhs_core.manifest.draws import DEFAULT_SNR_BINS
from dhs_core.stamps.qa import qa_png, read_qa_columns, stamp_qa
from dhs_core.tables import (
    materialized_partitions,
    partition_dir,
    write_file,
    write_table,
)

QA_FIGURE = "qa.png"
REPORT_FILE = "report.html"


def snr_bins(instance, partition: str) -> tuple:
    """The S/N target bins the partition's manifest was built with (its metadata), else the default table."""
    recorded = latest_metadata(instance, injection_manifest.key, partition).get("manifest_config") or {}
    return tuple(tuple(b) for b in recorded.get("snr_bins", DEFAULT_SNR_BINS))


@asset(
    group_name="diagnostics",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    partitions_def=manifest_partitions,
    deps=[injected_stamps],
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "Per-partition stamp QA (tidy: section, quantity, class, statistic, value): bad-pixel, maskbit and WISE-mask "
        "fractions and invvar by class (injection / control) with KS statistics, bandset consistency, achieved arc S/N "
        "per target bin against the bin weights, PSF fallbacks, status counts and reasons; a PNG of the distributions "
        "(qa.png) next to the table."
    ),
)
def stamp_diagnostics(context: AssetExecutionContext, data_root: DataRoot) -> MaterializeResult:
    summaries, path, table = {}, None, None
    for key in context.partition_keys:
        meta = read_qa_columns(partition_dir(data_root.path, INJECTED_STAMPS, str(key)))
        bins = snr_bins(context.instance, str(key))
        table, summary = stamp_qa(meta, bins)
        path = write_table(table, data_root.path, STAMP_DIAGNOSTICS, str(key))
        figure = write_file(qa_png(meta, bins, str(key)), os.path.join(os.path.dirname(path), QA_FIGURE))
        summaries[str(key)] = {**summary, "figure": figure}
        context.log.info(f"{key}: {summary['status']}, KS(bad_pixel_frac) {summary.get('ks_bad_pixel_frac')}")
    last = summaries[str(key)]
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "figure": MetadataValue.path(last["figure"]),
            "ks_bad_pixel_frac": last.get("ks_bad_pixel_frac"),
            "ks_maskbit_frac": last.get("ks_maskbit_frac"),
            "ks_invvar_median_r": last.get("ks_invvar_median_r"),
            "arc_snr_bins": MetadataValue.json(last["arc_snr_bins"]),
            "status": MetadataValue.json(last["status"]),
            "partitions": MetadataValue.json(summaries),
        }
    )


@asset(
    group_name="diagnostics",
    kinds={"html"},
    owners=["team:dhs"],
    deps=[injected_stamps, stamp_diagnostics],
    description=(
        "The training-set report over every stamp partition: one self-contained HTML file (PNG figures embedded) with the "
        "verdicts (shortcut gate, column audit, null injection, split leakage, class symmetry) as a table, each with the "
        "galaxies it rests on and its interval; galleries of stamps by theta_E and by arc S/N with the arc model beside "
        "each in the same Lupton stretch and a viewer link; the share of invisible positives; per-stratum tables, injected "
        "parameter distributions and failures by reason and class over every stamp; QA, per-partition rows and the run's "
        "configuration. The gate numbers as a table."
    ),
)
def shortcut_report(
    context: AssetExecutionContext,
    data_root: DataRoot,
    survey_root: SurveyRoot,
    diagnostics: DiagnosticsSettings,
    bank: SourceBank,
    duckdb: DuckDB,
) -> MaterializeResult:
    partitions = materialized_partitions(data_root.path, INJECTED_STAMPS)
    with open_bank(bank.file(data_root.path)) as opened:
        report = training_report(
            data_root.path,
            partitions,
            survey_root.layout,
            opened,
            engine_config(context.instance, partitions[0]),
            diagnostics.core(),
            latest_metadata(context.instance, injection_manifest.key, partitions[0]).get("manifest_config"),
            snr_bins(context.instance, partitions[0]),
            duckdb.settings(),
        )
    gates, checks = report.gates, report.checks
    table = gate_rows(gates)
    path = write_table(table, data_root.path, SHORTCUT_REPORT)
    html = write_file(report.html.encode(), os.path.join(os.path.dirname(path), REPORT_FILE))
    context.log.info(f"shortcut report: {html}")
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "report": MetadataValue.path(html),
            "report_url": MetadataValue.url(f"file://{html}"),
            "gated_auc": round(gates["gated_auc"], 4),
            "gate_passed": gates["passed"],
            "preprocessing": gates["preprocessing"],
            **{
                name: bool(result["passed"])
                for name, result in (
                    ("column_audit_passed", checks["column audit"]),
                    ("null_injection_passed", checks["null injection"]),
                    ("split_leakage_passed", checks["split leakage"]),
                )
            },
            "stamps_sampled": report.stamps_sampled,
            "partitions": len(partitions),
        }
    )
