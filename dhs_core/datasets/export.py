"""Export a dataset's stamps as training shards: only what a model may see, plus the label, and a dataset card.

The shards hold the columns of ``dhs_core.diagnostics.audit.TRAINING_EXPORT`` (the pixels, their inverse variance and
mask bits, the PSF sizes, depth and extinction: the columns the column audit tested) and ``label`` (1: an injected arc,
0: a control), for the ok stamps of each split; never ``is_control``, ``task_id``, ``theta_e_arcsec``, ``arc_snr_*`` or
any other column that carries the label. They follow the Hugging Face layout (``data/<split>-<i>-of-<n>.parquet``) so
that ``datasets.load_dataset("parquet", data_files=..., streaming=True)`` and plain pyarrow both read them; the card,
``README.md``, carries the resolved spec, the counts per split and class, the shortcut report's gate rows and the
sha256 of every shard in its YAML front matter, with the verdicts of the dataset's report (shortcut gate, column audit,
null injection, split leakage, class symmetry) when its report was made from the same spec.

The export is written beside ``out`` and moved into place whole; an existing ``out`` is replaced only if it is an
earlier export (its card says so), never a folder of something else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from dhs_core.asset_names import INJECTED_STAMPS, SHORTCUT_REPORT
from dhs_core.catalog.splits import SPLITS
from dhs_core.conventions import BANDS, STAMP_SIZE
from dhs_core.datasets.record import HASH_KEY, common_spec, parquet_metadata, require_current
from dhs_core.datasets.spec import DatasetSpec, dataset_spec
from dhs_core.diagnostics.audit import LABEL_BEARING, TRAINING_EXPORT
from dhs_core.diagnostics.training_report import VERDICTS_KEY
from dhs_core.errors import ConfigError, InputFileError
from dhs_core.inject.columns import ARRAY_COLUMNS
from dhs_core.pixels import pixels_array
from dhs_core.stamps.read import stamp_files
from dhs_core.tables import parquet_file, partition_dir, partition_files, replace_folder

LABEL = "label"  # 1: an injected arc, 0: a control
CARD = "README.md"
CARD_MARK = "dhs_export"  # the front-matter key that says a folder is a dhs export
SHARD_ROWS = 4096  # rows per shard (~0.25 GB of 64 x 64 x 3 float32 images with invvar)
ROW_GROUP_ROWS = 256  # rows per row group: what a streaming reader decodes at a time
STAMP_SHAPE = (len(BANDS), STAMP_SIZE, STAMP_SIZE)


def export_dataset(
    data_root: str, name: str, out: str, splits: tuple[str, ...] = SPLITS, shard_rows: int = SHARD_ROWS
) -> dict:
    """Write the ok stamps of dataset ``name``'s ``splits`` as shards under ``out`` with their card; return the card's
    front matter. Errors name what is wrong: an unknown split, a split whose stamps are missing, stamps made from
    a spec edited since (or splits made from two versions of it)."""
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise ConfigError("export --split", unknown or list(splits), f"one or more of {SPLITS}")
    if shard_rows < 1:
        raise ConfigError("export shard_rows", shard_rows, ">= 1")
    current = dataset_spec(data_root, name)
    folders = {s: partition_dir(data_root, INJECTED_STAMPS, f"{name}|{s}") for s in splits}
    for split, folder in folders.items():
        if not os.path.isdir(folder) or not stamp_files(folder):
            raise InputFileError(
                folder, f"no stamps of split {split!r}: materialize injected_stamps {name}|{split}"
            )
    spec = common_spec(list(folders.values()))
    require_current(spec, current, f"the stamps of {', '.join(folders.values())} were built")
    leaking = sorted(set(TRAINING_EXPORT) & set(LABEL_BEARING))
    if leaking:  # the audit's declaration is the contract; refuse rather than export a label-bearing column
        raise ConfigError("TRAINING_EXPORT", leaking, "no label-bearing column (dhs_core.diagnostics.audit)")
    _refuse_foreign(out)
    staging = os.path.join(
        os.path.dirname(os.path.abspath(out)), f".{os.path.basename(out)}.{uuid.uuid4().hex}.tmp"
    )
    os.makedirs(os.path.join(staging, "data"))
    try:
        shards = {
            split: _write_split(folder, split, staging, spec, shard_rows) for split, folder in folders.items()
        }
        card = _card(spec, shards, _verdicts(data_root, spec))
        with open(os.path.join(staging, CARD), "w") as fh:
            fh.write(_card_text(card))
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def as_lists(table: pa.Table) -> pa.Table:
    """The table with its pixel columns (bytes in the stamps: ``dhs_core.pixels``) as fixed-size lists of their values,
    flattened in C order, as training libraries (Hugging Face datasets, pandas, torch) read them without a decoder."""
    for name in ARRAY_COLUMNS:
        if name in table.column_names:
            pixels = pixels_array(table[name], name)
            values = pa.FixedSizeListArray.from_arrays(
                pa.array(pixels.reshape(-1)), int(np.prod(pixels.shape[1:]))
            )
            table = table.set_column(table.schema.get_field_index(name), name, values)
    return table


def _write_split(folder: str, split: str, staging: str, spec: DatasetSpec, shard_rows: int) -> list[dict]:
    """Stream the split's ok stamps, row group by row group, into shards of ``shard_rows``; return each shard's
    file, rows, rows per class and sha256."""
    shards, writer, schema = [], None, None
    for path in stamp_files(folder):
        source = parquet_file(path)
        for batch in source.iter_batches(
            batch_size=ROW_GROUP_ROWS, columns=[*TRAINING_EXPORT, "is_control", "status"]
        ):
            ok = batch.column("status").to_numpy(zero_copy_only=False) == "ok"
            if not ok.any():
                continue
            table = pa.Table.from_batches([batch]).filter(pa.array(ok))
            label = ~table["is_control"].to_numpy(zero_copy_only=False).astype(bool)
            table = as_lists(table.select(list(TRAINING_EXPORT))).append_column(
                LABEL, pa.array(label.astype(np.int8))
            )
            if schema is None:
                schema = table.schema.with_metadata(parquet_metadata(spec))
            start = 0
            while start < table.num_rows:
                if writer is None:  # a new shard, under a hidden name until its count is known
                    shards.append(
                        {"path": os.path.join(staging, "data", f".{split}-{len(shards):05d}.parquet")}
                    )
                    shards[-1].update(rows=0, injection=0, control=0)
                    writer = pq.ParquetWriter(
                        shards[-1]["path"], schema, compression="zstd", compression_level=1
                    )
                shard = shards[-1]
                take = min(shard_rows - shard["rows"], table.num_rows - start)
                writer.write_table(table.slice(start, take), row_group_size=ROW_GROUP_ROWS)
                injected = int(label[start : start + take].sum())
                shard.update(
                    rows=shard["rows"] + take,
                    injection=shard["injection"] + injected,
                    control=shard["control"] + take - injected,
                )
                start += take
                if shard["rows"] == shard_rows:
                    writer.close()
                    writer = None
    if writer is not None:
        writer.close()
    if not shards:
        raise InputFileError(folder, f"no ok stamps in split {split!r}: nothing to export")
    out = []
    for index, shard in enumerate(shards):
        final = os.path.join(staging, "data", f"{split}-{index:05d}-of-{len(shards):05d}.parquet")
        os.replace(shard["path"], final)
        out.append(
            {
                "file": os.path.relpath(final, staging),
                "rows": shard["rows"],
                "injection": shard["injection"],
                "control": shard["control"],
                "sha256": _sha256(final),
            }
        )
    return out


def _verdicts(data_root: str, spec: DatasetSpec) -> dict | str:
    """The dataset's report verdicts (``TrainingReport.verdicts``) and gate rows, if its shortcut report was made
    from this spec; else why there are none."""
    try:
        path = partition_files(data_root, SHORTCUT_REPORT, spec.name)[0]
    except InputFileError:
        return f"no shortcut report for dataset {spec.name!r}: materialize shortcut_report {spec.name}"
    table = parquet_file(path).read()
    metadata = table.schema.metadata or {}
    made_from = metadata.get(HASH_KEY.encode(), b"").decode()
    if made_from != spec.spec_hash:
        return (
            f"the shortcut report at {path} was made from spec {made_from or 'unknown'}, not {spec.spec_hash}"
        )
    return {
        **json.loads(metadata[VERDICTS_KEY.encode()]),
        "gate_rows": json.loads(json.dumps(table.to_pylist(), default=float)),
    }


def _card(spec: DatasetSpec, shards: dict[str, list[dict]], verdicts) -> dict:
    counts = {
        split: {
            "rows": sum(s["rows"] for s in parts),
            "injection": sum(s["injection"] for s in parts),
            "control": sum(s["control"] for s in parts),
        }
        for split, parts in shards.items()
    }
    return {
        CARD_MARK: True,
        "dataset": spec.name,
        "spec_hash": spec.spec_hash,
        "columns": [*TRAINING_EXPORT, LABEL],
        "label": "1: injected lensed arc, 0: control (the same kind of galaxy, untouched)",
        "stamp_shape": list(STAMP_SHAPE),
        "counts": counts,
        "diagnostics": verdicts,
        "shards": {split: parts for split, parts in shards.items()},
        "spec": spec.record(),
        # what the Hugging Face loader reads to find the splits
        "configs": [
            {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in shards]}
        ],
    }


def _card_text(card: dict) -> str:
    front = yaml.safe_dump(card, sort_keys=False, default_flow_style=None, width=120)
    counts = "\n".join(
        f"| {split} | {c['rows']:,} | {c['injection']:,} | {c['control']:,} |"
        for split, c in card["counts"].items()
    )
    return f"""---
{front}---

