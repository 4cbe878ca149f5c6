"""Injection grids: the Cartesian product theta_E x src_dmag x src_reff x src_e x shear, with stable ids.

Units: ``theta_e`` Einstein radius (arcsec), ``src_dmag`` source r magnitude minus lens r magnitude,
``src_reff`` source half-light radius (arcsec), ``src_e`` source ellipticity ``(1 - q)/(1 + q)``,
``shear`` external shear magnitude. Named grids are the original spec's (§3.4) plus ``grid_extended``,
which answers its open questions Q1-Q3 (larger Einstein radii, fainter sources, smaller sources).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import yaml

from dhs_core.errors import ConfigError

AXES = ("theta_e", "src_dmag", "src_reff", "src_e", "shear")
CONTROL_CONFIG_ID = "CONTROL"


@dataclass(frozen=True)
class InjectionGrid:
    """A named grid: one tuple of values per axis of ``AXES``."""

    name: str
    theta_e: tuple[float, ...]
    src_dmag: tuple[float, ...]
    src_reff: tuple[float, ...]
    src_e: tuple[float, ...]
    shear: tuple[float, ...]

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name or ""):
            raise ConfigError(
                "grid.name", self.name, "lower-case letters, digits and _, starting with a letter"
            )
        rules = {
            "theta_e": (lambda v: v > 0, "> 0 arcsec"),
            "src_dmag": (math.isfinite, "finite"),
            "src_reff": (lambda v: v > 0, "> 0 arcsec"),
            "src_e": (lambda v: 0 <= v < 1, "in [0, 1)"),
            "shear": (lambda v: 0 <= v < 0.5, "in [0, 0.5)"),
        }
        for axis, (ok, allowed) in rules.items():
            values = getattr(self, axis)
            if not values:
                raise ConfigError(f"grid.{axis}", values, "at least one value")
            for v in values:
                if (
                    not isinstance(v, (int, float))
                    or isinstance(v, bool)
                    or not math.isfinite(v)
                    or not ok(v)
                ):
                    raise ConfigError(f"grid.{axis}", v, allowed)
            if len(set(values)) != len(values):
                raise ConfigError(f"grid.{axis}", values, "distinct values")

    @property
    def size(self) -> int:
        return math.prod(len(getattr(self, a)) for a in AXES)

    def configs(self) -> pa.Table:
        """One row per configuration, in a fixed order: ``config_index``, ``config_id`` and the five values.

        ``config_id`` = ``{grid}_{index:04d}_te{theta_e}_dm{dmag}_rf{reff}_e{e}_sh{shear}`` (the original's
        format; values printed with ``%g``), so an id says what it is and stays the same between runs.
        """
        rows = list(itertools.product(*(getattr(self, a) for a in AXES)))
        ids = [
            f"{self.name}_{i:04d}_te{te:g}_dm{dm:g}_rf{rf:g}_e{e:g}_sh{sh:g}"
            for i, (te, dm, rf, e, sh) in enumerate(rows)
        ]
        columns = {
            "config_index": pa.array(range(len(rows)), pa.int32()),
            "config_id": pa.array(ids, pa.string()),
        }
        for i, axis in enumerate(AXES):
            columns[axis] = pa.array([float(r[i]) for r in rows], pa.float64())
        return pa.table(columns)


NAMED_GRIDS = {
    g.name: g
    for g in (
        InjectionGrid("grid_small", (0.3, 0.6, 1.0), (1.0, 2.0), (0.08, 0.15), (0.0, 0.3), (0.0, 0.03)),
        InjectionGrid(
            "grid_medium",
            (0.25, 0.35, 0.5, 0.8, 1.2),
            (0.5, 1.0, 1.5, 2.0),
            (0.05, 0.10, 0.20),
            (0.0, 0.2, 0.4),
            (0.0, 0.03),
        ),
        InjectionGrid(
            "grid_full",
            (0.2, 0.25, 0.3, 0.4, 0.6, 0.8, 1.2, 1.6),
            (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5),
            (0.04, 0.06, 0.08, 0.12, 0.18, 0.25),
            (0.0, 0.2, 0.4),
            (0.0, 0.02, 0.04),
        ),
        InjectionGrid(
            "grid_sota",
            (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5),
            (0.5, 1.0, 1.5, 2.0),
            (0.06, 0.10, 0.15, 0.20),
            (0.0, 0.2, 0.4),
            (0.0, 0.02, 0.04),
        ),
        InjectionGrid(
            "grid_extended",
            (0.5, 0.75, 1.0, 1.25, 1.5),
            (0.5, 1.0, 1.5, 2.0, 2.5, 3.0),
            (0.05, 0.10, 0.15, 0.25),
            (0.0, 0.3),
            (0.0, 0.03),
        ),
    )
}


def grid_from_config(spec) -> InjectionGrid:
    """A grid by name, or a user grid from a dict (or a YAML mapping, text or file path) with ``name`` and
    one list per axis; every value is checked (a clear error names the axis and value otherwise)."""
    if isinstance(spec, InjectionGrid):
        return spec
    if isinstance(spec, str) and spec in NAMED_GRIDS:
        return NAMED_GRIDS[spec]
    if isinstance(spec, str):
        text = Path(spec).read_text() if spec.endswith((".yaml", ".yml")) else spec
        spec = yaml.safe_load(text)
        if not isinstance(spec, dict):
            raise ConfigError("grid", spec, f"a named grid ({', '.join(NAMED_GRIDS)}) or a mapping of axes")
    if not isinstance(spec, dict):
        raise ConfigError("grid", spec, f"a named grid ({', '.join(NAMED_GRIDS)}) or a mapping of axes")
    unknown = set(spec) - {"name", *AXES}
    missing = {"name", *AXES} - set(spec)
    if unknown or missing:
        raise ConfigError(
            "grid keys",
            sorted(spec),
            f"exactly name, {', '.join(AXES)} (missing {sorted(missing)}, unknown {sorted(unknown)})",
        )
    if spec["name"] in NAMED_GRIDS:
        raise ConfigError("grid.name", spec["name"], "a name that is not one of the named grids")
    values = {}
    for axis in AXES:
        raw = spec[axis]
        if not isinstance(raw, (list, tuple)):
            raise ConfigError(f"grid.{axis}", raw, "a list of numbers")
        values[axis] = tuple(raw)
    return InjectionGrid(spec["name"], **values)
