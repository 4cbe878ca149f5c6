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
from dhs_core.datasets.spec import DatasetSpec
from dhs_core.diagnostics.audit import column_audit
from dhs_core.diagnostics.gates import shortcut_gates
from dhs_core.diagnostics.leakage import split_leakage
from dhs_core.diagnostics.report import render_report
from dhs_core.diagnostics.samples import COMPLETE, null_injection_verdict
from dhs_core.diagnostics.settings import DiagnosticsConfig
from dhs_core.diagnostics.strata import failure_table, parameter_sample, stratum_table
from dhs_core.diagnostics.symmetry import SYMMETRY_COLUMNS, class_symmetry
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


VERDICTS_KEY = "dhs.verdicts"  # the report table's Parquet metadata key of TrainingReport.verdicts()


@dataclass(frozen=True)
class TrainingReport:
    """The report's HTML text, the shortcut gates and the other verdicts by name, and the stamps it sampled."""

    html: str
    gates: dict
    checks: dict
    stamps_sampled: int

    def verdicts(self) -> dict:
        """Each verdict in a line: the shortcut gate (passed, the gated AUC, its threshold and preprocessing) and
        whether the column audit, null injection, split leakage and class symmetry passed."""
        return {
            "shortcut_gate": {
                "passed": bool(self.gates["passed"]),
                "gated_auc": round(float(self.gates["gated_auc"]), 4),
                "threshold": float(self.gates["threshold"]),
                "preprocessing": self.gates["preprocessing"],
            },
            **{
                name.replace(" ", "_"): {"passed": bool(result["passed"])}
                for name, result in self.checks.items()
            },
        }


def training_report(
    data_root: str,
    partitions: list[str],
    layout: SurveyLayout,
    bank,
    spec: DatasetSpec,
    settings: DiagnosticsConfig,
    duckdb: DuckDBSettings = DuckDBSettings(),
) -> TrainingReport:
    """The report over the stamp ``partitions`` (one dataset's splits) of ``data_root``, made from ``spec`` (its
    engine, which the null injection re-runs, and its S/N target bins; shown whole); ``duckdb``: the settings of
    the queries over every stamp of those partitions."""
    engine, snr_bins = spec.engine, spec.manifest.snr_bins
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
    source = parquet_source(data_root, INJECTED_STAMPS, partitions)
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
        "dataset": spec.name,
        "spec_hash": spec.spec_hash,
        "selection_sets": list(spec.selection_sets),
        "manifest_config": spec.manifest.record(),
        "engine_config": asdict(engine),
        "diagnostics": asdict(settings),
        "partitions": partitions,
    }
    html = render_report(
        meta, arrays, gates, checks, partition_summaries(data_root, partitions), config, snr_bins, population
    )
    return TrainingReport(html, gates, checks, len(meta))


def partition_summaries(data_root: str, partitions: list[str]) -> pa.Table:
    """One row per QA'd partition among ``partitions``: stamps, ok, KS statistics by class, achieved arc S/N median."""
    rows = []
    done = set(materialized_partitions(data_root, STAMP_DIAGNOSTICS))
    for partition in (p for p in partitions if p in done):
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
