"""Automation: scheduled backfills of what is missing, and jobs per phase for the launchpad (``dhs demo``
runs the whole pipeline).

Every asset carries ``MISSING_ON_TICK``: on each hourly cron tick, a partition that is missing and not in
progress is requested once its upstream partitions exist (or are requested in the same tick). Nothing
already materialized is run again. The sensor that evaluates it, ``backfill_missing``, is stopped by
default; switch it on in the UI (Automation) to keep the data root complete as sweep files arrive.
"""

import dagster as dg

from dhs_core import asset_names as names

MISSING_ON_TICK = (
    dg.AutomationCondition.cron_tick_passed("0 * * * *")
    & dg.AutomationCondition.missing()
    & ~dg.AutomationCondition.any_deps_missing()
    & ~dg.AutomationCondition.in_progress()
)

backfill_missing = dg.AutomationConditionSensorDefinition(
    "backfill_missing",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=300,
    description="Requests missing partitions whose upstreams exist, once per hourly tick.",
)

# an asset job holds assets of one partitioning, so each phase has a job per partitioning
PHASE_JOBS = [
    dg.define_asset_job(
        "catalog_tables",
        selection=dg.AssetSelection.assets(
            names.SURVEY_BRICKS, names.BRICK_LRG_COUNTS, names.REGION_BRICKS, names.REGION_METRICS
        ),
        description="Phases 2-3, unpartitioned: the bricks table, LRG counts, regions and splits.",
    ),
    dg.define_asset_job(
        "catalog_sweeps",
        selection=dg.AssetSelection.assets(names.SWEEP_LRGS),
        description="Phase 2, per sweep file.",
    ),
    dg.define_asset_job(
        "catalog_selections",
        selection=dg.AssetSelection.assets(names.REGION_SELECTIONS),
        description="Phase 3b, per set.",
    ),
    dg.define_asset_job(
        "catalog_parent",
        selection=dg.AssetSelection.assets(names.PARENT_SAMPLE),
        description="Phase 3c, per split.",
    ),
    dg.define_asset_job(
        "bank", selection=dg.AssetSelection.assets(names.SOURCE_BANK), description="The source bank."
    ),
    dg.define_asset_job(
        "manifest_and_stamps",
        selection=dg.AssetSelection.assets(
            names.INJECTION_MANIFEST, names.INJECTED_STAMPS, names.STAMP_DIAGNOSTICS
        ),
        description="Phases 4a and 4c with the stamps' QA, per (selection set, split).",
    ),
    dg.define_asset_job(
        "report",
        selection=dg.AssetSelection.assets(names.SHORTCUT_REPORT, names.COVERAGE_GAPS),
        description="The shortcut report over every partition, and the survey's coverage gaps.",
    ),
]
