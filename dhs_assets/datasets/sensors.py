"""A sensor that keeps the dataset partitions in step with the spec files of the data root."""

from dagster import (
    AssetMaterialization,
    DagsterInstance,
    DataVersion,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from dhs_assets.datasets.assets import dataset_specs
from dhs_assets.datasets.partitions import dataset_partitions
from dhs_assets.metadata import recorded_data_version
from dhs_assets.resources import DataRoot
from dhs_core.datasets.spec import DatasetSpec, load_specs, specs_folder
from dhs_core.errors import ConfigError, InputFileError


def recorded_version(instance: DagsterInstance, name: str) -> str | None:
    """The data version (spec hash) last recorded for dataset ``name``; None if never recorded."""
    return recorded_data_version(instance, dataset_specs.key, name)


def spec_event(spec: DatasetSpec) -> AssetMaterialization:
    """The event that records ``spec`` (an external asset's materialization: Dagster did not write the file, it
    records that it changed): its hash as data version, the file and the resolved spec as metadata."""
    return AssetMaterialization(
        dataset_specs.key,
        partition=spec.name,
        tags={DATA_VERSION_TAG: DataVersion(spec.spec_hash).value},
        metadata={
            "spec_file": MetadataValue.path(spec.path),
            "spec_hash": spec.spec_hash,
            "spec": MetadataValue.json(spec.record()),
        },
    )


def spec_changes(instance: DagsterInstance, data_root: str) -> tuple[list[str], list[AssetMaterialization]]:
    """The datasets whose spec appeared since the last look (partitions to add) and an event for every spec that is
    new or whose hash changed (only those: every event counts as an update downstream). Raises the first bad spec's
    error (naming its file and key)."""
    folder = specs_folder(data_root)
    specs = load_specs(folder)
    known = set(instance.get_dynamic_partitions(dataset_partitions.name))
    new = [name for name in specs if name not in known]
    changed = [spec_event(s) for s in specs.values() if recorded_version(instance, s.name) != s.spec_hash]
    return new, changed


def register_specs(instance: DagsterInstance, data_root: str) -> list[str]:
    """What ``dataset_specs_sensor`` does on a tick, done at once in ``instance`` (``dhs demo``, tests): add the new
    datasets' partitions and record each new or edited spec; return the new datasets."""
    new, events = spec_changes(instance, str(data_root))
    instance.add_dynamic_partitions(dataset_partitions.name, new)
    for event in events:
        instance.report_runless_asset_event(event)
    return new


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Reads the dataset specs in <data root>/datasets/: adds a dataset partition for each new spec and records a "
        "materialization of the datasets asset, with the spec's hash as data version, for each new or edited one (an edit makes "
        "that dataset's partitions stale). A bad spec stops it with the error naming the file and key. Launches no run: "
        "the scheduled_backfill automation, or you, build the partitions."
    ),
)
def dataset_specs_sensor(context: SensorEvaluationContext, data_root: DataRoot) -> SensorResult:
    try:
        new, events = spec_changes(context.instance, data_root.path)
    except FileNotFoundError:
        return SensorResult(skip_reason=f"no dataset specs folder {specs_folder(data_root.path)} yet")
    except (ConfigError, InputFileError) as exc:
        return SensorResult(skip_reason=f"a dataset spec is not valid, nothing registered: {exc}")
    for event in events:
        context.log.info(f"dataset {event.partition}: spec hash {event.tags[DATA_VERSION_TAG]}")
    return SensorResult(
        dynamic_partitions_requests=[dataset_partitions.build_add_request(new)] if new else [],
        asset_events=events,
    )
