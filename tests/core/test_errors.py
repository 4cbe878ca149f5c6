"""Typed errors: each is also its builtin, prints its message as given, and survives a worker process (pickling)."""

import pickle

import pytest

from dhs_core.errors import (
    ConfigError,
    DhsError,
    InputFileError,
    MissingBrickError,
    MissingColumnError,
    TaskError,
    TemplateIndexError,
)
from dhs_core.locks import PartitionBusyError

ERRORS = [
    (ConfigError("manifest.tier", "all", "one of debug, grid, train"), ValueError),
    (InputFileError("/d/sweep.fits", "truncated"), ValueError),
    (MissingColumnError("/d/bricks.fits", ["psfsize_r"]), KeyError),
    (MissingBrickError("/d/coadd/000/0001m002", "no coadd files"), ValueError),
    (TaskError("null in required column(s) src_reff"), ValueError),
    (TemplateIndexError("template 9 not in the bank"), IndexError),
    (PartitionBusyError("injected_stamps p", {"pid": 7}), RuntimeError),
]


@pytest.mark.parametrize("error, builtin", ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
def test_each_error_is_its_builtin_and_crosses_processes(error, builtin):
    assert isinstance(error, DhsError) and isinstance(error, builtin)
    with pytest.raises(builtin):
        raise error
    error.add_note("while rendering injection task t")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error) and str(back) == str(error) and back.__notes__ == error.__notes__
    assert back.__dict__ == error.__dict__  # path, columns, field...: what a handler reads


def test_messages_are_not_quoted_like_a_plain_key_error():
    assert (
        str(MissingColumnError("/d/bricks.fits", ["psfsize_r", "ebv"]))
        == "/d/bricks.fits: missing column(s) ebv, psfsize_r"
    )
