"""The injection manifest asset: one partition per (selection set, split)."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, MultiPartitionsDefinition, asset

from dhs_assets.catalog.partitions import selection_set_partitions, split_partitions
from dhs_assets.manifest.config import ManifestRunConfig
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot
from dhs_core.errors import InputFileError
from dhs_core.manifest.build import build_manifest, input_query
from dhs_core.manifest.sampling import stratum_edges
from dhs_core.tables import connect, parquet_source, read_table, write_table

manifest_partitions = MultiPartitionsDefinition({"selection_set": selection_set_partitions, "split": split_partitions})


def manifest_keys(partition_key) -> tuple[str, str]:
    """``(selection set key, split)`` of a manifest partition."""
    keys = partition_key.keys_by_dimension
    return keys["selection_set"], keys["split"]


@asset(group_name="manifest", kinds={"parquet", "duckdb"}, owners=["team:dhs"], partitions_def=manifest_partitions,
       # a single-dimension upstream maps to its dimension of the manifest's partitions (Dagster's default)
       deps=["region_bricks", "parent_sample", "region_selections"],
       description=(
           "Phase 4a: one row per injection task of one (selection set, split): the galaxy (its split from the parent "
           "sample), a configuration of the grid or CONTROL, the replicate and every random draw of Phase 4c, frozen "
           "from stable ids. Tier, grid, fractions and seeds are run config, recorded in metadata."))
def injection_manifest(context: AssetExecutionContext, config: ManifestRunConfig, data_root: DataRoot) -> MaterializeResult:
    core = config.core()
    set_key, split = manifest_keys(context.partition_key)
    selections = read_table(data_root.path, "region_selections", set_key, columns=["selection_set_id"])
    set_ids = sorted(set(selections["selection_set_id"].to_pylist()))
    if len(set_ids) != 1:
        raise InputFileError(parquet_source(data_root.path, "region_selections", set_key), f"one selection set id expected, found {set_ids}")
    bricks = read_table(data_root.path, "region_bricks", columns=["psfsize_r", "psfdepth_mag5_r"])
    psf_edges = stratum_edges(bricks["psfsize_r"].to_numpy(zero_copy_only=False), "brick psfsize_r")
    depth_edges = stratum_edges(bricks["psfdepth_mag5_r"].to_numpy(zero_copy_only=False), "brick psfdepth_mag5_r")
    with connect() as con:
        parent = parquet_source(data_root.path, "parent_sample", split)
        galaxies = con.sql(input_query(parent), params={"set": set_ids[0], "split": split}).to_arrow_table()
        in_set = con.sql(f"SELECT count(*) FROM {parent} WHERE list_contains(selection_sets, $set)", params={"set": set_ids[0]}).fetchall()[0][0]
    table = build_manifest(galaxies, set_ids[0], set_key, split, psf_edges, depth_edges, core)
    path = write_table(table, data_root.path, "injection_manifest", str(context.partition_key))
    controls = int(sum(table["is_control"].to_pylist()))
    context.log.info(f"{set_ids[0]} / {split}: {galaxies.num_rows} galaxies, {table.num_rows} tasks ({controls} controls) -> {path}")
    return MaterializeResult(metadata={
        **table_metadata(table, path), "experiment_id": core.experiment_id, "selection_set_id": set_ids[0],
        "manifest_config": MetadataValue.json(core.record()), "psf_edges_arcsec": MetadataValue.json(psf_edges.tolist()),
        "depth_edges_mag": MetadataValue.json(depth_edges.tolist()), "galaxies_in_set": in_set,
        "galaxies_without_psf_or_depth": in_set - galaxies.num_rows, "control_rows": controls,
        "configs": core.grid.size})
