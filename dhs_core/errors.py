"""Typed errors: each carries what a user needs to find the bad input (file, column, value), and each is also the
builtin exception of its kind, so a caller may catch ``ValueError`` or ``FileNotFoundError`` as with any library
(GalSim's errors do the same). Which to raise when: ``docs/conventions.md``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class DhsError(Exception):
    """Base class of every error dhs raises on purpose."""

    def __str__(
        self,
    ) -> str:  # the message as given, also for KeyError subclasses (whose str() would quote it)
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()

    def __reduce__(self):  # pickled as it is (a worker process sends it back), not through its own __init__
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type, args: tuple, state: dict) -> DhsError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InputFileError(DhsError, ValueError):
    """A file that cannot be used: missing, truncated, corrupt or of the wrong kind (its contents are the bad value)."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class MissingBrickError(InputFileError):
    """A brick with no coadd file at all (no band image, no maskbits): its stamps cannot be cut."""


class MissingColumnError(InputFileError, KeyError):
    """A table file that lacks columns the caller asked for."""

    def __init__(self, path: str | Path, columns: Iterable[str], available: Iterable[str] = ()):
        self.columns = sorted(columns)
        available = sorted(available)
        hint = f" (it has: {', '.join(available)})" if available else ""
        super().__init__(path, f"missing column(s) {', '.join(self.columns)}{hint}")


class ConfigError(DhsError, ValueError):
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
