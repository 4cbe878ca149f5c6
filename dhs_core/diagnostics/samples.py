"""The stamps the diagnostics look at, seeded samples of stamp partitions (``folders``) per ``DiagnosticsConfig``, and
the verdicts of the checks on them."""

from __future__ import annotations

import numpy as np

from dhs_core.diagnostics.audit import SIGNAL_COLUMNS, TRAINING_EXPORT, column_audit
from dhs_core.diagnostics.gates import shortcut_gates
from dhs_core.diagnostics.null_injection import null_injection
from dhs_core.diagnostics.settings import DiagnosticsConfig
from dhs_core.inject.columns import ENGINE_COLUMNS
from dhs_core.inject.engine import EngineConfig
from dhs_core.stamps.read import read_sample, stamp_files
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import parquet_file

COMPLETE = "cutout_ok"  # probes compare stamps cut whole from the coadds


def audit_sample(folders: list[str], settings: DiagnosticsConfig):
    columns = ["task_id", "row_id", "is_control", *[c for c in TRAINING_EXPORT if c not in SIGNAL_COLUMNS]]
    return read_sample(folders, settings.sample_per_partition, columns, settings.seed, COMPLETE)


def gate_sample(folders: list[str], settings: DiagnosticsConfig):
    return read_sample(
        folders,
        settings.sample_per_partition,
        ["task_id", "row_id", "is_control", "image"],
        settings.seed,
        "status = 'ok'",
    )


def control_sample(folders: list[str], settings: DiagnosticsConfig):
    return read_sample(
        folders,
        settings.sample_per_partition,
        ["task_id", "row_id", "image"],
        settings.seed,
        f"is_control AND {COMPLETE}",
    )


def null_injection_tasks(folders: list[str], settings: DiagnosticsConfig):
    """Manifest columns of a sample of complete injection tasks (the engine's columns left out)."""
    names = parquet_file(stamp_files(folders[0])[0]).schema_arrow.names
    columns = [c for c in names if c == "task_id" or c not in ENGINE_COLUMNS]
    return read_sample(
        folders, settings.null_injection_tasks, columns, settings.seed, f"NOT is_control AND {COMPLETE}"
    )[1].drop_columns(["partition"])


def ok_class_counts(folders: list[str]) -> dict[str, int]:
    """Ok stamps per class (``injection``, ``control``) in ``folders``: the diagnostics compare the two classes, so a
    dataset with one of them only (an evaluation grid without controls) has nothing for them to judge."""
    counts = {"injection": 0, "control": 0}
    for folder in folders:
        for path in stamp_files(folder):
            table = parquet_file(path).read(columns=["is_control", "status"])
            ok = table["status"].to_numpy(zero_copy_only=False) == "ok"
            control = table["is_control"].to_numpy(zero_copy_only=False).astype(bool)
            counts["control"] += int((ok & control).sum())
            counts["injection"] += int((ok & ~control).sum())
    return counts


def column_audit_verdict(folders: list[str], settings: DiagnosticsConfig) -> dict:
    """:func:`dhs_core.diagnostics.audit.column_audit` on a seeded sample of complete stamps of ``folders``."""
    arrays, meta = audit_sample(folders, settings)
    return column_audit(meta, arrays, seed=settings.seed, alpha=settings.alpha)


def shortcut_gate_verdict(folders: list[str], settings: DiagnosticsConfig) -> dict:
    """:func:`dhs_core.diagnostics.gates.shortcut_gates` on a seeded sample of ok stamps of ``folders``."""
    arrays, meta = gate_sample(folders, settings)
    return shortcut_gates(
        arrays["image"],
        meta["is_control"].to_numpy(zero_copy_only=False),
        meta["row_id"].to_numpy(),
        settings.gate(settings.sample_per_partition),
    )


def null_injection_verdict(
    folders: list[str],
    layout: SurveyLayout,
    bank,
    engine: EngineConfig,
    settings: DiagnosticsConfig,
    controls: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """:func:`dhs_core.diagnostics.null_injection.null_injection` of a seeded sample of complete injection tasks of
    ``folders`` against ``controls`` (images, row ids; default: a seeded sample of complete controls)."""
    if controls is None:
        arrays, meta = control_sample(folders, settings)
        controls = arrays["image"], meta["row_id"].to_numpy()
    return null_injection(
        null_injection_tasks(folders, settings),
        *controls,
        layout,
        bank,
        engine,
        settings.folds,
        settings.seed,
        settings.sample_per_partition,
        settings.permutations,
        settings.alpha,
    )
