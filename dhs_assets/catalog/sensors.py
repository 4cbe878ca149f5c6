"""A sensor that adds a partition (and a run) for every new sweep file under the survey root."""

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from dhs_assets.catalog.assets import sweep_lrgs
from dhs_assets.catalog.partitions import discover_sweep_files, sweep_partitions
from dhs_assets.resources import SurveyRoot


@sensor(
    asset_selection=[sweep_lrgs],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description="Adds a sweep_files partition for each new sweep file and requests its sweep_lrgs materialization.",
)
def sweep_file_sensor(context: SensorEvaluationContext, survey_root: SurveyRoot) -> SensorResult:
    known = set(context.instance.get_dynamic_partitions(sweep_partitions.name))
    new = [key for key in discover_sweep_files(survey_root.layout) if key not in known]
    return SensorResult(
        run_requests=[RunRequest(partition_key=key, run_key=f"sweep:{key}") for key in new],
        dynamic_partitions_requests=[sweep_partitions.build_add_request(new)] if new else [],
    )
