"""A sensor that keeps the sweep partitions in step with the survey's sweep files."""

from dagster import AssetKey, DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from dhs_assets.catalog.assets import brick_lrg_counts, sweep_lrgs
from dhs_assets.catalog.partitions import sweep_partitions
from dhs_assets.resources import SurveyRoot
from dhs_core.asset_names import BRICK_LRG_COUNTS


@sensor(
    asset_selection=[sweep_lrgs, brick_lrg_counts],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Adds a sweep_files partition for each new sweep file (of a portal survey root: each tile its cached bricks "
        "table needs) and requests its sweep_lrgs materialization; removes the partition of a sweep file that is gone "
        "(or that the portal answered 404 for) and requests brick_lrg_counts again, so the counts drop it and "
        "everything downstream of them shows as stale."
    ),
)
def sweep_file_sensor(context: SensorEvaluationContext, survey_root: SurveyRoot) -> SensorResult:
    if survey_root.url and not survey_root.layout.bricks_table_paths():
        return SensorResult(
            skip_reason=f"no bricks table fetched from {survey_root.url} yet: materialize survey_bricks first"
        )
    known = set(context.instance.get_dynamic_partitions(sweep_partitions.name))
    files = survey_root.sweep_files()
    new = [key for key in files if key not in known]
    vanished = sorted(known - set(files))
    requests = [RunRequest(partition_key=key, run_key=f"sweep:{key}") for key in new]
    if vanished:
        context.log.warning(f"sweep file(s) gone from {survey_root.layout.sweep_dir}: {', '.join(vanished)}")
        requests.append(
            RunRequest(asset_selection=[AssetKey(BRICK_LRG_COUNTS)], run_key=f"vanished:{','.join(vanished)}")
        )
    partition_requests = [sweep_partitions.build_add_request(new)] if new else []
    if vanished:
        partition_requests.append(sweep_partitions.build_delete_request(vanished))
    return SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests)
