"""Partitions of the catalogue phase: one per sweep file, added as sweep files appear."""

from __future__ import annotations

import os

from dagster import DynamicPartitionsDefinition

from dhs_core.survey.layout import SurveyLayout

sweep_partitions = DynamicPartitionsDefinition(name="sweep_files")


def sweep_partition_key(path: str) -> str:
    """Partition key of a sweep file: its name without ``.fits``/``.fits.gz``."""
    name = os.path.basename(path)
    return name.removesuffix(".gz").removesuffix(".fits")


def discover_sweep_files(layout: SurveyLayout) -> dict[str, str]:
    """Sweep files under a survey root, by partition key (sorted)."""
    return {sweep_partition_key(p): p for p in layout.sweep_paths()}
