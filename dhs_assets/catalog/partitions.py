"""Partitions of the catalogue phase: sweep files (dynamic), selection sets and splits (static)."""

import os

from dagster import DynamicPartitionsDefinition, StaticPartitionsDefinition

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
