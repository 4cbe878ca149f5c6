"""Partitions of what a model's scores drive: datasets crossed with models (dynamic: one per folder under
``<data root>/scores/<dataset>/``)."""

from dagster import DynamicPartitionsDefinition, MultiPartitionsDefinition

from dhs_assets.datasets.partitions import dataset_partitions

model_partitions = DynamicPartitionsDefinition(name="models")
# Dagster orders dimensions by name, so a key reads <dataset>|<model>, e.g. grid|baseline
dataset_model_partitions = MultiPartitionsDefinition(
    {"dataset": dataset_partitions, "model": model_partitions}
)


def dataset_model(partition_key: str) -> tuple[str, str]:
    """``(dataset, model)`` of a partition key ``<dataset>|<model>``."""
    keys = dataset_model_partitions.get_partition_key_from_str(str(partition_key)).keys_by_dimension
    return keys["dataset"], keys["model"]
