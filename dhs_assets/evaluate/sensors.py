"""A sensor that picks up the scores models drop into ``<data root>/scores/<dataset>/<model>/``: it adds the model's
partition, records the folder's version and launches that partition of the selection function."""

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DataVersion,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from dhs_assets.datasets.partitions import dataset_partitions
from dhs_assets.evaluate.partitions import model_partitions
from dhs_assets.metadata import recorded_data_version
from dhs_assets.resources import DataRoot
from dhs_core.asset_names import MODEL_SCORES, SELECTION_FUNCTION
from dhs_core.evaluate.scores import score_files, scored_models, scores_dir, scores_version

SCORES_KEY = AssetKey(MODEL_SCORES)


def score_changes(
    instance: DagsterInstance, data_root: str
) -> tuple[list[str], list[AssetMaterialization], list[str]]:
    """``(new models, events, skipped)``: the models whose folder appeared since the last look (partitions to add), an
    event for every (dataset, model) folder that is new or whose files changed, and the folders of datasets no spec
    registered (left out, named)."""
    datasets = set(instance.get_dynamic_partitions(dataset_partitions.name))
    known = set(instance.get_dynamic_partitions(model_partitions.name))
    new, events, skipped = [], [], []
    for dataset, model in scored_models(data_root):
        folder = scores_dir(data_root, dataset, model)
        if dataset not in datasets:
            skipped.append(folder)
            continue
        if model not in known and model not in new:
            new.append(model)
        partition, version = f"{dataset}|{model}", scores_version(folder)
        if recorded_data_version(instance, SCORES_KEY, partition) != version:
            events.append(
                AssetMaterialization(
                    SCORES_KEY,
                    partition=partition,
                    tags={DATA_VERSION_TAG: DataVersion(version).value},
                    metadata={
                        "folder": MetadataValue.path(folder),
                        "files": MetadataValue.json([f.rsplit("/", 1)[-1] for f in score_files(folder)]),
                    },
                )
            )
    return new, events, skipped


def register_scores(instance: DagsterInstance, data_root: str) -> list[str]:
    """What ``model_scores_sensor`` does on a tick, done at once (``dhs demo``, tests), without launching runs: add
    the new models' partitions and record each new or changed scores folder; return the partitions recorded."""
    new, events, _ = score_changes(instance, str(data_root))
    instance.add_dynamic_partitions(model_partitions.name, new)
    for event in events:
        instance.report_runless_asset_event(event)
    return [event.partition for event in events]


@sensor(
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Reads <data root>/scores/<dataset>/<model>/: adds a model partition for each new model folder, records a "
        "materialization of the scores asset (a hash of the files as data version) for each new or changed folder, "
        "and launches that <dataset>|<model> partition of selection_function. Folders of datasets no spec registered "
        "are named in the tick's log and left until the dataset exists."
    ),
)
def model_scores_sensor(context: SensorEvaluationContext, data_root: DataRoot) -> SensorResult:
    new, events, skipped = score_changes(context.instance, data_root.path)
    for folder in skipped:
        context.log.warning(f"{folder}: no dataset of that name is registered; its scores wait for one")
    runs = [
        RunRequest(
            run_key=f"{event.partition}:{event.tags[DATA_VERSION_TAG]}",
            partition_key=event.partition,
            asset_selection=[AssetKey(SELECTION_FUNCTION)],
        )
        for event in events
    ]
    return SensorResult(
        dynamic_partitions_requests=[model_partitions.build_add_request(new)] if new else [],
        asset_events=events,
        run_requests=runs,
    )
