"""The dataset sensor: a spec file appearing adds a dataset partition, an edit records the spec's new hash as data
version (and only an edit: every recorded event counts as an update downstream), a bad spec registers nothing."""

import pytest
from dagster import build_sensor_context
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from dhs_assets.datasets.partitions import dataset_partitions, dataset_split
from dhs_assets.datasets.sensors import dataset_specs_sensor, recorded_version, register_specs
from dhs_assets.resources import DataRoot
from dhs_core.datasets.spec import load_spec
from tests.assets.datasets import write_spec


def _tick(instance, data):
    with build_sensor_context(
        instance=instance, resources={"data_root": DataRoot(path=str(data))}
    ) as context:
        result = dataset_specs_sensor(context)
    for request in result.dynamic_partitions_requests:  # what the daemon does with the sensor's result
        instance.add_dynamic_partitions(dataset_partitions.name, list(request.partition_keys))
    for event in result.asset_events:
        instance.report_runless_asset_event(event)
    return result


def _skipped(result) -> str:
    return result.skip_reason.skip_message


def test_specs_appearing_changing_and_staying(instance, tmp_path):
    data = tmp_path / "data"
    assert "no dataset specs folder" in _skipped(_tick(instance, data))
    train = write_spec(data, "train", "manifest: {tier: train, n_galaxies: 100}")
    write_spec(data, "grid", "selection_sets: [topk_density]\nmanifest: {tier: grid}")
    first = _tick(instance, data)
    assert sorted(first.dynamic_partitions_requests[0].partition_keys) == ["grid", "train"]
    hashes = {e.partition: e.tags[DATA_VERSION_TAG] for e in first.asset_events}
    assert hashes["train"] == load_spec(str(train)).spec_hash and len(hashes) == 2
    assert sorted(instance.get_dynamic_partitions(dataset_partitions.name)) == ["grid", "train"]
    # nothing changed: nothing recorded (a re-recorded spec would mark its partitions stale)
    again = _tick(instance, data)
    assert not again.dynamic_partitions_requests and not again.asset_events
    # a comment or a key set to its default changes nothing resolved: still no event
    train.write_text(train.read_text() + "# the seed's tier\nengine: {oversample: 4}\n")
    assert not _tick(instance, data).asset_events
    # an edit: one event, the new hash, and no new partition
    write_spec(data, "train", "manifest: {tier: train, n_galaxies: 120}")
    edited = _tick(instance, data)
    assert [e.partition for e in edited.asset_events] == ["train"] and not edited.dynamic_partitions_requests
    assert recorded_version(instance, "train") == load_spec(str(train)).spec_hash != hashes["train"]


@pytest.mark.parametrize(
    "body, says",
    [
        ("manifest: {tier: train, n_galaxy: 3}", "manifest.n_galaxy"),
        ("manifest: {replicates: two}", "manifest.replicates"),
        ("manifest: {grid: grid_huge}", "grid"),
        ("selection_sets: [topk_everything]", "selection_sets"),
        ("bank: missing.h5", "missing.h5"),
    ],
)
def test_a_bad_spec_registers_nothing_and_says_which_file_and_key(instance, tmp_path, body, says):
    data = tmp_path / "data"
    write_spec(data, "good", "manifest: {tier: debug}")
    write_spec(data, "bad", body)
    result = _tick(instance, data)
    assert "bad.yaml" in _skipped(result) and says in _skipped(result)
    assert not instance.get_dynamic_partitions(dataset_partitions.name)


def test_two_specs_of_one_name_are_refused(instance, tmp_path):
    data = tmp_path / "data"
    write_spec(data, "train", "manifest: {tier: debug}")
    (data / "datasets" / "copy.yaml").write_text((data / "datasets" / "train.yaml").read_text())
    result = _tick(instance, data)
    assert "train.yaml: name='train'" in _skipped(result) and "copy.yaml has it" in _skipped(result)


def test_registering_at_once_does_what_the_sensor_does(instance, tmp_path):
    data = tmp_path / "data"
    write_spec(data, "one", "manifest: {tier: debug}")
    assert register_specs(instance, data) == ["one"] and register_specs(instance, data) == []
    assert recorded_version(instance, "one") == load_spec(str(data / "datasets" / "one.yaml")).spec_hash
    assert dataset_split("one|val") == ("one", "val")
