"""Automation: a scheduled backfill that keeps every partition fresh, and jobs per phase for the launchpad
(``dhs demo`` runs the whole pipeline).

Every materializable asset carries ``FRESH_ON_SCHEDULE``, evaluated by the ``scheduled_backfill`` sensor (listed under
Automation in the UI; stopped by default: switch it on to keep the data root fresh). A partition is **needed** when
it is missing or **stale**: an upstream was updated since it was last requested or built — a sweep file's LRGs (a new
sweep file), the region tables, the parent sample, the source bank, or its dataset spec, recorded with the spec's hash
as data version (``dhs_assets.datasets.sensors``). At each hourly cron tick every partition becomes **due**; a due
partition is requested once it is needed and its upstreams are settled (none of them, nor their upstreams, missing or
stale unless built in the same run — a manifest with its stamps —, none in progress). A due partition that is not
needed and has nothing pending or running upstream stops being due: between ticks nothing fresh is touched, and a change made
after a tick waits for the next one. A chain of stale assets is rebuilt in order, each once, within the tick's hour as
far as two levels of upstreams show it; a longer chain (a new sweep file, down to the stamps) continues at the next
ticks.
"""

import dagster as dg

from dhs_core import asset_names as names

SCHEDULE = "0 * * * *"  # hourly, UTC
AC = dg.AutomationCondition
_HANDLED = AC.newly_requested() | AC.newly_updated()
# an upstream updated (or requested in the same run) since this partition was last requested or updated
STALE = AC.any_deps_updated().since(_HANDLED).with_label("stale")
NEEDED = (AC.missing() | STALE).with_label("missing_or_stale")
# an upstream, or an upstream's upstream, that is missing or stale and not built in this partition's run: it will be
# rebuilt first (two levels: Dagster's conditions see a partition's deps, and their deps through any_deps_match)
UPSTREAM_PENDING = AC.any_deps_match(
    (NEEDED | AC.any_deps_match(NEEDED)) & ~AC.will_be_requested()
).with_label("upstream_pending")
# from a cron tick until the partition is requested, or found with nothing to do and nothing pending or running
# upstream
SETTLED_FRESH = ~NEEDED & ~UPSTREAM_PENDING & ~AC.any_deps_in_progress()
DUE = (
    AC.cron_tick_passed(SCHEDULE).since(_HANDLED | AC.initial_evaluation() | SETTLED_FRESH).with_label("due")
)
FRESH_ON_SCHEDULE = (
    DUE & NEEDED & ~UPSTREAM_PENDING & ~AC.any_deps_in_progress() & ~AC.in_progress()
).with_label("fresh_on_schedule")

scheduled_backfill = dg.AutomationConditionSensorDefinition(
    "scheduled_backfill",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=300,
    description=(
        "Hourly (cron 0 * * * *, UTC): requests every partition that is missing or stale (an upstream updated since it "
        "was built: a new sweep file, rebuilt region tables, parent sample or bank, an edited dataset spec) once its "
        "upstreams are settled; never a fresh one."
    ),
)

# an asset job holds assets of one partitioning, so each phase has a job per partitioning: name, assets, description
PHASES = (
    (
        "catalog_tables",
        (names.SURVEY_BRICKS, names.BRICK_LRG_COUNTS, names.REGION_BRICKS, names.REGION_METRICS),
        "Phases 2-3, unpartitioned: the bricks table, LRG counts, regions and splits.",
    ),
    ("catalog_sweeps", (names.SWEEP_LRGS,), "Phase 2, per sweep file."),
    ("catalog_selections", (names.REGION_SELECTIONS,), "Phase 3b, per set."),
    ("catalog_parent", (names.PARENT_SAMPLE,), "Phase 3c, per split."),
    ("bank", (names.SOURCE_BANK,), "The source bank."),
    ("cutouts", (names.GALAXY_CUTOUTS,), "The galaxy cutout cache, per split."),
    (
        "manifest_and_stamps",
        (names.INJECTION_MANIFEST, names.INJECTED_STAMPS, names.STAMP_DIAGNOSTICS),
        "Phases 4a and 4c with the stamps' QA, per (dataset, split).",
    ),
    ("report", (names.SHORTCUT_REPORT,), "The training-set report, per dataset."),
    ("coverage", (names.COVERAGE_GAPS,), "The survey's coverage gaps."),
    (
        "evaluation_objects",
        (names.KNOWN_LENSES, names.ANCHOR_STAMPS, names.HARD_NEGATIVES),
        "The known lenses, the anchors cut from them and the hard negatives.",
    ),
    ("baseline", (names.BASELINE_SCORES,), "The baseline scorer, per evaluated dataset."),
    ("selection", (names.SELECTION_FUNCTION,), "The selection function, per (dataset, model)."),
)
PHASE_JOBS = [
    dg.define_asset_job(name, selection=dg.AssetSelection.assets(*assets), description=description)
    for name, assets, description in PHASES
]
