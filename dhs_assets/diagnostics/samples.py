"""The stamps the diagnostics look at: seeded samples of the partitions a run materialized (or of all of them)."""

import pyarrow.parquet as pq
from dagster import AssetCheckExecutionContext

from dhs_assets.diagnostics.settings import DiagnosticsSettings
from dhs_assets.manifest.checks import run_partitions
from dhs_assets.metadata import latest_metadata
from dhs_assets.resources import DataRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.diagnostics.audit import SIGNAL_COLUMNS, TRAINING_EXPORT
from dhs_core.inject.engine import EngineConfig, output_columns
from dhs_core.stamps.read import read_sample, stamp_files
from dhs_core.tables import partition_dir

COMPLETE = "cutout_ok"  # probes compare stamps cut whole from the coadds


def run_folders(context: AssetCheckExecutionContext, data_root: DataRoot) -> list[str]:
    """Folders of the stamp partitions materialized by the check's run."""
    return [partition_dir(data_root.path, "injected_stamps", p) for p in run_partitions(context)]


def audit_sample(folders: list[str], settings: DiagnosticsSettings):
    columns = ["task_id", "row_id", "is_control", *[c for c in TRAINING_EXPORT if c not in SIGNAL_COLUMNS]]
    return read_sample(folders, settings.sample_per_partition, columns, settings.seed, COMPLETE)


def gate_sample(folders: list[str], settings: DiagnosticsSettings):
    return read_sample(
        folders,
        settings.sample_per_partition,
        ["task_id", "row_id", "is_control", "image"],
        settings.seed,
        "status = 'ok'",
    )


def control_sample(folders: list[str], settings: DiagnosticsSettings):
    return read_sample(
        folders,
        settings.sample_per_partition,
        ["task_id", "row_id", "image"],
        settings.seed,
        f"is_control AND {COMPLETE}",
    )


def null_injection_tasks(folders: list[str], settings: DiagnosticsSettings):
    """Manifest columns of a sample of complete injection tasks (the engine's columns left out)."""
    names = pq.read_schema(stamp_files(folders[0])[0]).names
    columns = [c for c in names if c == "task_id" or c not in output_columns()]
    return read_sample(
        folders, settings.null_injection_tasks, columns, settings.seed, f"NOT is_control AND {COMPLETE}"
    )[1].drop_columns(["partition"])


def engine_config(instance, partition: str) -> EngineConfig:
    """The engine settings a stamp partition was made with (its latest materialization's metadata)."""
    recorded = latest_metadata(instance, injected_stamps.key, partition).get("engine_config")
    return EngineConfig(**recorded) if recorded else EngineConfig()
