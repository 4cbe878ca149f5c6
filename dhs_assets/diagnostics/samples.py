"""What the diagnostics read from Dagster: the stamp partitions a run materialized and the engine settings they
were made with."""

from dagster import AssetCheckExecutionContext

from dhs_assets.manifest.checks import run_partitions
from dhs_assets.metadata import latest_metadata
from dhs_assets.resources import DataRoot
from dhs_assets.stamps.assets import injected_stamps
from dhs_core.asset_names import INJECTED_STAMPS
from dhs_core.inject.engine import EngineConfig
from dhs_core.tables import partition_dir


def run_folders(context: AssetCheckExecutionContext, data_root: DataRoot) -> list[str]:
    """Folders of the stamp partitions materialized by the check's run."""
    return [partition_dir(data_root.path, INJECTED_STAMPS, p) for p in run_partitions(context)]


def engine_config(instance, partition: str) -> EngineConfig:
    """The engine settings a stamp partition was made with (its latest materialization's metadata)."""
    recorded = latest_metadata(instance, injected_stamps.key, partition).get("engine_config")
    return EngineConfig(**recorded) if recorded else EngineConfig()
