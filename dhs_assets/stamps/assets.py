"""The injected stamps asset: one partition per manifest partition (dataset x split)."""

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dhs_assets.datasets.partitions import dataset_split, dataset_split_partitions
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, DuckDB, SourceBank, SurveyRoot, WorkUnits
from dhs_assets.stamps.config import StampsRunConfig
from dhs_core.asset_names import (
    COVERAGE_GAPS,
    GALAXY_CUTOUTS,
    INJECTED_STAMPS,
    INJECTION_MANIFEST,
    SOURCE_BANK,
)
from dhs_core.datasets.record import recorded_spec, require_current
from dhs_core.datasets.spec import DatasetSpec, dataset_spec
from dhs_core.stamps.partition import empty_stamps, write_stamps_partition
from dhs_core.survey.portal import coverage_gaps as survey_coverage_gaps
from dhs_core.tables import folder_parts, partition_dir, partition_files, read_table, write_table


@asset(
    group_name="injection",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    partitions_def=dataset_split_partitions,
    deps=[INJECTION_MANIFEST, SOURCE_BANK, GALAXY_CUTOUTS],
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        "Phase 4c: every task of the manifest partition painted into the real coadd cutout around its LRG, cropped "
        "from galaxy_cutouts (each brick decoded once, whatever the datasets and splits). Per row: "
        "every manifest column; image and arc (noiseless model) 3 x 64 x 64 float32 g r z in nanomaggies, invvar "
        "(nMgy^-2) and maskbits (64 x 64 int32) of the cutout; PSF used, S/N, magnification, mask fractions; "
        "cutout_ok, status and status_reason. Controls are their cutouts bit for bit. The engine settings are the "
        "dataset spec's, as its manifest recorded them (a spec edited since is an error: rebuild the manifest); the "
        "spec and its hash are in every file's metadata and in dataset.json. Read with dhs_core.stamps.iter_batches "
        "or read_stamps. Work runs in parallel processes per partition (run config `workers`)."
    ),
)
def injected_stamps(
    context: AssetExecutionContext,
    config: StampsRunConfig,
    data_root: DataRoot,
    survey_root: SurveyRoot,
    bank: SourceBank,
    duckdb: DuckDB,
    work_units: WorkUnits,
) -> MaterializeResult:
    summary, folder, specs = {}, None, {}
    with work_units.pool(config.processes()) as pool:  # one set of workers for every partition of the run
        for key in context.partition_keys:
            spec = current_manifest_spec(data_root.path, str(key))
            specs[spec.spec_hash] = spec.record()
            job = config.job(
                survey_root.path,
                survey_root.sweep_version,
                spec.bank or bank.for_workers(data_root),
                spec.engine,
                duckdb.settings(),
                cutout_cache=tuple(
                    partition_files(data_root.path, GALAXY_CUTOUTS, dataset_split(str(key))[1])
                ),
                store=data_root.store(),
            )
            manifest = read_table(data_root.path, INJECTION_MANIFEST, str(key))
            context.log.info(f"{key}: {manifest.num_rows:,} tasks, {work_units.describe(job.processes)}")
            folder, counts = write_stamps_partition(
                manifest,
                job,
                data_root.path,
                INJECTED_STAMPS,
                str(key),
                log=lambda message, key=key: context.log.info(f"{key}: {message}"),
                owner=f"dagster run {context.run_id}",
                pool=pool,
                spec=spec,
            )
            summary[str(key)] = counts
            context.log.info(f"{key}: {counts} -> {folder}")
    totals = {name: sum(c[name] for c in summary.values()) for name in next(iter(summary.values()))}
    schema = empty_stamps(manifest)  # the last partition's columns, no rows
    return MaterializeResult(
        metadata={
            **table_metadata(schema, folder),
            "dagster/row_count": totals["stamps"],
            **{f"n_{k}": v for k, v in totals.items()},
            "files": len(folder_parts(folder)),
            "dataset_specs": MetadataValue.json(specs),
            "partitions": MetadataValue.json(summary),
            "max_failed_fraction": config.limits().max_failed_fraction,
        }
    )


def current_manifest_spec(data_root: str, partition: str) -> DatasetSpec:
    """The spec the manifest partition was built with, which must still be its dataset's spec: stamps from a
    manifest of an older spec would mix two recipes under one name."""
    recorded = recorded_spec(partition_dir(data_root, INJECTION_MANIFEST, partition))
    current = dataset_spec(data_root, dataset_split(partition)[0])
    require_current(recorded, current, f"the injection_manifest partition {partition} was built")
    return recorded


@asset(
    group_name="injection",
    kinds={"parquet", "duckdb"},
    owners=["team:dhs"],
    deps=[GALAXY_CUTOUTS],
    description=(
        "Coverage gaps: every file the portal said it does not have (404/410) while fetching the survey into the survey "
        "root's cache — brick, file, HTTP status and time (UTC). The rows on those bricks fail in injected_stamps with "
        "'not in the survey (404)'. Empty for a survey read from local disk."
    ),
)
def coverage_gaps(
    context: AssetExecutionContext, data_root: DataRoot, survey_root: SurveyRoot
) -> MaterializeResult:
    table = survey_coverage_gaps(survey_root.path)
    path = write_table(table, data_root.path, COVERAGE_GAPS)
    bricks = len(set(b for b in table["brick"].to_pylist() if b))
    context.log.info(f"{table.num_rows} file(s) not in the survey, on {bricks} brick(s) -> {path}")
    return MaterializeResult(
        metadata={
            **table_metadata(table, path),
            "bricks": bricks,
            "portal": survey_root.url or "(local survey root)",
        }
    )
