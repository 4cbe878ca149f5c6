"""Partitions of everything a dataset spec drives: datasets (dynamic, one per spec) crossed with splits."""

from dagster import DynamicPartitionsDefinition, MultiPartitionsDefinition

from dhs_assets.catalog.partitions import split_partitions

dataset_partitions = DynamicPartitionsDefinition(name="datasets")
# Dagster orders dimensions by name, so a key reads <dataset>|<split>, e.g. train|val
dataset_split_partitions = MultiPartitionsDefinition(
    {"dataset": dataset_partitions, "split": split_partitions}
)


def dataset_split(partition_key: str) -> tuple[str, str]:
    """``(dataset, split)`` of a partition key ``<dataset>|<split>``."""
    keys = dataset_split_partitions.get_partition_key_from_str(str(partition_key)).keys_by_dimension
    return keys["dataset"], keys["split"]


def dataset_split_key(dataset: str, split: str) -> str:
    """The partition key of a dataset's split."""
    return f"{dataset}|{split}"
