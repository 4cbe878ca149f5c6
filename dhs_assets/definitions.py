"""The Dagster definitions of dhs, loaded by ``workspace.yaml`` and by ``dhs demo``: one ``Definitions`` per
domain (catalogue, source bank, manifest, stamps, diagnostics), merged here, with the automation condition
applied once over every asset spec and the resources built once (``build_resources``)."""

import warnings

from dagster import Definitions, PreviewWarning, in_process_executor

from dhs_assets.automation import MISSING_ON_TICK, PHASE_JOBS, backfill_missing
from dhs_assets.bank.definitions import bank_definitions
from dhs_assets.catalog.definitions import catalog_definitions
from dhs_assets.diagnostics.definitions import diagnostics_definitions
from dhs_assets.manifest.definitions import manifest_definitions
from dhs_assets.resources import default_resources
from dhs_assets.stamps.definitions import stamps_definitions


def build_definitions(resources: dict) -> Definitions:
    """Every domain's definitions with ``resources``, the phase jobs and the automation sensor."""
    domains = Definitions.merge(
        catalog_definitions(),
        bank_definitions(),
        manifest_definitions(),
        stamps_definitions(),
        diagnostics_definitions(),
    )
    with (
        warnings.catch_warnings()
    ):  # the documented map_asset_specs goes through a method Dagster marks preview
        warnings.simplefilter("ignore", PreviewWarning)
        domains = domains.map_asset_specs(
            func=lambda spec: spec.replace_attributes(automation_condition=MISSING_ON_TICK)
        )
    return Definitions.merge(
        domains,
        Definitions(
            sensors=[backfill_missing],
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