# {card["dataset"]}: strong-lens training stamps from DESI Legacy Surveys DR10 South

Made by dhs from the dataset spec `{card["dataset"]}` (hash `{card["spec_hash"]}`; the resolved spec is above).
Each row is one stamp: `image` (g, r, z; 3 x 64 x 64 float32, nanomaggies, flattened), `invvar` (nMgy^-2, same
shape), `maskbits` (64 x 64 int32), the brick's PSF sizes (arcsec), r depth (mag) and E(B-V), and `label`.
Only ok stamps are exported; no column that carries the label (the injected configuration, the arc's S/N,
magnification, the task id) is included.

| split | stamps | injections | controls |
|---|---:|---:|---:|
{counts}

Load with pyarrow (`pyarrow.parquet.read_table("data/train-00000-of-00001.parquet")`) or with Hugging Face datasets:
`datasets.load_dataset("parquet", data_files={{"train": "data/train-*.parquet"}}, streaming=True)`.
"""


def read_card(folder: str) -> dict:
    """The front matter of an export's card; an error naming the folder if it has none."""
    path = os.path.join(folder, CARD)
    try:
        with open(path) as fh:
            text = fh.read()
        front = yaml.safe_load(text.split("---\n")[1]) if text.startswith("---\n") else None
    except (OSError, yaml.YAMLError, IndexError) as exc:
        raise InputFileError(path, f"not a dhs export card: {exc}") from None
    if not isinstance(front, dict) or not front.get(CARD_MARK):
        raise InputFileError(path, "not a dhs export card (no dhs_export: true in its front matter)")
    return front


def _refuse_foreign(out: str) -> None:
    if os.path.isdir(out) and os.listdir(out):
        read_card(out)  # an earlier export is replaced; anything else is an error naming it
    elif os.path.exists(out) and not os.path.isdir(out):
        raise InputFileError(out, "exists and is not a folder")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
