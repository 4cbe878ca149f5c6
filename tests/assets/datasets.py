"""Dataset specs for asset tests: write one into a data root, register the data root's specs as the sensor does."""

from pathlib import Path

from dagster import DagsterInstance

from dhs_assets.datasets.partitions import dataset_partitions
from dhs_assets.datasets.sensors import spec_changes
from dhs_core.datasets.spec import specs_folder


def write_spec(data_root, name: str, body: str) -> Path:
    """Write ``<data_root>/datasets/<name>.yaml`` with ``name: <name>`` and the YAML ``body``."""
    folder = Path(specs_folder(str(data_root)))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{body}\n")
    return path


def register_datasets(instance: DagsterInstance, data_root) -> list[str]:
    """What ``dataset_specs_sensor`` does on a tick: add the new datasets' partitions and record each new or edited
    spec; return the new datasets."""
    new, events = spec_changes(instance, str(data_root))
    instance.add_dynamic_partitions(dataset_partitions.name, new)
    for event in events:
        instance.report_runless_asset_event(event)
    return new
