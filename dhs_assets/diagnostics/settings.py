"""Settings of the diagnostics, a resource so the launchpad can change them for checks and the report alike."""

from dagster import ConfigurableResource

from dhs_assets.run_config import CoreFields, derived_config
from dhs_core.diagnostics.settings import DiagnosticsConfig

DIAGNOSTICS_FIELDS = CoreFields(DiagnosticsConfig)


class DiagnosticsSettings(derived_config(ConfigurableResource, "DiagnosticsFields", DIAGNOSTICS_FIELDS)):
    """``gate_threshold``: the core-only AUC must stay below it (the original measured 0.98);
    ``gate_preprocessing``: ``raw`` or ``residual_radial_profile`` (what the gate judges; both are reported);
    ``sample_per_partition``: stamps sampled per partition (seeded, ``seed``) for the probes;
    ``null_injection_tasks``: injection tasks per partition re-run with zero flux; ``folds`` of the CV;
    ``permutations`` of the labels behind the null-injection probe's one-sided p-value, and ``alpha``, the
    false-alarm rate of the blocking statistical checks. Defaults: ``DiagnosticsConfig``."""

    def core(self) -> DiagnosticsConfig:
        return DIAGNOSTICS_FIELDS.build(self)
