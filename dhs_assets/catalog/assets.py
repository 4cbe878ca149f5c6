"""Survey input assets: the bricks table and a per-sweep-file read of the sweep catalogues."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from dhs_assets.catalog.partitions import discover_sweep_files, sweep_partitions
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, SurveyRoot
from dhs_core.errors import InputFileError
from dhs_core.survey.bricks import read_bricks_table
from dhs_core.survey.sweeps import PIPELINE_SWEEP_COLUMNS, read_sweep
from dhs_core.tables import write_table


@asset(
    group_name="catalog",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    description=(
        "The DR10 bricks table: geometry (ra1, ra2, dec1, dec2, area_deg2) and per-brick summaries "
        "(psfsize_<b> FWHM arcsec, psfdepth_mag5_<b> 5-sigma AB mag, ebv), one row per brick."
    ),
)
def survey_bricks(context: AssetExecutionContext, data_root: DataRoot, survey_root: SurveyRoot) -> MaterializeResult:
    paths = survey_root.layout.bricks_table_paths()
    table = read_bricks_table(paths)
    path = write_table(table, data_root.path, "survey_bricks")
    context.log.info(f"{table.num_rows} bricks from {len(paths)} file(s) -> {path}")
    return MaterializeResult(metadata={**table_metadata(table, path), "source_files": ", ".join(paths)})


@asset(
    group_name="catalog",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    partitions_def=sweep_partitions,
    description=(
        "The sweep columns the pipeline reads, one partition per sweep file, lower-case names; "
        "depths as psfdepth_ivar_<b> (inverse variance, nMgy^-2), fluxes in nanomaggies."
    ),
)
def sweep_catalog(context: AssetExecutionContext, data_root: DataRoot, survey_root: SurveyRoot) -> MaterializeResult:
    key = context.partition_key
    files = discover_sweep_files(survey_root.layout)
    if key not in files:
        raise InputFileError(survey_root.layout.sweep_path(key + ".fits"), "sweep file of this partition not found")
    table = read_sweep(files[key], PIPELINE_SWEEP_COLUMNS)
    path = write_table(table, data_root.path, "sweep_catalog", key)
    context.log.info(f"{table.num_rows} rows from {files[key]} -> {path}")
    return MaterializeResult(metadata={**table_metadata(table, path), "sweep_file": files[key]})
