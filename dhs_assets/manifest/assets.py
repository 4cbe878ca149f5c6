"""The injection manifest asset: one partition per (dataset, split); one run can build many."""

import dataclasses
import os
from collections import defaultdict

import numpy as np
import pyarrow as pa
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dhs_assets.datasets.partitions import dataset_split, dataset_split_key, dataset_split_partitions
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, DuckDB, SourceBank
from dhs_core.asset_names import (
    DATASET_SPECS,
    INJECTION_MANIFEST,
    PARENT_SAMPLE,
    REGION_BRICKS,
    REGION_SELECTIONS,
    SOURCE_BANK,
)
from dhs_core.bank import open_bank
from dhs_core.catalog.splits import SPLITS
from dhs_core.datasets.record import parquet_metadata, write_dataset_file
from dhs_core.datasets.spec import dataset_spec
from dhs_core.errors import InputFileError
from dhs_core.manifest.build import ManifestConfig, split_manifests
from dhs_core.manifest.sampling import stratum_edges
from dhs_core.tables import parquet_source, read_table, write_table


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
    partitions_def=dataset_split_partitions,
    # single-dimension upstreams map to their dimension of the manifest's partitions (Dagster's default); every
    # selection set is an upstream of every dataset (a spec names its sets in a file Dagster does not read)
    deps=[
        DATASET_SPECS,
        REGION_BRICKS,
        PARENT_SAMPLE,
        AssetDep(REGION_SELECTIONS, partition_mapping=AllPartitionMapping()),
        SOURCE_BANK,
    ],
    # a backfill builds its partitions in one run: one pass over each split's parent sample per dataset
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "Phase 4a: one row per injection task of one dataset's split, for every selection set its spec names "
        "(<data root>/datasets/<name>.yaml): the galaxy (its split from the parent sample), a configuration of the "
        "grid or CONTROL, the replicate and every random draw of Phase 4c, frozen from stable ids; template sources "
        "are drawn among the bank's templates of the task's split. The resolved spec and its hash are in the Parquet "
        "metadata and in dataset.json beside it."
    ),
)
def injection_manifest(
    context: AssetExecutionContext, data_root: DataRoot, bank: SourceBank, duckdb: DuckDB
) -> MaterializeResult:
    by_dataset: dict[str, list[str]] = defaultdict(list)
    for key in context.partition_keys:
        dataset, split = dataset_split(key)
        by_dataset[dataset].append(split)
    bricks = read_table(data_root.path, REGION_BRICKS, columns=["psfsize_r", "psfdepth_mag5_r"])
    psf_edges = stratum_edges(bricks["psfsize_r"].to_numpy(zero_copy_only=False), "brick psfsize_r")
    depth_edges = stratum_edges(
        bricks["psfdepth_mag5_r"].to_numpy(zero_copy_only=False), "brick psfdepth_mag5_r"
    )
    partitions, last = {}, None
    with duckdb.connect() as con:
        for dataset, splits in by_dataset.items():
            spec = dataset_spec(data_root.path, dataset)
            core, owners = _with_template_owners(spec.manifest, spec.bank or bank.file(data_root.path))
            sets = {key: _selection_set_id(data_root.path, key) for key in spec.selection_sets}
            for split in splits:
                key = dataset_split_key(dataset, split)
                parent = parquet_source(data_root.path, PARENT_SAMPLE, split)
                tables, counts = [], {}
                for set_key, table, set_counts in split_manifests(
                    con, parent, split, sets, psf_edges, depth_edges, core, owners
                ):
                    tables.append(table)
                    counts[set_key] = set_counts
                table = pa.concat_tables(tables)
                path = write_table(
                    table, data_root.path, INJECTION_MANIFEST, key, con, parquet_metadata(spec)
                )
                write_dataset_file(spec, os.path.dirname(path))
                last = (table, path, spec)
                controls = int(sum(table["is_control"].to_pylist()))
                partitions[key] = {
                    "spec_hash": spec.spec_hash,
                    "tasks": table.num_rows,
                    "control_rows": controls,
                    "selection_sets": counts,
                }
                context.log.info(
                    f"{key}: {len(sets)} selection set(s), {table.num_rows} tasks ({controls} controls), "
                    f"spec {spec.spec_hash} -> {path}"
                )
    table, path, spec = last
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "spec_hash": spec.spec_hash,
            "dataset_spec": MetadataValue.json(spec.record()),
            "psf_edges_arcsec": MetadataValue.json(psf_edges.tolist()),
            "depth_edges_mag": MetadataValue.json(depth_edges.tolist()),
            "partitions": MetadataValue.json(partitions),
            "configs": spec.manifest.grid.size,
        }
    )


def _with_template_owners(core: ManifestConfig, bank_file: str) -> tuple[ManifestConfig, np.ndarray | None]:
    """The manifest settings with the bank's template count, and each template's split index (templates are
    drawn inside the task's split); unchanged settings and None for parametric sources."""
    if core.source_kind != "template":
        return core, None
    with open_bank(bank_file) as opened:
        splits = opened.meta["split"].to_pylist()
    owners = np.array([SPLITS.index(s) for s in splits])
    return dataclasses.replace(core, n_templates=len(owners)), owners
