"""Settings of the diagnostics, a resource so the launchpad can change them for checks and the report alike."""

from dagster import ConfigurableResource

from dhs_core.diagnostics.gates import GateConfig


class DiagnosticsSettings(ConfigurableResource):
    """``gate_threshold``: the core-only AUC must stay below it (the original measured 0.98);
    ``gate_preprocessing``: ``raw`` or ``residual_radial_profile`` (what the gate judges; both are reported);
    ``sample_per_partition``: stamps sampled per partition (seeded, ``seed``) for the probes;
    ``null_injection_tasks``: injection tasks per partition re-run with zero flux; ``folds`` of the CV;
    ``permutations`` of the labels behind the null-injection probe's one-sided p-value, and ``alpha``, the
    false-alarm rate of the blocking statistical checks (the null-injection probe, the column audit's family)."""

    gate_threshold: float = 0.60
    gate_preprocessing: str = "raw"
    sample_per_partition: int = 2000
    null_injection_tasks: int = 100
    folds: int = 5
    seed: int = 0
    permutations: int = 99
    alpha: float = 0.01

    def gate(self, max_per_class: int) -> GateConfig:
        return GateConfig(
            threshold=self.gate_threshold,
            preprocessing=self.gate_preprocessing,
            folds=self.folds,
            seed=self.seed,
            max_per_class=max_per_class,
        )
