"""Diagnostics assets: per-partition stamp QA (``stamp_diagnostics``) and the cross-partition HTML ``shortcut_report``."""

import json
import os

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dhs_assets.datasets.partitions import dataset_partitions, dataset_split_key, dataset_split_partitions
from dhs_assets.diagnostics.samples import stamps_spec
from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, DuckDB, SourceBank, SurveyRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.asset_names import INJECTED_STAMPS, SHORTCUT_REPORT, STAMP_DIAGNOSTICS
from dhs_core.bank import open_bank
from dhs_core.catalog.splits import SPLITS
from dhs_core.datasets.record import parquet_metadata
from dhs_core.diagnostics.training_report import VERDICTS_KEY, gate_rows, training_report
from dhs_core.errors import InputFileError
from dhs_core.stamps.qa import qa_png, read_qa_columns, stamp_qa
from dhs_core.tables import (
    materialized_partitions,
    partition_dir,
    write_file,
    write_table,
)

QA_FIGURE = "qa.png"
REPORT_FILE = "report.html"


@asset(
    group_name="diagnostics",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    partitions_def=dataset_split_partitions,
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
        spec = stamps_spec(data_root.path, [str(key)])
        table, summary = stamp_qa(meta, spec.manifest.snr_bins)
        path = write_table(
            table, data_root.path, STAMP_DIAGNOSTICS, str(key), metadata=parquet_metadata(spec)
        )
        figure = write_file(
            qa_png(meta, spec.manifest.snr_bins, str(key)), os.path.join(os.path.dirname(path), QA_FIGURE)
        )
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
    partitions_def=dataset_partitions,
    deps=[injected_stamps, stamp_diagnostics],
    description=(
        "The training-set report of one dataset, over the stamps of its splits: one self-contained HTML file (PNG figures embedded) with the "
        "verdicts (shortcut gate, column audit, null injection, split leakage, class symmetry) as a table, each with the "
        "galaxies it rests on and its interval; galleries of stamps by theta_E and by arc S/N with the arc model beside "
        "each in the same Lupton stretch and a viewer link; the share of invisible positives; per-stratum tables, injected "
        "parameter distributions and failures by reason and class over every stamp; QA, per-partition rows and the "
        "dataset spec the stamps record (all splits must record the same). The gate numbers as a table."
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
    dataset = context.partition_key
    done = set(materialized_partitions(data_root.path, INJECTED_STAMPS))
    partitions = [dataset_split_key(dataset, s) for s in SPLITS if dataset_split_key(dataset, s) in done]
    if not partitions:
        raise InputFileError(
            partition_dir(data_root.path, INJECTED_STAMPS, dataset_split_key(dataset, "*")),
            f"no stamps of dataset {dataset!r}: materialize injected_stamps for its splits first",
        )
    spec = stamps_spec(data_root.path, partitions)
    with open_bank(spec.bank or bank.file(data_root.path)) as opened:
        report = training_report(
            data_root.path,
            partitions,
            survey_root.layout,
            opened,
            spec,
            diagnostics.core(),
            duckdb.settings(),
        )
    verdicts = report.verdicts()
    table = gate_rows(report.gates)
    path = write_table(
        table,
        data_root.path,
        SHORTCUT_REPORT,
        dataset,
        metadata={**parquet_metadata(spec), VERDICTS_KEY: json.dumps(verdicts)},
    )
    html = write_file(report.html.encode(), os.path.join(os.path.dirname(path), REPORT_FILE))
    context.log.info(f"shortcut report: {html}")
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "report": MetadataValue.path(html),
            "report_url": MetadataValue.url(f"file://{html}"),
            "gated_auc": verdicts["shortcut_gate"]["gated_auc"],
            "gate_passed": verdicts["shortcut_gate"]["passed"],
            "preprocessing": verdicts["shortcut_gate"]["preprocessing"],
            **{f"{name}_passed": v["passed"] for name, v in verdicts.items() if name != "shortcut_gate"},
            "stamps_sampled": report.stamps_sampled,
            "partitions": MetadataValue.json(partitions),
            "spec_hash": spec.spec_hash,
        }
    )
