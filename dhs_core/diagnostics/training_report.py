"""The training-set report over every stamp partition: its sample, its verdicts and its HTML (``report.render_report``).

The verdicts are the checks' own (``samples``), run on the report's pooled sample: one seeded sample of
``REPORT_SAMPLE_PER_PARTITION`` complete stamps per partition feeds the mosaics, the shortcut gate, the column audit and
the null injection's controls; the population tables (strata, failures, parameters) and the class symmetry read
every stamp through DuckDB.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from dhs_core.asset_names import INJECTED_STAMPS, STAMP_DIAGNOSTICS
from dhs_core.diagnostics.audit import column_audit
from dhs_core.diagnostics.gates import shortcut_gates
from dhs_core.diagnostics.leakage import split_leakage
from dhs_core.diagnostics.report import render_report
from dhs_core.diagnostics.samples import COMPLETE, null_injection_verdict
from dhs_core.diagnostics.settings import DiagnosticsConfig
from dhs_core.diagnostics.strata import failure_table, parameter_sample, stratum_table
from dhs_core.diagnostics.symmetry import SYMMETRY_COLUMNS, class_symmetry
from dhs_core.inject.engine import EngineConfig
from dhs_core.stamps.qa import QA_COLUMNS, with_pixel_columns
from dhs_core.stamps.read import read_sample
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import (
    DuckDBSettings,
    connect,
    materialized_partitions,
    parquet_source,
    partition_dir,
    read_table,
)

REPORT_SAMPLE_PER_PARTITION = 200  # stamps per partition in the report's pooled sample (mosaics and probes)
NULL_INJECTION_TASKS = 400  # injection tasks re-run with zero flux, over every partition
REPORT_COLUMNS = (
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
)


@dataclass(frozen=True)
class TrainingReport:
    """The report's HTML text, the shortcut gates and the other verdicts by name, and the stamps it sampled."""

    html: str
    gates: dict
    checks: dict
    stamps_sampled: int


def training_report(
    data_root: str,
    partitions: list[str],
    layout: SurveyLayout,
    bank,
    engine: EngineConfig,
    settings: DiagnosticsConfig,
    manifest_config: dict | None,
    snr_bins,
    duckdb: DuckDBSettings = DuckDBSettings(),
) -> TrainingReport:
    """The report over the stamp ``partitions`` of ``data_root``, made with ``engine`` (the null injection re-runs it)
    from manifests of ``manifest_config`` (shown as is) whose S/N targets were drawn in ``snr_bins``; ``duckdb``: the
    settings of the queries over every stamp."""
    folders = [partition_dir(data_root, INJECTED_STAMPS, p) for p in partitions]
    per_partition = min(settings.sample_per_partition, REPORT_SAMPLE_PER_PARTITION)
    arrays, meta = read_sample(folders, per_partition, list(REPORT_COLUMNS), settings.seed, COMPLETE)
    meta = with_pixel_columns(meta, arrays)
    ok = meta["status"].to_numpy(zero_copy_only=False) == "ok"
    gates = shortcut_gates(
        arrays["image"][ok],
        meta["is_control"].to_numpy(zero_copy_only=False)[ok],
        meta["row_id"].to_numpy()[ok],
        settings.gate(per_partition * len(folders)),
    )
    control = meta["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    tasks_per_partition = max(1, NULL_INJECTION_TASKS // len(folders))
    null = null_injection_verdict(
        folders,
        layout,
        bank,
        engine,
        dataclasses.replace(settings, null_injection_tasks=tasks_per_partition),
        controls=(arrays["image"][control], meta["row_id"].to_numpy()[control]),
    )
    source = parquet_source(data_root, INJECTED_STAMPS, None)
    with connect(duckdb) as con:
        edges = [b[0] for b in snr_bins] + [snr_bins[-1][1]]
        population = {
            "strata": stratum_table(con, source, edges),
            "failures": failure_table(con, source),
            "strata_theta_snr": stratum_table(con, source, edges, ("theta_e_bin_arcsec", "target_snr_bin")),
            "parameters": parameter_sample(con, source, settings.seed),
        }
        symmetry = class_symmetry(
            con.sql(
                f"SELECT row_id, is_control, status, {', '.join(SYMMETRY_COLUMNS)} FROM {source}"
            ).to_arrow_table()
        )
    checks = {
        "column audit": column_audit(meta, arrays, seed=settings.seed, alpha=settings.alpha),
        "null injection": null,
        "split leakage": split_leakage(source),
        "class symmetry": symmetry,
    }
    config = {
        "manifest_config": manifest_config,
        "engine_config": asdict(engine),
        "diagnostics": asdict(settings),
        "partitions": partitions,
    }
    html = render_report(
        meta, arrays, gates, checks, partition_summaries(data_root), config, snr_bins, population
    )
    return TrainingReport(html, gates, checks, len(meta))


def partition_summaries(data_root: str) -> pa.Table:
    """One row per QA'd partition: stamps, ok, KS statistics by class, achieved arc S/N median."""
    rows = []
    for partition in materialized_partitions(data_root, STAMP_DIAGNOSTICS):
        qa = read_table(data_root, STAMP_DIAGNOSTICS, partition).to_pylist()
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
