"""The injected stamps asset: one partition per manifest partition (selection set x split)."""

from dataclasses import asdict

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, MetadataValue, asset

from dhs_assets.bank.assets import bank_path
from dhs_assets.manifest.assets import manifest_partitions
from dhs_assets.metadata import table_metadata
from dhs_assets.resources import DataRoot, SurveyRoot
from dhs_assets.stamps.config import StampsRunConfig
from dhs_core.bank import open_bank
from dhs_core.stamps.build import inject_manifest
from dhs_core.tables import connect, read_table, write_table


@asset(group_name="injection", kinds={"parquet", "duckdb"}, owners=["team:dhs"], partitions_def=manifest_partitions,
       deps=["injection_manifest", "source_bank"], backfill_policy=BackfillPolicy.single_run(), description=(
           "Phase 4c: every task of the manifest partition painted into the real coadd cutout around its LRG: the stamp "
           "and the noiseless arc (3 x 64 x 64 float32, g r z, nanomaggies), the PSF used, the metrics (S/N, "
           "magnification, masks) and a status with its reason; controls are the cutouts bit for bit."))
def injected_stamps(context: AssetExecutionContext, config: StampsRunConfig, data_root: DataRoot, survey_root: SurveyRoot) -> MaterializeResult:
    engine = config.core()
    bricks, summary, last = {}, {}, None
    with open_bank(bank_path(data_root.path)) as bank, connect() as con:
        for key in context.partition_keys:
            manifest = read_table(data_root.path, "injection_manifest", str(key))
            stamps = inject_manifest(manifest, survey_root.layout, bank, engine, int(manifest["stamp_size"][0].as_py()), bricks)
            last = (stamps, write_table(stamps, data_root.path, "injected_stamps", str(key), con))
            statuses = stamps["status"].to_pylist()
            summary[str(key)] = {"stamps": stamps.num_rows, "ok": statuses.count("ok"), "failed": statuses.count("failed")}
            context.log.info(f"{key}: {summary[str(key)]} -> {last[1]}")
    stamps, path = last
    return MaterializeResult(metadata={**table_metadata(stamps, path), "engine_config": MetadataValue.json(asdict(engine)),
                                       "partitions": MetadataValue.json(summary)})
