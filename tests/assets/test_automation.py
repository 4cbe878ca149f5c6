"""The scheduled backfill, tick by tick: at each hourly tick every partition that is missing or stale is requested
once its upstreams are settled, and nothing fresh is. Materializations are recorded as runless events (the conditions
read the event log, not the files), so every kind of change is cheap to make exactly."""

import datetime

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    evaluate_automation_conditions,
)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from dhs_assets.automation import FRESH_ON_SCHEDULE
from dhs_assets.catalog.partitions import sweep_partitions
from dhs_assets.datasets.partitions import dataset_partitions
from dhs_assets.definitions import defs
from dhs_assets.evaluate.partitions import model_partitions
from dhs_core import asset_names as names
from dhs_core.catalog.selection import selection_partition_keys
from dhs_core.catalog.splits import SPLITS

SWEEPS = ["sweep-000p000-005p005", "sweep-020m005-025p000"]
DATASETS = ["train", "grid"]
MODELS = ["baseline"]
# evaluation times after the events the test records (Dagster reads an event as of its timestamp), half past an hour
START = datetime.datetime.now().replace(minute=30, second=0, microsecond=0) + datetime.timedelta(days=1)


def _partitions(asset: str) -> list[str | None]:
    """Every partition of ``asset`` the test's instance knows."""
    if asset == names.SWEEP_LRGS:
        return SWEEPS
    if asset == names.REGION_SELECTIONS:
        return selection_partition_keys()
    if asset in (names.PARENT_SAMPLE, names.GALAXY_CUTOUTS):
        return list(SPLITS)
    if asset in (names.INJECTION_MANIFEST, names.INJECTED_STAMPS, names.STAMP_DIAGNOSTICS):
        return [f"{d}|{s}" for d in DATASETS for s in SPLITS]
    if asset in (names.SHORTCUT_REPORT, names.BASELINE_SCORES):
        return DATASETS
    if asset in (names.MODEL_SCORES, names.SELECTION_FUNCTION):
        return [f"{d}|{m}" for d in DATASETS for m in MODELS]
    return [None]


def _built(instance, asset: str, partitions=None) -> None:
    for partition in partitions or _partitions(asset):
        instance.report_runless_asset_event(AssetMaterialization(asset, partition=partition))


def _spec(instance, dataset: str, spec_hash: str) -> None:
    instance.report_runless_asset_event(
        AssetMaterialization(names.DATASET_SPECS, partition=dataset, tags={DATA_VERSION_TAG: spec_hash})
    )


class Ticks:
    """Evaluations of the automation conditions at successive times, each from the previous one's cursor."""

    def __init__(self, instance):
        self.instance, self.cursor, self.now = instance, None, START

    def at(self, minutes: int) -> dict[str, list[str | None]]:
        """Evaluate ``minutes`` after the previous evaluation; the partitions requested, by asset."""
        self.now += datetime.timedelta(minutes=minutes)
        result = evaluate_automation_conditions(
            defs=defs, instance=self.instance, evaluation_time=self.now, cursor=self.cursor
        )
        self.cursor = result.cursor
        requested = {}
        for key in defs.resolve_asset_graph().get_all_asset_keys():
            partitions = result.get_requested_partitions(key)
            if partitions:
                requested[key.to_user_string()] = sorted(partitions, key=str)
        return requested


@pytest.fixture()
def built():
    """An instance where every partition of every asset is materialized, then a tick that finds nothing to do."""
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(sweep_partitions.name, SWEEPS)
        instance.add_dynamic_partitions(dataset_partitions.name, DATASETS)
        instance.add_dynamic_partitions(model_partitions.name, MODELS)
        for dataset in DATASETS:
            _spec(instance, dataset, f"{dataset}-v1")
        for asset in names.ASSET_NAMES:
            if asset != names.DATASET_SPECS:
                _built(instance, asset)
        ticks = Ticks(instance)
        assert ticks.at(0) == {}  # the first evaluation only starts the cursor
        assert ticks.at(60) == {}  # a tick with everything fresh requests nothing
        yield instance, ticks


def test_every_materializable_asset_carries_the_condition():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert node.automation_condition == FRESH_ON_SCHEDULE, key
        else:
            assert key in (AssetKey(names.DATASET_SPECS), AssetKey(names.MODEL_SCORES)), key
            assert node.automation_condition is None


