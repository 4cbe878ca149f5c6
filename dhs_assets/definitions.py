"""The Dagster definitions of dhs, loaded by ``workspace.yaml`` and by ``dhs demo``: one ``Definitions`` per
domain (catalogue, source bank, datasets, manifest, stamps, diagnostics, evaluation), merged here, with the automation condition
applied once over every asset spec and the resources built once (``build_resources``)."""

import warnings

from dagster import Definitions, PreviewWarning, in_process_executor

from dhs_assets.automation import FRESH_ON_SCHEDULE, PHASE_JOBS, scheduled_backfill
from dhs_assets.bank.definitions import bank_definitions
from dhs_assets.catalog.definitions import catalog_definitions
from dhs_assets.datasets.definitions import datasets_definitions
from dhs_assets.diagnostics.definitions import diagnostics_definitions
from dhs_assets.evaluate.definitions import evaluate_definitions
from dhs_assets.manifest.definitions import manifest_definitions
from dhs_assets.resources import default_resources
from dhs_assets.stamps.definitions import stamps_definitions
from dhs_core.asset_names import DATASET_SPECS, MODEL_SCORES

RECORDED = (DATASET_SPECS, MODEL_SCORES)  # external assets: recorded by their sensors, never built


def build_definitions(resources: dict) -> Definitions:
    """Every domain's definitions with ``resources``, the phase jobs and the scheduled backfill."""
    domains = Definitions.merge(
        catalog_definitions(),
        bank_definitions(),
        datasets_definitions(),
        manifest_definitions(),
        stamps_definitions(),
        diagnostics_definitions(),
        evaluate_definitions(),
    )
    with (
        warnings.catch_warnings()
    ):  # the documented map_asset_specs goes through a method Dagster marks preview
        warnings.simplefilter("ignore", PreviewWarning)
        domains = domains.map_asset_specs(  # the recorded assets are not built: no condition
            func=lambda spec: (
                spec
                if spec.key.to_user_string() in RECORDED
                else spec.replace_attributes(automation_condition=FRESH_ON_SCHEDULE)
            )
        )
    return Definitions.merge(
        domains,
        Definitions(
            sensors=[scheduled_backfill],
            jobs=PHASE_JOBS,
            resources=resources,
            # a run's steps in its own process, one after another: on a small machine a process per step costs
            # seconds of imports each; parallelism comes from partitions (two runs at a time,
            # dagster_home/dagster.yaml) and, inside injected_stamps, from its worker processes
            executor=in_process_executor,
        ),
    )


defs = build_definitions(default_resources())
ASSETS = list(defs.assets)  # what ``dhs demo`` and the tests materialize, automation condition included
CHECKS = list(defs.asset_checks)
