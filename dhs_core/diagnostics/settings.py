"""Settings of the diagnostics, shared by the checks and the report (the launchpad edits them as a resource)."""

from __future__ import annotations

from dataclasses import dataclass

from dhs_core.diagnostics.gates import GateConfig
from dhs_core.errors import ConfigError


@dataclass(frozen=True)
class DiagnosticsConfig:
    """``gate_threshold``: the core-only AUC must stay below it (the original measured 0.98);
    ``gate_preprocessing``: ``raw`` or ``residual_radial_profile`` (what the gate judges; both are reported);
    ``sample_per_partition``: stamps sampled per partition (seeded, ``seed``) for the probes;
    ``null_injection_tasks``: injection tasks per partition re-run with zero flux; ``folds`` of the CV;
    ``permutations`` of the labels behind the null-injection probe's one-sided p-value, and ``alpha``, the
    false-alarm rate of the blocking statistical checks (the null-injection probe, the column audit's family)."""

    gate_threshold: float = GateConfig.threshold
    gate_preprocessing: str = GateConfig.preprocessing
    sample_per_partition: int = 2000
    null_injection_tasks: int = 100
    folds: int = GateConfig.folds
    seed: int = GateConfig.seed
    permutations: int = 99
    alpha: float = 0.01

    def __post_init__(self):
        for name in ("sample_per_partition", "null_injection_tasks", "permutations"):
            if getattr(self, name) < 1:
                raise ConfigError(f"diagnostics.{name}", getattr(self, name), ">= 1")
        if not 0 < self.alpha < 1:
            raise ConfigError("diagnostics.alpha", self.alpha, "in (0, 1)")

    def gate(self, max_per_class: int) -> GateConfig:
        return GateConfig(
            threshold=self.gate_threshold,
            preprocessing=self.gate_preprocessing,
            folds=self.folds,
            seed=self.seed,
            max_per_class=max_per_class,
        )
