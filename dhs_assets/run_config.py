"""Launchpad configuration derived from the core's frozen dataclasses, so that every default is written once.

A run-config class is generated (pydantic, which Dagster's ``Config`` and ``ConfigurableResource`` are) with one
field per field of each core dataclass it configures: same name unless renamed, same default, tuples shown as
lists. ``CoreFields.build`` turns the launchpad's values back into the core object, through the core's own
validation. ``tests/assets/test_run_config.py`` fails if a class and its core dataclasses drift apart.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pydantic


def _as_launchpad(value):
    """Tuples become lists, recursively: the launchpad edits JSON."""
    return [_as_launchpad(v) for v in value] if isinstance(value, tuple | list) else value


def _as_core(value, like):
    """Lists become tuples where the core's default is a tuple (recursively)."""
    if isinstance(like, tuple) and isinstance(value, list):
        inner = like[0] if like else None
        return tuple(_as_core(v, inner) for v in value)
    return value


def _launchpad_type(hint, default):
    """A tuple's launchpad type is a list of its items' type (``tuple[float, ...]``, ``tuple[str, str]``), or, for
    a bare ``tuple``, of its default's (rows of numbers: ``list[list[float]]``)."""
    if typing.get_origin(hint) is not tuple and hint is not tuple:
        return hint
    items = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if items and all(a == items[0] for a in items):
        return list[items[0]]
    if default and isinstance(default[0], tuple):
        return list[list[float]]
    return list[float]


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"{f.name} has no default: it is not a launchpad setting")


@dataclass(frozen=True)
class CoreFields:
    """The launchpad fields of one core dataclass ``core``: every field but ``exclude`` (those keep the core's
    default), named as in ``rename`` (core name -> launchpad name) or as in the core; ``override`` gives a field
    another launchpad type and default (e.g. None: the tier's default); ``factory`` builds the core object
    (default: the class)."""

    core: type
    rename: Mapping[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    override: Mapping[str, tuple] = field(default_factory=dict)
    factory: Callable | None = None

    def names(self) -> dict[str, str]:
        """core field name -> launchpad field name."""
        return {
            f.name: self.rename.get(f.name, f.name)
            for f in dataclasses.fields(self.core)
            if f.name not in self.exclude
        }

    def fields(self) -> dict[str, tuple]:
        hints = typing.get_type_hints(self.core)
        out = {}
        for f in dataclasses.fields(self.core):
            if f.name in self.exclude:
                continue
            if f.name in self.override:
                kind, default = self.override[f.name]
            else:
                default = _default(f)
                kind = _launchpad_type(hints[f.name], default)
            out[self.rename.get(f.name, f.name)] = (kind, _as_launchpad(default))
        return out

    def values(self, config) -> dict:
        """The core's keyword arguments from a launchpad config object."""
        defaults = {f.name: f for f in dataclasses.fields(self.core)}
        return {
            name: _as_core(getattr(config, launchpad), _default(defaults[name]))
            for name, launchpad in self.names().items()
        }

    def build(self, config, **extra):
        """The core object the launchpad's values describe (``extra``: fields set by the caller)."""
        return (self.factory or self.core)(**self.values(config), **extra)


def derived_config(base: type, name: str, *sources: CoreFields, **extra: tuple) -> type:
    """A ``base`` (Dagster ``Config`` or ``ConfigurableResource``) subclass named ``name`` with the fields of
    every source and ``extra`` (launchpad name -> (type, default)); subclass it to add the docstring and the
    methods that build the core objects."""
    fields: dict[str, tuple] = {}
    for source in sources:
        added = source.fields()
        clash = set(fields) & set(added)
        if clash:
            raise TypeError(f"{name}: fields {sorted(clash)} come from two core dataclasses")
        fields.update(added)
    fields.update(extra)
    return pydantic.create_model(name, __base__=base, **fields)
