"""The injection manifest asset: one partition per (selection set, split); one run can build many."""

import dataclasses
from collections import defaultdict

import numpy as np
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    MultiPartitionsDefinition,
    asset,
)

from dhs_assets.catalog.partitions import selection_set_partitions, split_partitions
from dhs_assets.manifest.config import ManifestRunConfig
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, DuckDB
from dhs_core.asset_names import (
    INJECTION_MANIFEST,
    PARENT_SAMPLE,
    REGION_BRICKS,
    REGION_SELECTIONS,
    SOURCE_BANK,
)
from dhs_core.catalog.splits import SPLITS
from dhs_core.errors import InputFileError
from dhs_core.manifest.build import split_manifests
from dhs_core.manifest.sampling import stratum_edges
from dhs_core.tables import parquet_source, read_table, write_table

manifest_partitions = MultiPartitionsDefinition(
    {"selection_set": selection_set_partitions, "split": split_partitions}
)


def manifest_keys(partition_key: str) -> tuple[str, str]:
    """``(selection set key, split)`` of a manifest partition key ``<set>|<split>``."""
    keys = manifest_partitions.get_partition_key_from_str(str(partition_key)).keys_by_dimension
    return keys["selection_set"], keys["split"]


def _selection_set_id(data_root: str, set_key: str) -> str:
    ids = sorted(
        set(
            read_table(data_root, REGION_SELECTIONS, set_key, columns=["selection_set_id"])[
                "selection_set_id"
            ].to_pylist()
        )
    )
    if len(ids) != 1:
        raise InputFileError(
            parquet_source(data_root, REGION_SELECTIONS, set_key),
            f"one selection set id expected, found {ids}",
        )
    return ids[0]


@asset(
    group_name="manifest",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    partitions_def=manifest_partitions,
    # a single-dimension upstream maps to its dimension of the manifest's partitions (Dagster's default)
    deps=[REGION_BRICKS, PARENT_SAMPLE, REGION_SELECTIONS, SOURCE_BANK],
    # a backfill builds its partitions in one run: one pass over each split's parent sample for all sets
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "Phase 4a: one row per injection task of one (selection set, split): the galaxy (its split from the parent "
        "sample), a configuration of the grid or CONTROL, the replicate and every random draw of Phase 4c, frozen "
        "from stable ids; template sources are drawn among the source bank's templates of the task's split. Tier, "
        "grid, fractions and seeds are run config, recorded in metadata."
    ),
)
def injection_manifest(
    context: AssetExecutionContext, config: ManifestRunConfig, data_root: DataRoot, duckdb: DuckDB
) -> MaterializeResult:
    core = config.core()
    owners = None
    if core.source_kind == "template":  # templates are drawn from the bank's, inside the task's split
        splits = read_table(data_root.path, SOURCE_BANK, columns=["split"])["split"].to_pylist()
        owners = np.array([SPLITS.index(s) for s in splits])
        core = dataclasses.replace(core, n_templates=len(owners))
    by_split: dict[str, dict[str, str]] = defaultdict(dict)
    for key in context.partition_keys:
        set_key, split = manifest_keys(key)
        by_split[split][set_key] = _selection_set_id(data_root.path, set_key)
    bricks = read_table(data_root.path, REGION_BRICKS, columns=["psfsize_r", "psfdepth_mag5_r"])
    psf_edges = stratum_edges(bricks["psfsize_r"].to_numpy(zero_copy_only=False), "brick psfsize_r")
    depth_edges = stratum_edges(
        bricks["psfdepth_mag5_r"].to_numpy(zero_copy_only=False), "brick psfdepth_mag5_r"
    )
    partitions, last = {}, None
    with duckdb.connect() as con:
        for split, sets in by_split.items():
            parent = parquet_source(data_root.path, PARENT_SAMPLE, split)
            for set_key, table, counts in split_manifests(
                con, parent, split, sets, psf_edges, depth_edges, core, owners
            ):
                key = f"{set_key}|{split}"
                last = (table, write_table(table, data_root.path, INJECTION_MANIFEST, key, con))
                controls = int(sum(table["is_control"].to_pylist()))
                partitions[key] = {
                    "selection_set_id": sets[set_key],
                    "tasks": table.num_rows,
                    "control_rows": controls,
                    **counts,
                }
                context.log.info(
                    f"{key}: {counts['galaxies_in_set']} galaxies in the set, {table.num_rows} tasks ({controls} controls) -> {last[1]}"
                )
    table, path = last
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "experiment_id": core.experiment_id,
            "manifest_config": MetadataValue.json(core.record()),
            "psf_edges_arcsec": MetadataValue.json(psf_edges.tolist()),
            "depth_edges_mag": MetadataValue.json(depth_edges.tolist()),
            "partitions": MetadataValue.json(partitions),
            "configs": core.grid.size,
        }
    )
