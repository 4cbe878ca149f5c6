"""Validation of injected stamps partitions: one stamp per task, controls that are their cutouts bit for bit, ok
stamps finite on complete cutouts, failures only for expected reasons and not too many of them.

``StampsValidation`` takes a run's partitions one at a time (so one run's figures are judged together: a small split
on one bad brick is not a trend) and gives the verdict with the counts behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dhs_core.errors import ConfigError
from dhs_core.stamps.reasons import failure_category
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.survey.layout import SurveyLayout

CONTROLS_RECUT = 20  # controls per partition cut again from the coadds and compared bit for bit
VALIDATION_COLUMNS = (  # what validation reads of a stamps partition (read_stamps' columns)
    "task_id",
    "brickname",
    "ra",
    "dec",
    "stamp_size",
    "is_control",
    "status",
    "status_reason",
    "cutout_ok",
    "image",
    "arc",
)


@dataclass(frozen=True)
class StampsLimits:
    """``max_failed_fraction``: the most of a run's stamps that may fail for expected reasons (coverage, brick
    edge, masks) before its stamps are judged unusable."""

    max_failed_fraction: float = 0.2

    def __post_init__(self):
        if not 0 <= self.max_failed_fraction <= 1:
            raise ConfigError("stamps.max_failed_fraction", self.max_failed_fraction, "in [0, 1]")


class StampsValidation:
    """The problems and counts of a run's stamps partitions, added with :meth:`add`, judged by :meth:`verdict`."""

    def __init__(self, layout: SurveyLayout, limits: StampsLimits = StampsLimits()):
        self.layout, self.limits = layout, limits
        self.problems: list[str] = []
        self.counts = {
            "stamps": 0,
            "ok": 0,
            "controls_recut": 0,
            "failed_expected": 0,
            "failed_unexpected": 0,
        }
        self.fractions: dict[str, float] = {}
        self._bricks: dict[str, CoaddBrick] = {}  # read once, by sections, across partitions

    def add(self, partition: str, manifest_ids: pa.Array, arrays: dict, stamps: pa.Table) -> None:
        """One partition: its manifest's task ids, and its stamps' ``VALIDATION_COLUMNS`` as ``read_stamps`` gives
        them (pixel ``arrays`` and the other columns)."""
        ids = stamps["task_id"].to_numpy(zero_copy_only=False)
        if len(set(ids)) != len(ids) or set(ids) != set(manifest_ids.to_pylist()):
            self.problems.append(f"{partition}: stamps are not one per manifest task")
            return
        self.counts["stamps"] += stamps.num_rows
        ok = stamps["status"].to_numpy(zero_copy_only=False) == "ok"
        self.counts["ok"] += int(ok.sum())
        self._check_controls(partition, ids, arrays, stamps)
        if not np.all(np.isfinite(arrays["image"][ok])):
            self.problems.append(f"{partition}: an ok stamp has non-finite pixels")
        if not np.all(stamps["cutout_ok"].to_numpy(zero_copy_only=False)[ok]):
            self.problems.append(f"{partition}: an ok stamp has an incomplete cutout")
        failed = [
            (r, failure_category(r)) for r, good in zip(stamps["status_reason"].to_pylist(), ok) if not good
        ]
        unexpected = [r for r, (_, expected) in failed if not expected]
        self.counts["failed_unexpected"] += len(unexpected)
        self.counts["failed_expected"] += len(failed) - len(unexpected)
        if unexpected:
            self.problems.append(
                f"{partition}: {len(unexpected)} stamp(s) failed for an unexpected reason, e.g. {unexpected[0]!r}"
            )
        self.fractions[partition] = round(len(failed) / max(stamps.num_rows, 1), 4)

    def _check_controls(self, partition: str, ids: np.ndarray, arrays: dict, stamps: pa.Table) -> None:
        """Controls carry a zero arc; up to ``CONTROLS_RECUT`` are cut again and must equal their stamp bit for bit."""
        controls = np.flatnonzero(stamps["is_control"].to_numpy(zero_copy_only=False))
        if np.any(arrays["arc"][controls]):
            self.problems.append(f"{partition}: a control has an arc")
        for i in controls[:CONTROLS_RECUT].tolist():
            name = stamps["brickname"][i].as_py()
            brick = self._bricks.setdefault(
                name, CoaddBrick(self.layout, name, stamps_expected=CONTROLS_RECUT)
            )
            cutout = brick.cutout(
                stamps["ra"][i].as_py(), stamps["dec"][i].as_py(), int(stamps["stamp_size"][i].as_py())
            )
            if arrays["image"][i].tobytes() != cutout.image.astype(np.float32).tobytes():
                self.problems.append(f"{partition}: control {ids[i]} differs from its cutout")
            self.counts["controls_recut"] += 1

    def verdict(self) -> tuple[bool, dict]:
        """Whether the run's stamps pass, and the counts, limit, problems and worst partitions behind it."""
        counts = {**self.counts}
        counts["failed_fraction"] = round(counts["failed_expected"] / max(counts["stamps"], 1), 4)
        problems = list(self.problems)
        limit = self.limits.max_failed_fraction
        if counts["failed_fraction"] > limit:
            problems.append(
                f"{counts['failed_expected']} of {counts['stamps']} stamps failed for expected reasons (> {100 * limit:g} %)"
            )
        worst = sorted(self.fractions.items(), key=lambda item: -item[1])[:5]
        return not problems, {
            **counts,
            "max_failed_fraction": limit,
            "problems": "; ".join(problems[:10]),
            "highest_partition_failed_fractions": ", ".join(f"{p} {f:.1%}" for p, f in worst),
        }
