"""Partitions of the catalogue phase: sweep files (dynamic), selection sets and splits (static)."""

import os

from dagster import DynamicPartitionsDefinition, PartitionKeyRange, StaticPartitionsDefinition

from dhs_core.catalog.selection import selection_partition_keys
from dhs_core.catalog.splits import SPLITS
from dhs_core.errors import InputFileError
from dhs_core.survey.layout import SurveyLayout
from dhs_core.tables import materialized_partitions

sweep_partitions = DynamicPartitionsDefinition(name="sweep_files")
selection_set_partitions = StaticPartitionsDefinition(selection_partition_keys())
split_partitions = StaticPartitionsDefinition(list(SPLITS))


def sweep_partition_key(path: str) -> str:
    """Partition key of a sweep file: its name without ``.fits``/``.fits.gz``."""
    name = os.path.basename(path)
    return name.removesuffix(".gz").removesuffix(".fits")


def discover_sweep_files(layout: SurveyLayout) -> dict[str, str]:
    """Sweep files under a survey root, by partition key (sorted)."""
    return {sweep_partition_key(p): p for p in layout.sweep_paths()}


def require_every_sweep(layout: SurveyLayout, data_root: str) -> list[str]:
    """Partition keys of ``sweep_lrgs``; an error naming each sweep file of the survey not materialized.

    Never a silent skip: the original lost whole sweeps when a cached copy was missing.
    """
    done = set(materialized_partitions(data_root, "sweep_lrgs"))
    missing = [path for key, path in discover_sweep_files(layout).items() if key not in done]
    if missing:
        raise InputFileError(", ".join(missing), "sweep file(s) without a materialized sweep_lrgs partition; "
                             "materialize them (or remove the files) first")
    return sorted(done)


# the run tags of a single-run backfill over a range of partitions (Dagster's public tag names)
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def partitions_of_run(context, partitions_def) -> list[str]:
    """The partitions of a static ``partitions_def`` a check's run materialized: its one partition, or a backfill's range."""
    tags = context.run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        return partitions_def.get_partition_keys_in_range(PartitionKeyRange(start, end))
    raise ValueError("a partitioned asset's check runs with a materialization of one partition or a range of them")
