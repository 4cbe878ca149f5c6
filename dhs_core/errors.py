"""Typed errors: each carries what a user needs to find the bad input (file, column, value)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class DhsError(Exception):
    """Base class of every error dhs raises on purpose."""


class InputFileError(DhsError):
    """A file that cannot be used: missing, truncated, corrupt or of the wrong kind."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MissingBrickError(InputFileError):
    """A brick with no coadd file at all (no band image, no maskbits): its stamps cannot be cut."""


class MissingColumnError(InputFileError):
    """A table file that lacks columns the caller asked for."""

    def __init__(self, path: str | Path, columns: Iterable[str], available: Iterable[str] = ()):
        self.columns = sorted(columns)
        available = sorted(available)
        hint = f" (it has: {', '.join(available)})" if available else ""
        super().__init__(path, f"missing column(s) {', '.join(self.columns)}{hint}")


class ConfigError(DhsError):
    """A configuration value outside what is allowed."""

    def __init__(self, field: str, value: object, allowed: str):
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}={value!r} is not allowed: expected {allowed}")


class TaskError(DhsError, ValueError):
    """An injection task that cannot be made from its row (a value out of range, a null where a value is needed):
    the engine fails that row with the reason and goes on. Anything else raised in a task is a bug and stops the run."""


class TemplateIndexError(TaskError, IndexError):
    """A task's template index outside the source bank."""
