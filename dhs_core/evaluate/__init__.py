"""Evaluating a lens finder on dhs datasets: completeness per stratum with Wilson intervals
(:func:`~dhs_core.evaluate.completeness.completeness`)."""

from dhs_core.evaluate.completeness import completeness, wilson_interval

__all__ = ["completeness", "wilson_interval"]
