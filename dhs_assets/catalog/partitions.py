"""Partitions of the catalogue phase: sweep files (dynamic), selection sets and splits (static)."""

import os

from dagster import DynamicPartitionsDefinition, StaticPartitionsDefinition

from dhs_core.asset_names import SWEEP_LRGS
from dhs_core.catalog.selection import selection_partition_keys
from dhs_core.catalog.splits import SPLITS
from dhs_core.errors import InputFileError
from dhs_core.survey.layout import SurveyLayout
from dhs_core.survey.sweeps import parse_sweep_filename
from dhs_core.tables import materialized_partitions, partition_files, read_parquet

sweep_partitions = DynamicPartitionsDefinition(name="sweep_files")
selection_set_partitions = StaticPartitionsDefinition(selection_partition_keys())
split_partitions = StaticPartitionsDefinition(list(SPLITS))


def sweep_partition_key(path: str) -> str:
    """Partition key of a sweep file: its name without ``.fits``/``.fits.gz``."""
    name = os.path.basename(path)
    return name.removesuffix(".gz").removesuffix(".fits")


def discover_sweep_files(layout: SurveyLayout) -> dict[str, str]:
    """Sweep files under a survey root, by partition key (sorted). A file whose name breaks DR10's rule
    (``sweep-<RA><p|m><DEC>-<RA><p|m><DEC>.fits[.gz]``, e.g. a stray ``... (1).fits``) or one tile twice
    (``.fits`` and ``.fits.gz``) is an error naming the files: either would add a partition that counts a
    tile's galaxies twice."""
    files, bad = {}, []
    for path in layout.sweep_paths():
        try:
            parse_sweep_filename(path)
        except InputFileError:
            bad.append(path)
            continue
        key = sweep_partition_key(path)
        if key in files:
            raise InputFileError(
                f"{files[key]}, {path}", "the same sweep tile twice: keep one of the two files"
            )
        files[key] = path
    if bad:
        raise InputFileError(
            ", ".join(bad),
            "not DR10 sweep file name(s) (sweep-<RA><p|m><DEC>-<RA><p|m><DEC>.fits[.gz]); "
            "rename or remove them",
        )
    return files


def require_every_sweep(files: dict[str, str], sweep_dir: str, data_root: str) -> list[str]:
    """Partition keys of the survey's sweep files (``files``: key -> path, as ``SurveyRoot.sweep_files`` gives them),
    every one of them materialized in ``sweep_lrgs``; an error naming each sweep file not materialized, or the sweep
    folder when there is no sweep file.

    Never a silent skip: the original lost whole sweeps when a cached copy was missing."""
    if not files:
        raise InputFileError(sweep_dir, "no sweep files (sweep-*.fits[.gz]) there")
    done = set(materialized_partitions(data_root, SWEEP_LRGS))
    missing = [path for key, path in files.items() if key not in done]
    if missing:
        raise InputFileError(
            ", ".join(missing),
            "sweep file(s) without a materialized sweep_lrgs partition; "
            "materialize them (or remove the files) first",
        )
    return sorted(files)


def current_sweep_lrgs(files: dict[str, str], sweep_dir: str, data_root: str) -> tuple[str, list[str]]:
    """A DuckDB source over the ``sweep_lrgs`` partitions of the sweep files the survey has now
    (:func:`require_every_sweep`), and the materialized partitions whose file is gone: those are left out (a
    deleted sweep no longer feeds the counts or the parent sample) and the caller reports them."""
    keys = require_every_sweep(files, sweep_dir, data_root)
    vanished = sorted(set(materialized_partitions(data_root, SWEEP_LRGS)) - set(keys))
    return read_parquet(partition_files(data_root, SWEEP_LRGS, keys)), vanished


# the run tags of a single-run backfill over a range of partitions (Dagster's public tag names)
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


def partitions_of_run(context, partitions_def) -> list[str]:
    """The partitions of ``partitions_def`` a check's run materialized: its one partition, or a backfill's range."""
    tags = context.run.tags
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start and end:
        # every key in order, then the range's slice: only get_partition_keys takes the instance that lists a
        # dynamic dimension's keys, on every kind of partitioning
        keys = list(partitions_def.get_partition_keys(dynamic_partitions_store=context.instance))
        return keys[keys.index(start) : keys.index(end) + 1]
    raise ValueError(
        "a partitioned asset's check runs with a materialization of one partition or a range of them"
    )