def test_an_edited_spec_rebuilds_that_dataset_and_nothing_else(built):
    instance, ticks = built
    _spec(instance, "grid", "grid-v2")
    assert ticks.at(5) == {}  # no tick yet: nothing
    grid = sorted(f"grid|{s}" for s in SPLITS)
    # at the tick: the grid's manifests, stamps and QA in one run per partition set, the train dataset untouched
    assert ticks.at(60) == {
        names.INJECTION_MANIFEST: grid,
        names.INJECTED_STAMPS: grid,
        names.STAMP_DIAGNOSTICS: grid,
    }
    for asset in (names.INJECTION_MANIFEST, names.INJECTED_STAMPS, names.STAMP_DIAGNOSTICS):
        _built(instance, asset, grid)
    # its stamps rebuilt: the grid's report, the baseline's scores and the selection function, same hour (the
    # selection function runs again when the sensor sees the baseline's new scores)
    assert ticks.at(5) == {
        names.SHORTCUT_REPORT: ["grid"],
        names.BASELINE_SCORES: ["grid"],
        names.SELECTION_FUNCTION: ["grid|baseline"],
    }
    _built(instance, names.SHORTCUT_REPORT, ["grid"])
    _built(instance, names.BASELINE_SCORES, ["grid"])
    _built(instance, names.SELECTION_FUNCTION, ["grid|baseline"])
    assert ticks.at(5) == {} and ticks.at(60) == {}  # all fresh again


def test_a_spec_recorded_again_counts_as_a_change(built):
    instance, ticks = built
    # every recorded event is an update to Dagster, whatever its data version: so the sensor records a spec only when
    # its hash changed (tests/assets/test_datasets.py checks that it does)
    _spec(instance, "train", "train-v1")
    assert set(ticks.at(60)) == {names.INJECTION_MANIFEST, names.INJECTED_STAMPS, names.STAMP_DIAGNOSTICS}


def test_a_rebuilt_parent_split_rebuilds_that_split_of_every_dataset(built):
    instance, ticks = built
    _built(instance, names.PARENT_SAMPLE, ["val"])
    assert ticks.at(5) == {}  # until the tick: nothing
    val = sorted(f"{d}|val" for d in DATASETS)
    # at the tick: the split's cutouts and manifests; the stamps wait for the cutouts (another run)
    assert ticks.at(60) == {names.GALAXY_CUTOUTS: ["val"], names.INJECTION_MANIFEST: val}
    _built(instance, names.GALAXY_CUTOUTS, ["val"])
    _built(instance, names.INJECTION_MANIFEST, val)
    assert ticks.at(5) == {
        names.INJECTED_STAMPS: val,
        names.STAMP_DIAGNOSTICS: val,
        names.COVERAGE_GAPS: [None],
    }


def test_a_rebuilt_bank_rebuilds_every_manifest_and_stamps(built):
    instance, ticks = built
    _built(instance, names.SOURCE_BANK)
    every = sorted(f"{d}|{s}" for d in DATASETS for s in SPLITS)
    assert ticks.at(60) == {
        names.INJECTION_MANIFEST: every,
        names.INJECTED_STAMPS: every,
        names.STAMP_DIAGNOSTICS: every,
    }


def test_a_new_sweep_file_ripples_down_in_order_each_partition_once(built):
    instance, ticks = built
    new = "sweep-100p005-105p010"
    instance.add_dynamic_partitions(sweep_partitions.name, [new])
    history = []  # (minutes since the change, asset, partitions), every request, built at once
    for minute in range(5, 150 + 1, 5):  # two ticks and a half, evaluations every 5 minutes
        for asset, partitions in ticks.at(5).items():
            history.append((minute, asset, partitions))
            _built(instance, asset, partitions)
    order = [asset for _, asset, _ in history]
    assert len(order) == len(set(order)), history  # every asset requested once
    every = sorted(f"{d}|{s}" for d in DATASETS for s in SPLITS)
    assert {asset: partitions for _, asset, partitions in history} == {
        names.SWEEP_LRGS: [new],
        names.BRICK_LRG_COUNTS: [None],
        names.REGION_BRICKS: [None],
        names.REGION_METRICS: [None],
        names.REGION_SELECTIONS: sorted(selection_partition_keys()),
        names.PARENT_SAMPLE: sorted(SPLITS),
        names.GALAXY_CUTOUTS: sorted(SPLITS),
        names.INJECTION_MANIFEST: every,
        names.INJECTED_STAMPS: every,
        names.STAMP_DIAGNOSTICS: every,
        names.SHORTCUT_REPORT: sorted(DATASETS),
        names.COVERAGE_GAPS: [None],
        names.HARD_NEGATIVES: [None],  # the sweep proxy reads sweep_lrgs
        names.BASELINE_SCORES: sorted(DATASETS),
        names.SELECTION_FUNCTION: sorted(f"{d}|{m}" for d in DATASETS for m in MODELS),
    }
    graph = defs.resolve_asset_graph()
    when = {asset: minute for minute, asset, _ in history}
    for asset in when:  # never before an upstream: each level waits for the ones above it
        for parent in graph.get(AssetKey(asset)).parent_keys:
            if parent.to_user_string() in when:
                assert when[parent.to_user_string()] <= when[asset], (parent, asset, history)
    assert when[names.SWEEP_LRGS] == 30, history  # at the first tick (the fixture left off at half past)
