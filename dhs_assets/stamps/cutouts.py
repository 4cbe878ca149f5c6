"""The galaxy cutout cache: survey pixels decoded once per brick, cropped into every stamp of every dataset."""

import os

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dhs_assets.catalog.partitions import split_partitions
from dhs_assets.resources import DataRoot, DuckDB, SurveyRoot
from dhs_core.asset_names import GALAXY_CUTOUTS, PARENT_SAMPLE
from dhs_core.stamps.cutouts import write_cutouts_partition
from dhs_core.stamps.partition import stamps_pool
from dhs_core.survey.cutout_cache import CACHE_SIZE
from dhs_core.survey.plan import manifest_bricks
from dhs_core.tables import read_table


@asset(
    group_name="injection",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    partitions_def=split_partitions,
    deps=[PARENT_SAMPLE],
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        f"One row per parent-sample galaxy of the split (a brick lies in one split): a {CACHE_SIZE} x {CACHE_SIZE} "
        "cutout of image and invvar (g r z, nanomaggies and nMgy^-2) and maskbits around it, its brick pixel "
        "position, the brick's shape, each band's file status, and why no stamp can be cut if its brick has no files. "
        "Each brick's files are decoded once, in work units of whole bricks run in parallel (one file per unit); "
        "injected_stamps crops every stamp from here, equal bit for bit to the brick's own cutout. With a portal "
        "survey root, the bricks' coadds are fetched into its cache here."
    ),
)
def galaxy_cutouts(
    context: AssetExecutionContext, data_root: DataRoot, survey_root: SurveyRoot, duckdb: DuckDB
) -> MaterializeResult:
    summary, processes = {}, os.cpu_count() or 1
    with stamps_pool(processes) as pool:  # one set of workers for every split of the run
        for split in context.partition_keys:
            galaxies = read_table(data_root.path, PARENT_SAMPLE, split, ["row_id", "brickname", "ra", "dec"])
            fetched = survey_root.fetch_coadds(manifest_bricks(galaxies["brickname"]), context.log.info)
            folder, counts = write_cutouts_partition(
                survey_root.layout,
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
            summary[split] = {**counts, **({"coadd_fetch": fetched} if fetched else {})}
    return MaterializeResult(
        metadata={
            "dagster/row_count": sum(s["galaxies"] for s in summary.values()),
            "path": MetadataValue.path(os.path.dirname(folder)),
            "cutout_size_px": CACHE_SIZE,
            "bricks_without_files": sum(s["bricks_without_files"] for s in summary.values()),
            "partitions": MetadataValue.json(summary),
        }
    )
