"""Dataset specs: one YAML file per training or evaluation set, validated against the core's own settings.

A spec names its selection sets, its source bank and two sections whose keys are exactly the fields of the core's
dataclasses (so the schema cannot drift from what the code accepts, and every default is the core's):

.. code-block:: yaml

    name: train                       # the dataset's name (letters, digits, _ and -)
    selection_sets: all               # or a list of selection-set keys, e.g. [topk_density, strat_custom_n_lrg]
    bank: null                        # null: the data root's source_bank; else the path of a bank HDF5 file
    manifest:                         # ManifestConfig's fields (tier defaults filled by ManifestConfig.for_tier)
      tier: train
      grid: grid_sota                 # a named grid or a mapping (name and the five axes)
      brightness_mode: snr
      snr_definition: peak
      lens_shape: {mode: light}       # LensShapeModel's fields
    engine:                           # EngineConfig's fields
      oversample: 4

Every error names the file and the key, and says what is allowed. ``DatasetSpec.spec_hash`` identifies the resolved
settings (defaults filled), so an edit that changes nothing resolved keeps the hash, and any other edit changes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass

import yaml

from dhs_core.asset_names import ANCHOR_STAMPS, DATASET_SPECS
from dhs_core.catalog.selection import selection_partition_keys
from dhs_core.conventions import DATASET_NAME
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.inject.engine import EngineConfig
from dhs_core.manifest.build import ManifestConfig
from dhs_core.manifest.draws import LensShapeModel

TOP_LEVEL = ("name", "selection_sets", "bank", "manifest", "engine")
SNR_BINS_FROM_ANCHORS = "anchors"  # manifest.snr_bins: set from the measured S/N of the data root's anchors
# ManifestConfig fields a spec does not set: the stamp geometry is the survey's, not a recipe's
MANIFEST_FIXED = ("stamp_size", "bandset")


@dataclass(frozen=True)
class DatasetSpec:
    """A validated spec: its ``name``, the ``selection_sets`` (partition keys), the ``bank`` file (None: the data
    root's), the resolved ``manifest`` and ``engine`` settings, and the ``path`` it was read from."""

    name: str
    selection_sets: tuple[str, ...]
    bank: str | None
    manifest: ManifestConfig
    engine: EngineConfig
    path: str

    def record(self) -> dict:
        """The resolved spec as plain values (JSON-ready), for metadata and ``dataset.json``."""
        return {
            "name": self.name,
            "selection_sets": list(self.selection_sets),
            "bank": self.bank,
            "manifest": self.manifest.record(),
            "engine": dataclasses.asdict(self.engine),
        }

    @property
    def spec_hash(self) -> str:
        """sha256 (16 hex digits) of the resolved spec's canonical JSON."""
        text = json.dumps(self.record(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_spec(path: str) -> DatasetSpec:
    """The spec in the YAML file ``path``, validated and resolved."""
    try:
        with open(path) as fh:
            document = yaml.safe_load(fh)
    except OSError as exc:
        raise InputFileError(path, f"cannot read the dataset spec: {exc}") from None
    except yaml.YAMLError as exc:
        raise InputFileError(path, f"not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"{path}: the spec", type(document).__name__, "a mapping of the keys " + ", ".join(TOP_LEVEL)
        )
    _known_keys(path, "", document, TOP_LEVEL)
    name = document.get("name")
    if not isinstance(name, str) or not DATASET_NAME.match(name):
        raise ConfigError(f"{path}: name", name, "a name of letters, digits, _ and -")
    manifest_values = _section(
        path, "manifest", document.get("manifest") or {}, ManifestConfig, MANIFEST_FIXED
    )
    shape = manifest_values.pop("lens_shape", None)
    shape_values = (
        _section(path, "manifest.lens_shape", shape, LensShapeModel, ()) if shape is not None else None
    )
    engine_values = _section(path, "engine", document.get("engine") or {}, EngineConfig, ())
    if manifest_values.get("snr_bins") == SNR_BINS_FROM_ANCHORS:
        manifest_values["snr_bins"] = _anchor_snr_bins(path, manifest_values.get("snr_definition", "peak"))
    try:  # the core's own checks, their errors prefixed with the file
        if shape_values is not None:
            manifest_values["lens_shape"] = LensShapeModel(**shape_values)
        manifest = ManifestConfig.for_tier(**manifest_values)
        engine = EngineConfig(**engine_values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.field}", exc.value, exc.allowed) from None
    return DatasetSpec(
        name,
        _selection_sets(path, document.get("selection_sets", "all")),
        _bank(path, document.get("bank")),
        manifest,
        engine,
        path,
    )


def _anchor_snr_bins(path: str, definition: str) -> tuple:
    """``snr_bins: anchors``: the bins the measured peak arc S/N of the data root's anchors suggests
    (``dhs_core.evaluate.anchors.snr_bins_from_anchors``); the spec's hash then follows the anchors. The spec lives in
    ``<data root>/datasets/``; no usable anchor there is an error naming the anchors' folder."""
    from dhs_core.evaluate.anchors import snr_bins_from_anchors
    from dhs_core.evaluate.real_stamps import MEASURABLE
    from dhs_core.tables import materialized_partitions, partition_dir, read_table

    if definition != "peak":
        raise ConfigError(
            f"{path}: manifest.snr_definition",
            definition,
            "peak with snr_bins: anchors (how they are measured)",
        )
    data_root = os.path.dirname(os.path.dirname(os.path.abspath(path)))
    folder = partition_dir(data_root, ANCHOR_STAMPS)
    anchors = (
        read_table(data_root, ANCHOR_STAMPS, columns=["arc_snr_peak", "status"])
        if materialized_partitions(data_root, ANCHOR_STAMPS)
        else None
    )
    snr = (
        []
        if anchors is None
        else [
            s
            for s, status in zip(anchors["arc_snr_peak"].to_pylist(), anchors["status"].to_pylist())
            if status in MEASURABLE
        ]
    )
    bins = snr_bins_from_anchors(snr)
    if not bins:
        raise InputFileError(
            folder,
            f"{path} sets manifest.snr_bins from the anchors, but {len(snr)} anchor(s) have a measured S/N here "
            "(at least 2 needed): materialize anchor_stamps first",
        )
    return bins


def load_specs(folder: str) -> dict[str, DatasetSpec]:
    """Every spec (``*.yaml``, ``*.yml``) in ``folder``, by name; two files of one name are an error naming both."""
    specs: dict[str, DatasetSpec] = {}
    for entry in sorted(os.listdir(folder)):
        if entry.endswith((".yaml", ".yml")):
            spec = load_spec(os.path.join(folder, entry))
            if spec.name in specs:
                raise ConfigError(
                    f"{spec.path}: name",
                    spec.name,
                    f"a name no other spec has ({specs[spec.name].path} has it)",
                )
            specs[spec.name] = spec
    return specs


def specs_folder(data_root: str) -> str:
    """Where a data root keeps its dataset specs: ``<data_root>/datasets/``."""
    return os.path.join(str(data_root), DATASET_SPECS)


def dataset_spec(data_root: str, name: str) -> DatasetSpec:
    """The spec named ``name`` among the data root's specs; an error naming the folder if there is none."""
    folder = specs_folder(data_root)
    specs = load_specs(folder) if os.path.isdir(folder) else {}
    if name not in specs:
        raise InputFileError(
            folder, f"no dataset spec named {name!r} (there: {', '.join(sorted(specs)) or 'none'})"
        )
    return specs[name]


def _known_keys(path: str, where: str, values: dict, allowed: typing.Iterable[str]) -> None:
    allowed = tuple(allowed)
    unknown = [k for k in values if k not in allowed]
    if unknown:
        raise ConfigError(
            f"{path}: {where}{unknown[0]}", values[unknown[0]], "one of the keys " + ", ".join(allowed)
        )


def _section(path: str, where: str, values, core: type, fixed: tuple[str, ...]) -> dict:
    """The keys of a section, each checked against the type of the core dataclass's field of that name; tuples
    (e.g. ``snr_bins``) come back as tuples."""
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: {where}", values, f"a mapping of {core.__name__}'s fields")
    fields = {f.name: f for f in dataclasses.fields(core) if f.name not in fixed}
    _known_keys(path, f"{where}.", values, fields)
    hints = typing.get_type_hints(core)
    out = {}
    for key, value in values.items():
        expected = hints[key]
        if key == "grid":  # a named grid or a user grid mapping: ManifestConfig.for_tier checks which
            if value is not None and not isinstance(value, str | dict):
                raise ConfigError(
                    f"{path}: {where}.grid", value, "a grid name or a mapping (name and five axes)"
                )
            out[key] = value
            continue
        if key == "lens_shape" or (key == "snr_bins" and value == SNR_BINS_FROM_ANCHORS):
            out[key] = value
            continue
        out[key] = _typed(path, f"{where}.{key}", value, expected)
    return out


def _typed(path: str, where: str, value, expected):
    """``value`` if it is of the field's type (an int where a float is expected is a float; a bool is never a
    number), lists as tuples where the field is a tuple."""
    options = (
        typing.get_args(expected)
        if typing.get_origin(expected) in (typing.Union, types.UnionType)
        else (expected,)
    )
    if value is None and type(None) in options:
        return None
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if (option is tuple or typing.get_origin(option) is tuple) and isinstance(value, list):
            return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    names = " or ".join(getattr(o, "__name__", str(o)).replace("NoneType", "null") for o in options)
    raise ConfigError(f"{path}: {where}", value, f"a value of type {names}")


def _selection_sets(path: str, value) -> tuple[str, ...]:
    keys = selection_partition_keys()
    if value == "all":
        return tuple(keys)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: selection_sets", value, "all, or a non-empty list of selection-set keys")
    unknown = [v for v in value if v not in keys]
    if unknown:
        raise ConfigError(f"{path}: selection_sets", unknown[0], f"one of {keys}")
    return tuple(dict.fromkeys(value))


def _bank(path: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(
            f"{path}: bank", value, "null (the data root's source bank) or the path of a bank file"
        )
    bank = value if os.path.isabs(value) else os.path.join(os.path.dirname(path), value)
    if not os.path.isfile(bank):
        raise InputFileError(bank, f"the source bank named by {path} (key bank) does not exist")
    return os.path.abspath(bank)
