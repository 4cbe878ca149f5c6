"""What a dataset's partitions carry about the spec that made them: the resolved spec and its hash, in the Parquet
files' key-value metadata and in ``dataset.json`` beside them.

The Parquet metadata travels with every file (a copied shard still says what it is); ``dataset.json`` is what a
person or a script reads. A reader takes ``dataset.json`` and checks it against the files' hash, so a partition whose
two records disagree (a write interrupted between them) is an error, never a silent mix.
"""

from __future__ import annotations

import json
import os

from dhs_core.datasets.spec import DatasetSpec
from dhs_core.errors import InputFileError
from dhs_core.inject.engine import EngineConfig
from dhs_core.manifest.build import ManifestConfig
from dhs_core.tables import folder_parts, parquet_file, write_file

DATASET_FILE = "dataset.json"
SPEC_KEY = "dhs.dataset_spec"
HASH_KEY = "dhs.spec_hash"


def parquet_metadata(spec: DatasetSpec) -> dict[str, str]:
    """The key-value metadata every Parquet file of the spec's partitions carries."""
    return {SPEC_KEY: json.dumps(spec.record(), sort_keys=True), HASH_KEY: spec.spec_hash}


def dataset_document(spec: DatasetSpec) -> dict:
    """``dataset.json``: the resolved spec, its hash and the file it was read from."""
    return {"spec": spec.record(), "spec_hash": spec.spec_hash, "spec_file": spec.path}


def write_dataset_file(spec: DatasetSpec, folder: str) -> str:
    """Write ``dataset.json`` into ``folder`` atomically; return its path."""
    text = json.dumps(dataset_document(spec), indent=2, sort_keys=True) + "\n"
    return write_file(text.encode(), os.path.join(folder, DATASET_FILE))


def recorded_spec(folder: str) -> DatasetSpec:
    """The spec a partition folder was built with (its ``dataset.json``), checked against its Parquet files' hash.

    A folder without ``dataset.json`` (built before dataset specs existed, or by hand), or whose files carry another
    hash or none, is an error naming it: its settings are unknown, and a default would be a guess."""
    path = os.path.join(folder, DATASET_FILE)
    try:
        with open(path) as fh:
            document = json.load(fh)
    except FileNotFoundError:
        raise InputFileError(
            path, "missing: the partition does not say which dataset spec made it; rebuild it"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(path, f"unreadable: {exc}") from None
    spec = spec_from_record(document["spec"], document.get("spec_file", ""))
    if spec.spec_hash != document.get("spec_hash"):
        raise InputFileError(
            path, f"its spec hashes to {spec.spec_hash}, not to the {document.get('spec_hash')} it records"
        )
    for part in folder_parts(folder):
        metadata = parquet_file(part).schema_arrow.metadata or {}
        found = metadata.get(HASH_KEY.encode(), b"").decode() or "none"
        if found != spec.spec_hash:
            raise InputFileError(
                part,
                f"written with spec hash {found}, but {path} says {spec.spec_hash}; rebuild the partition",
            )
    return spec


def common_spec(folders: list[str]) -> DatasetSpec:
    """The one spec the partition ``folders`` were built with; folders of two specs (two datasets, or one dataset
    with some splits rebuilt after an edit and others not) are an error naming each folder's hash."""
    specs = {folder: recorded_spec(folder) for folder in folders}
    hashes = {folder: spec.spec_hash for folder, spec in specs.items()}
    if len(set(hashes.values())) > 1:
        raise InputFileError(
            ", ".join(folders),
            "built from different dataset specs ("
            + ", ".join(f"{os.path.basename(f)}: {h}" for f, h in hashes.items())
            + "): materialize the stale ones again before using them together",
        )
    return specs[folders[0]]


def require_current(spec: DatasetSpec, current: DatasetSpec, what: str) -> None:
    """An error naming the spec file when something was built from ``spec`` (``what``: e.g. "the stamps of ... were
    built") but the dataset's spec is now ``current``: it is stale, and using it under the dataset's name would mix
    two recipes."""
    if current.spec_hash != spec.spec_hash:
        raise InputFileError(
            current.path,
            f"edited after {what} (spec hash {spec.spec_hash} then, {current.spec_hash} now): "
            "materialize it again first",
        )


def spec_from_record(record: dict, path: str = "") -> DatasetSpec:
    """A :class:`DatasetSpec` from its :meth:`DatasetSpec.record` (``path``: where the spec was read from)."""
    return DatasetSpec(
        record["name"],
        tuple(record["selection_sets"]),
        record["bank"],
        ManifestConfig.from_record(record["manifest"]),
        EngineConfig(**record["engine"]),
        path,
    )
