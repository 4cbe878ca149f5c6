"""Why a stamp failed, in categories: the ones the data impose (coverage, the brick's edge, masks) are expected and
counted; the others (a rejected manifest row, a task the engine refused) mean a broken input and fail ``stamps_valid``.

A ``status_reason`` lists every problem of a row, ``"; "``-joined (``dhs_core.inject.engine``); its category is that
of its first problem, and the row is unexpected when any of its problems is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# (category, expected, pattern of one problem); the first pattern that matches wins
CATEGORIES = (
    ("not_in_survey", True, r"not in the survey \(404\)"),
    ("no_coadd_files", True, r"no coadd files for brick"),
    ("band_missing", True, r"(g|r|z|i|maskbits) (missing|missing invvar)$"),
    ("brick_edge", True, r"(g|r|z|i|maskbits) (partial|outside)$"),
    ("non_finite_pixels", True, r"non-finite pixels"),
    ("masked_near_lens", True, r"masked near the lens"),
    ("arc_on_masked_pixels", True, r"TaskError: (no good \w+ pixel|\d+ % of the arc's)"),
    (
        "maskbits_for_snr",
        True,
        r"TaskError: S/N target needs maskbits",
    ),  # a consequence of missing or partial maskbits
    ("class_match", True, r"class match"),
    ("manifest_rejected", False, r"manifest:"),
    ("task_error", False, r"TaskError"),
)
EXPECTED = tuple(name for name, expected, _ in CATEGORIES if expected)
_COMPILED = [(name, expected, re.compile(pattern)) for name, expected, pattern in CATEGORIES]


def _problem_category(problem: str) -> tuple[str, bool]:
    for name, expected, pattern in _COMPILED:
        if pattern.search(problem):
            return name, expected
    return "other", False


def failure_category(reason: str) -> tuple[str, bool]:
    """``(category of the first problem, every problem expected)`` of a failed row's ``status_reason``.

    >>> failure_category("g partial; r partial; z partial; maskbits partial")
    ('brick_edge', True)
    >>> failure_category("manifest: theta_e_arcsec nan is not a finite value > 0")
    ('manifest_rejected', False)
    """
    found = [_problem_category(p.strip()) for p in reason.split("; ") if p.strip()] or [("other", False)]
    return found[0][0], all(expected for _, expected in found)


def failure_counts(reasons: Iterable[str], is_control: Iterable[bool]) -> dict[tuple[str, str], int]:
    """Failed rows by ``(category, class)`` (class ``control`` or ``injection``)."""
    counts: dict[tuple[str, str], int] = {}
    for reason, control in zip(reasons, is_control):
        key = (failure_category(reason)[0], "control" if control else "injection")
        counts[key] = counts.get(key, 0) + 1
    return counts
