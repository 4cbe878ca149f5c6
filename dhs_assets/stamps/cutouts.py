"""The galaxy cutout cache: survey pixels decoded once per brick, cropped into every stamp of every dataset."""

import os

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dhs_assets.catalog.partitions import split_partitions
from dhs_assets.resources import DataRoot, DuckDB, SurveyRoot, WorkUnits
from dhs_core.asset_names import GALAXY_CUTOUTS, PARENT_SAMPLE, SURVEY_BRICKS
from dhs_core.stamps.cutouts import with_neighbours, write_cutouts_partition
from dhs_core.survey.bricks import brick_neighbours
from dhs_core.survey.cutout_cache import CACHE_SIZE
from dhs_core.tables import read_table


@asset(
    group_name="injection",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    partitions_def=split_partitions,
    deps=[PARENT_SAMPLE, SURVEY_BRICKS],
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        f"One row per parent-sample galaxy of the split (a brick lies in one split): a {CACHE_SIZE} x {CACHE_SIZE} "
        "cutout of image and invvar (g r z, nanomaggies and nMgy^-2) and maskbits around it, its brick pixel "
        "position, the brick's shape, each band's file status, and why no stamp can be cut if its brick has no files. "
        "Each brick's files are decoded once, in work units of whole bricks run in parallel (one file per unit); "
        "injected_stamps crops every stamp from here, equal bit for bit to the brick's own cutout. A cutout not whole "
        "on its brick is cut from a neighbouring brick that holds it whole, else zero-padded and flagged partial. "
        "Pixels come from the survey root's coadds (fetched brick by brick from a portal, optionally deleted once cut) "
        "or from the Legacy Surveys cutout service (the survey root's cutouts setting); each row names its source."
    ),
)
def galaxy_cutouts(
    context: AssetExecutionContext,
    data_root: DataRoot,
    survey_root: SurveyRoot,
    duckdb: DuckDB,
    work_units: WorkUnits,
) -> MaterializeResult:
    summary, processes, source = {}, os.cpu_count() or 1, survey_root.cutout_source()
    bricks = read_table(data_root.path, SURVEY_BRICKS, columns=["brickname", "ra1", "ra2", "dec1", "dec2"])
    touching = brick_neighbours(bricks)  # once for every split of the run
    with work_units.pool(processes) as pool:  # one set of workers for every split of the run
        for split in context.partition_keys:
            galaxies = with_neighbours(
                read_table(data_root.path, PARENT_SAMPLE, split, ["row_id", "brickname", "ra", "dec"]),
                touching,
            )
            folder, counts = write_cutouts_partition(
                source,
                galaxies,
                data_root.path,
                GALAXY_CUTOUTS,
                split,
                settings=duckdb.settings(),
                log=lambda message, split=split: context.log.info(f"{split}: {message}"),
                owner=f"dagster run {context.run_id}",
                processes=processes,
                pool=pool,
            )
            summary[split] = counts
    return MaterializeResult(
        metadata={
            "dagster/row_count": sum(s["galaxies"] for s in summary.values()),
            "path": MetadataValue.path(os.path.dirname(folder)),
            "cutout_size_px": CACHE_SIZE,
            "bricks_without_files": sum(s["bricks_without_files"] for s in summary.values()),
            "from_neighbour": sum(s["from_neighbour"] for s in summary.values()),
            "source": source.name,
            "partitions": MetadataValue.json(summary),
        }
    )
