"""The engine's columns are declared once: what it returns, an empty partition and the docs all follow it."""

import itertools
import re
from pathlib import Path

import numpy as np
import pyarrow as pa

from dhs_core.inject.columns import ENGINE_COLUMNS, TASK_COLUMNS, engine_schema
from dhs_core.inject.engine import EngineConfig, inject
from dhs_core.stamps.partition import empty_stamps
from dhs_core.survey.coadds import Cutout
from tests.core.inject.test_engine import TASK, _cutout

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _expanded(pattern: str) -> list[str]:
    """``invvar_{median,p10}_{g,r,z}`` -> the six names it stands for."""
    parts = re.split(r"\{([^}]*)\}", pattern)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def test_inject_returns_exactly_the_declared_schema_for_any_stamp_size():
    rows = pa.Table.from_pylist([TASK, {**TASK, "task_id": "c", "is_control": True}])
    assert inject([_cutout(0), _cutout(1)], rows, None, EngineConfig()).schema.equals(engine_schema())
    plane = np.ones((3, 33, 33), np.float32)
    small = Cutout(plane, plane, np.zeros((33, 33), np.int32), 16.0, 16.0, "grz", ("ok",) * 3, "ok")
    assert inject([small], pa.Table.from_pylist([TASK]), None, EngineConfig()).schema.equals(engine_schema())
    assert inject([], rows.slice(0, 0), None, EngineConfig()).schema.equals(engine_schema())


def test_an_empty_partition_has_the_columns_of_a_full_one_without_opening_a_bank():
    task = {c: TASK.get(c, 1.0) for c in TASK_COLUMNS}
    manifest = pa.Table.from_pylist([{**task, "ra": 1.0, "dec": 2.0, "brickname": "b", "stamp_size": 64}])
    empty = empty_stamps(manifest)
    assert empty.num_rows == 0
    assert empty.column_names == [*manifest.column_names, *ENGINE_COLUMNS[1:]]
    assert empty.schema.field("image").type == engine_schema().field("image").type


def test_the_docs_list_every_engine_column_and_every_task_column():
    stamps = (DOCS / "stamps.md").read_text()
    documented = {"task_id"}
    for line in stamps.splitlines():
        if line.startswith("| `image`") or line.startswith("| `arc`") or line.startswith("| engine metrics"):
            documented |= {n for p in re.findall(r"`([a-z_{},0-9]+)`", line) for n in _expanded(p)}
        for name in ("invvar", "maskbits", "cutout_ok", "status", "status_reason"):
            if line.startswith(f"| `{name}`"):
                documented |= {
                    n for p in re.findall(r"`([a-z_]+)`", line.split("|")[1]) for n in _expanded(p)
                }
    assert documented >= set(ENGINE_COLUMNS), sorted(set(ENGINE_COLUMNS) - documented)
    manifest = (DOCS / "manifest.md").read_text()
    undocumented = [c for c in TASK_COLUMNS if f"`{c}`" not in manifest]
    assert not undocumented
