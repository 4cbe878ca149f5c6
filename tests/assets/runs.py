"""Dagster runs for the asset tests: materialize assets with their checks, and the catalogue phases whole."""

from dagster import AssetKey, materialize

from dhs_assets.catalog.partitions import discover_sweep_files, sweep_partitions
from dhs_assets.definitions import ASSETS, CHECKS
from dhs_core.catalog.selection import selection_partition_keys
from dhs_core.catalog.splits import SPLITS


def run_assets(instance, resources, keys, partition=None, run_config=None):
    """Materialize ``keys`` (one partition, or unpartitioned) with their checks; every one must pass."""
    result = materialize(
        [*ASSETS, *CHECKS],
        selection=[AssetKey(k) for k in keys],
        partition_key=partition,
        instance=instance,
        resources=resources,
        run_config=run_config,
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations]
    return result


def catalog_phases(instance, resources, run_config=None):
    """Phases 1-3 on the survey root of ``resources``, every partition; return the sweep partitions."""
    layout = resources["survey_root"].layout
    run_assets(instance, resources, ["survey_bricks"])
    sweeps = discover_sweep_files(layout)
    instance.add_dynamic_partitions(sweep_partitions.name, list(sweeps))
    for key in sweeps:
        run_assets(instance, resources, ["sweep_lrgs"], key)
    run_assets(instance, resources, ["brick_lrg_counts"])
    regions = run_assets(instance, resources, ["region_bricks", "region_metrics"], run_config=run_config)
    assert sorted(e.check_name for e in regions.get_asset_check_evaluations()) == [
        "galaxies_have_bricks",
        "splits_disjoint",
    ]
    for key in selection_partition_keys():
        run_assets(instance, resources, ["region_selections"], key)
    run_assets(instance, resources, ["known_lenses"])
    for split in SPLITS:
        run_assets(instance, resources, ["parent_sample"], split)
    return sweeps
