"""The injected stamps asset: one partition per manifest partition (selection set x split)."""

import os
from dataclasses import asdict

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dhs_assets.manifest.assets import manifest_partitions
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, SourceBank, SurveyRoot
from dhs_assets.stamps.config import StampsRunConfig
from dhs_core.stamps.partition import empty_stamps, write_stamps_partition
from dhs_core.tables import read_table


@asset(group_name="injection", kinds={"parquet", "duckdb"}, owners=["team:dhs"], partitions_def=manifest_partitions,
       deps=["injection_manifest", "source_bank"], backfill_policy=BackfillPolicy.single_run(), description=(
           "Phase 4c: every task of the manifest partition painted into the real coadd cutout around its LRG. Per row: "
           "every manifest column; image and arc (noiseless model) 3 x 64 x 64 float32 g r z in nanomaggies, invvar "
           "(nMgy^-2) and maskbits (64 x 64 int32) of the cutout; PSF used, S/N, magnification, mask fractions; "
           "cutout_ok, status and status_reason. Controls are their cutouts bit for bit. Read with "
           "dhs_core.stamps.read_stamps. Work runs in parallel processes per partition (run config `workers`)."))
def injected_stamps(context: AssetExecutionContext, config: StampsRunConfig, data_root: DataRoot, survey_root: SurveyRoot,
                    bank: SourceBank) -> MaterializeResult:
    job = config.job(survey_root.path, survey_root.sweep_version, bank.file(data_root.path))
    summary, folder = {}, None
    for key in context.partition_keys:
        manifest = read_table(data_root.path, "injection_manifest", str(key))
        context.log.info(f"{key}: {manifest.num_rows:,} tasks, {job.processes} worker process(es)")
        folder, counts = write_stamps_partition(manifest, job, data_root.path, "injected_stamps", str(key),
                                                log=lambda message, key=key: context.log.info(f"{key}: {message}"))
        summary[str(key)] = counts
        context.log.info(f"{key}: {counts} -> {folder}")
    totals = {name: sum(c[name] for c in summary.values()) for name in next(iter(summary.values()))}
    schema = empty_stamps(manifest, job.bank_path, job.engine)  # the last partition's columns, no rows
    return MaterializeResult(metadata={
        **table_metadata(schema, folder), "dagster/row_count": totals["stamps"], **{f"n_{k}": v for k, v in totals.items()},
        "files": len([f for f in os.listdir(folder) if f.endswith(".parquet")]),
        "engine_config": MetadataValue.json(asdict(job.engine)), "partitions": MetadataValue.json(summary)})
