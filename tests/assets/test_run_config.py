"""Launchpad configuration and the core's dataclasses cannot drift apart: every default is the core's. (The manifest
and the engine have no launchpad settings: they come from the dataset spec, validated against the same dataclasses,
tests/core/datasets/test_spec.py.)"""

import dataclasses
import importlib
import pkgutil

import dagster
import pytest

import dhs_assets
from dhs_assets.bank.config import BANK_FIELDS, SourceBankRunConfig
from dhs_assets.catalog.config import (
    LRG_FIELDS,
    PARENT_FIELDS,
    REGION_FIELDS,
    SELECTION_FIELDS,
    SPLIT_FIELDS,
    LrgRunConfig,
    ParentRunConfig,
    RegionRunConfig,
    SelectionRunConfig,
)
from dhs_assets.diagnostics.settings import DIAGNOSTICS_FIELDS, DiagnosticsSettings
from dhs_assets.evaluate.config import (
    ANCHOR_FIELDS,
    BASELINE_FIELDS,
    HARD_NEGATIVE_FIELDS,
    SELECTION_FUNCTION_FIELDS,
    AnchorRunConfig,
    BaselineRunConfig,
    HardNegativeRunConfig,
    SelectionFunctionRunConfig,
)
from dhs_assets.run_config import CoreFields, derived_config
from dhs_assets.stamps.config import JOB_FIELDS, LIMITS_FIELDS, StampsRunConfig
from dhs_core.errors import ConfigError
from dhs_core.inject.engine import EngineConfig

CONFIGS = {
    LrgRunConfig: (LRG_FIELDS,),
    RegionRunConfig: (REGION_FIELDS, SPLIT_FIELDS),
    SelectionRunConfig: (SELECTION_FIELDS,),
    ParentRunConfig: (PARENT_FIELDS,),
    SourceBankRunConfig: (BANK_FIELDS,),
    StampsRunConfig: (JOB_FIELDS, LIMITS_FIELDS),
    AnchorRunConfig: (ANCHOR_FIELDS,),
    HardNegativeRunConfig: (HARD_NEGATIVE_FIELDS,),
    BaselineRunConfig: (BASELINE_FIELDS,),
    SelectionFunctionRunConfig: (SELECTION_FUNCTION_FIELDS,),
    DiagnosticsSettings: (DIAGNOSTICS_FIELDS,),
}


def _launchpad(value):
    return [_launchpad(v) for v in value] if isinstance(value, tuple) else value


def test_every_launchpad_config_class_is_derived_from_the_core():
    """A new Config class in the wiring must come from core dataclasses too (and be listed here)."""
    found = set()
    for module in pkgutil.walk_packages(dhs_assets.__path__, "dhs_assets."):
        for value in vars(importlib.import_module(module.name)).values():
            if (
                isinstance(value, type)
                and issubclass(value, dagster.Config | dagster.ConfigurableResource)
                and value.__module__ == module.name
                and value.model_fields
                and not value.__name__.endswith("Root")
            ):
                found.add(value)
    resources = {c for c in found if issubclass(c, dagster.ConfigurableResource)} - {DiagnosticsSettings}
    assert found - resources == set(CONFIGS)


@pytest.mark.parametrize("cls", list(CONFIGS), ids=lambda c: c.__name__)
def test_each_field_has_the_core_default_and_nothing_else_is_configurable(cls):
    sources = CONFIGS[cls]
    expected = {}
    for source in sources:
        for f in dataclasses.fields(source.core):
            if f.name in source.exclude:
                continue
            name = source.rename.get(f.name, f.name)
            default = (
                source.override[f.name][1]
                if f.name in source.override
                else (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            )
            expected[name] = _launchpad(default)
    assert {name: field.default for name, field in cls.model_fields.items()} == expected


def test_the_defaults_build_the_core_defaults():
    stamps = StampsRunConfig()
    assert stamps.limits() == LIMITS_FIELDS.core()
    engine = EngineConfig(oversample=8)  # the physics is the dataset spec's, handed in
    assert stamps.job("root", "10.1", "bank.h5", engine) == JOB_FIELDS.core(
        "root", "bank.h5", engine=engine, sweep_version="10.1"
    )
    assert stamps.processes() == JOB_FIELDS.core("root", "bank.h5").processes
    assert (
        RegionRunConfig().regions() == REGION_FIELDS.core()
        and RegionRunConfig().splits() == SPLIT_FIELDS.core()
    )
    for cls, source in (
        (LrgRunConfig, LRG_FIELDS),
        (SelectionRunConfig, SELECTION_FIELDS),
        (ParentRunConfig, PARENT_FIELDS),
        (SourceBankRunConfig, BANK_FIELDS),
        (DiagnosticsSettings, DIAGNOSTICS_FIELDS),
    ):
        assert cls().core() == source.core()


def test_a_changed_core_default_reaches_the_launchpad_and_values_come_back_as_the_core_types():
    @dataclasses.dataclass(frozen=True)
    class Core:
        radius_arcsec: float = 1.5
        bins: tuple = ((0.0, 1.0, 0.5), (1.0, 2.0, 0.5))
        names: tuple[str, ...] = ("a",)

    fields = CoreFields(Core, rename={"names": "labels"})
    derived = derived_config(dagster.Config, "Derived", fields)
    assert derived().radius_arcsec == 1.5 and derived().bins == [[0.0, 1.0, 0.5], [1.0, 2.0, 0.5]]
    assert fields.build(derived(labels=["x", "y"])) == Core(names=("x", "y"))
    Changed = dataclasses.make_dataclass("Changed", [("radius_arcsec", float, 2.5)], frozen=True)
    assert derived_config(dagster.Config, "Again", CoreFields(Changed))().radius_arcsec == 2.5


def test_launchpad_values_go_through_the_core_validation():
    with pytest.raises(ConfigError, match="workers"):
        StampsRunConfig(workers=-1).processes()
    with pytest.raises(ConfigError, match="max_failed_fraction"):
        StampsRunConfig(max_failed_fraction=2.0).limits()
    with pytest.raises(ConfigError, match="variant"):
        ParentRunConfig(variant="v9").core()
