"""Dataset specs: the examples load; every bad input is an error naming the file, the key and what is allowed."""

import dataclasses
import shutil
from pathlib import Path

import pytest

from dhs_core.catalog.selection import selection_partition_keys
from dhs_core.datasets.spec import load_spec, load_specs
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.inject.engine import EngineConfig
from dhs_core.manifest.build import ManifestConfig
from dhs_core.manifest.draws import LensShapeModel
from tests.conftest import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "docs" / "datasets"


def _spec(tmp_path: Path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_the_examples_resolve_to_the_core_settings():
    specs = load_specs(str(EXAMPLES))
    assert set(specs) == {"train", "grid", "snr_integrated", "train_dmag"}
    train, grid = specs["train"], specs["grid"]
    assert train.manifest == ManifestConfig.for_tier(
        "train", lens_shape=LensShapeModel("light"), brightness_mode="snr"
    )
    assert train.engine == EngineConfig() and train.bank is None
    assert train.selection_sets == tuple(selection_partition_keys())
    assert grid.manifest == ManifestConfig.for_tier(
        "grid", grid="grid_medium", brightness_mode="dmag", replicates=1
    )
    assert grid.manifest.n_galaxies == 25 and grid.manifest.control_frac == 0.10  # the tier's defaults
    assert grid.engine == EngineConfig(oversample=8)
    assert grid.selection_sets == ("topk_density", "strat_custom_n_lrg")
    assert specs["snr_integrated"].manifest.snr_definition == "integrated"
    # the dmag comparison differs from the train tier in its brightness mode only
    dmag = specs["train_dmag"]
    assert dmag.manifest == dataclasses.replace(train.manifest, brightness_mode="dmag")


def test_the_hash_follows_the_resolved_settings(tmp_path):
    base = load_spec(_spec(tmp_path, "name: a\nmanifest: {tier: grid}\n"))
    explicit = load_spec(_spec(tmp_path, "name: a\nmanifest: {tier: grid, n_galaxies: 25}\n", "b.yaml"))
    edited = load_spec(_spec(tmp_path, "name: a\nmanifest: {tier: grid, n_galaxies: 26}\n", "c.yaml"))
    assert base.spec_hash == explicit.spec_hash  # the tier's default written out: the same dataset
    assert edited.spec_hash != base.spec_hash and len(base.spec_hash) == 16
    assert base.record()["manifest"]["n_galaxies"] == 25


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("name: a\ncolour: red\n", ConfigError, "spec.yaml: colour.*one of the keys name, selection_sets"),
        (
            "name: a\nmanifest: {tier: train, grid_name: x}\n",
            ConfigError,
            "manifest.grid_name.*one of the keys tier",
        ),
        (
            "name: a\nmanifest: {n_galaxies: lots}\n",
            ConfigError,
            "manifest.n_galaxies='lots'.*type int or null",
        ),
        ("name: a\nmanifest: {replicates: true}\n", ConfigError, "manifest.replicates=True.*type int"),
        ("name: a\nengine: {oversample: 2.5}\n", ConfigError, "engine.oversample=2.5.*type int"),
        ("name: a\nmanifest: {grid: grid_huge}\n", ConfigError, "spec.yaml: grid"),
        ("name: a\nmanifest: {tier: huge}\n", ConfigError, "spec.yaml: manifest.tier='huge'"),
        ("name: a\nengine: {snr_band: u}\n", ConfigError, "spec.yaml: engine.snr_band"),
        (
            "name: a\nmanifest: {lens_shape: {mode: round}}\n",
            ConfigError,
            "spec.yaml: manifest.lens_shape='round'.*light or uniform",
        ),
        ("name: a\nmanifest: {lens_shape: {shape: light}}\n", ConfigError, "manifest.lens_shape.shape"),
        ("name: a\nselection_sets: [topk_density, best_ones]\n", ConfigError, "selection_sets='best_ones'"),
        ("name: a\nselection_sets: []\n", ConfigError, "selection_sets"),
        ("name: my set\n", ConfigError, "spec.yaml: name='my set'"),
        ("- a list\n", ConfigError, "spec.yaml: the spec"),
        ("name: [\n", InputFileError, "not valid YAML"),
        (
            "name: a\nbank: banks/missing.h5\n",
            InputFileError,
            "missing.h5.*named by .*spec.yaml \\(key bank\\)",
        ),
    ],
)
def test_a_bad_spec_names_the_file_the_key_and_what_is_allowed(tmp_path, text, error, message):
    with pytest.raises(error, match=message):
        load_spec(_spec(tmp_path, text))


def test_a_bank_path_is_relative_to_the_spec(tmp_path, stamp_bank):
    shutil.copy(stamp_bank, tmp_path / "bank.h5")
    assert load_spec(_spec(tmp_path, "name: a\nbank: bank.h5\n")).bank == str(tmp_path / "bank.h5")


def test_two_specs_of_one_name_are_an_error_naming_both(tmp_path):
    _spec(tmp_path, "name: same\n", "one.yaml")
    _spec(tmp_path, "name: same\nmanifest: {tier: grid}\n", "two.yml")
    with pytest.raises(ConfigError, match="two.yml: name='same'.*one.yaml has it"):
        load_specs(str(tmp_path))


def test_snr_bins_from_the_anchors_follow_them(tmp_path):
    import pyarrow as pa

    from dhs_core.tables import write_table

    folder = tmp_path / "datasets"
    folder.mkdir()
    spec = folder / "real.yaml"
    spec.write_text("name: real\nmanifest: {snr_bins: anchors}\n")
    with pytest.raises(InputFileError, match="anchor_stamps.*0 anchor.*materialize anchor_stamps first"):
        load_spec(str(spec))
    anchors = pa.table(
        {
            "arc_snr_peak": [25.7, 30.0, 39.0, 40.0, 55.0, 60.5, None],
            "status": ["ok"] * 5 + ["partial", "no_pixels"],
        }
    )
    write_table(anchors, str(tmp_path), "anchor_stamps")
    first = load_spec(str(spec))
    assert first.manifest.snr_bins == ((25.7, 36.0, 0.3333), (36.0, 45.0, 0.3333), (45.0, 60.51, 0.3333))
    write_table(
        anchors.slice(0, 4), str(tmp_path), "anchor_stamps"
    )  # anchors re-measured: the spec is another
    assert load_spec(str(spec)).spec_hash != first.spec_hash
    spec.write_text("name: real\nmanifest: {snr_bins: anchors, snr_definition: integrated}\n")
    with pytest.raises(ConfigError, match="snr_definition"):
        load_spec(str(spec))
