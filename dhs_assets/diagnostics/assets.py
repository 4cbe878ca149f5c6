"""Diagnostics assets: per-partition stamp QA (``stamp_diagnostics``) and the cross-partition HTML ``shortcut_report``."""

import os
from dataclasses import asdict

import numpy as np
import pyarrow as pa
from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dhs_assets.diagnostics.samples import COMPLETE, engine_config, null_injection_tasks
from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_assets.manifest.assets import injection_manifest, manifest_partitions
from dhs_assets.metadata import latest_metadata, table_metadata
from dhs_assets.resources import DataRoot, SourceBank, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.bank import open_bank
from dhs_core.diagnostics.audit import column_audit
from dhs_core.diagnostics.gates import shortcut_gates
from dhs_core.diagnostics.leakage import split_leakage
from dhs_core.diagnostics.null_injection import null_injection
from dhs_core.diagnostics.report import render_report
from dhs_core.diagnostics.strata import failure_table, parameter_sample, stratum_table
from dhs_core.diagnostics.symmetry import SYMMETRY_COLUMNS, class_symmetry
from dhs_core.manifest.draws import DEFAULT_SNR_BINS
from dhs_core.stamps.qa import QA_COLUMNS, qa_png, read_qa_columns, stamp_qa, with_pixel_columns
from dhs_core.stamps.read import read_sample
from dhs_core.tables import (
    connect,
    materialized_partitions,
    parquet_source,
    partition_dir,
    read_table,
    write_file,
    write_table,
)

QA_FIGURE = "qa.png"
REPORT_FILE = "report.html"
REPORT_SAMPLE_PER_PARTITION = 200  # stamps per partition in the report's pooled sample (mosaics and probes)


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
        meta = read_qa_columns(partition_dir(data_root.path, "injected_stamps", str(key)))
        bins = snr_bins(context.instance, str(key))
        table, summary = stamp_qa(meta, bins)
        path = write_table(table, data_root.path, "stamp_diagnostics", str(key))
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


def partition_summaries(data_root: str) -> pa.Table:
    """One row per QA'd partition: stamps, ok, KS statistics by class, achieved arc S/N median."""
    rows = []
    for partition in materialized_partitions(data_root, "stamp_diagnostics"):
        qa = read_table(data_root, "stamp_diagnostics", partition).to_pylist()
        pick = {(r["section"], r["quantity"], r["class"], r["statistic"]): r["value"] for r in qa}
        rows.append(
            {
                "partition": partition,
                "stamps": int(sum(v for (s, _, _, st), v in pick.items() if s == "status")),
                "ok": int(pick.get(("status", "ok", "all", "stamps"), 0)),
                **{
                    f"ks_{q}": round(pick.get(("ks", q, "injection_vs_control", "statistic"), np.nan), 3)
                    for q in ("bad_pixel_frac", "maskbit_frac", "invvar_median_r")
                },
            }
        )
    return pa.Table.from_pylist(rows) if rows else pa.table({"partition": pa.array([], pa.string())})


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
) -> MaterializeResult:
    partitions = materialized_partitions(data_root.path, "injected_stamps")
    folders = [partition_dir(data_root.path, "injected_stamps", p) for p in partitions]
    per_partition = min(diagnostics.sample_per_partition, REPORT_SAMPLE_PER_PARTITION)
    columns = [
        *QA_COLUMNS,
        "row_id",
        "ra",
        "dec",
        "theta_e_arcsec",
        "psfsize_g",
        "psfsize_r",
        "psfsize_z",
        "psfdepth_mag5_r",
        "ebv",
        "image",
        "arc",
        "invvar",
        "maskbits",
    ]
    arrays, meta = read_sample(folders, per_partition, columns, diagnostics.seed, COMPLETE)
    meta = with_pixel_columns(meta, arrays)
    ok = meta["status"].to_numpy(zero_copy_only=False) == "ok"
    gates = shortcut_gates(
        arrays["image"][ok],
        meta["is_control"].to_numpy(zero_copy_only=False)[ok],
        meta["row_id"].to_numpy()[ok],
        diagnostics.gate(per_partition * len(folders)),
    )
    control = meta["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    with open_bank(bank.file(data_root.path)) as opened:
        null = null_injection(
            null_injection_tasks(
                folders, diagnostics.model_copy(update={"null_injection_tasks": max(1, 400 // len(folders))})
            ),
            arrays["image"][control],
            meta["row_id"].to_numpy()[control],
            survey_root.layout,
            opened,
            engine_config(context.instance, partitions[0]),
            diagnostics.folds,
            diagnostics.seed,
            diagnostics.sample_per_partition,
            diagnostics.permutations,
            diagnostics.alpha,
        )
    source = parquet_source(data_root.path, "injected_stamps", None)
    bins = snr_bins(context.instance, partitions[0])
    with connect() as con:
        edges = [b[0] for b in bins] + [bins[-1][1]]
        population = {
            "strata": stratum_table(con, source, edges),
            "failures": failure_table(con, source),
            "strata_theta_snr": stratum_table(con, source, edges, ("theta_e_bin_arcsec", "target_snr_bin")),
            "parameters": parameter_sample(con, source, diagnostics.seed),
        }
        symmetry = class_symmetry(
            con.sql(
                f"SELECT row_id, is_control, status, {', '.join(SYMMETRY_COLUMNS)} FROM {source}"
            ).to_arrow_table()
        )
    checks = {
        "column audit": column_audit(meta, arrays, seed=diagnostics.seed, alpha=diagnostics.alpha),
        "null injection": null,
        "split leakage": split_leakage(source),
        "class symmetry": symmetry,
    }
    config = {
        "manifest_config": latest_metadata(context.instance, injection_manifest.key, partitions[0]).get(
            "manifest_config"
        ),
        "engine_config": asdict(engine_config(context.instance, partitions[0])),
        "diagnostics": diagnostics.model_dump(),
        "partitions": partitions,
    }
    html = render_report(
        meta, arrays, gates, checks, partition_summaries(data_root.path), config, bins, population
    )
    table = gate_rows(gates)
    path = write_table(table, data_root.path, "shortcut_report")
    report = write_file(html.encode(), os.path.join(os.path.dirname(path), REPORT_FILE))
    context.log.info(f"shortcut report: {report}")
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "report": MetadataValue.path(report),
            "report_url": MetadataValue.url(f"file://{report}"),
            "gated_auc": round(gates["gated_auc"], 4),
            "gate_passed": gates["passed"],
            "preprocessing": gates["preprocessing"],
            **{
                name: bool(result["passed"])
                for name, result in (
                    ("column_audit_passed", checks["column audit"]),
                    ("null_injection_passed", null),
                    ("split_leakage_passed", checks["split leakage"]),
                )
            },
            "stamps_sampled": len(meta),
            "partitions": len(partitions),
        }
    )


def gate_rows(gates: dict) -> pa.Table:
    """The gate table: one row per (probe, preprocessing) with the AUC, its interval and the chance interval."""
    rows = [
        {"probe": probe, "preprocessing": prep, **values}
        for probe in ("core_lr", "core_statistics", "radial_profile")
        for prep, values in gates[probe].items()
    ]
    rows += [
        {"probe": f"whole_stamp_{name}", "preprocessing": "raw", **values}
        for name, values in gates["arc_suppression"].items()
    ]
    return pa.Table.from_pylist(rows)
