"""Diagnostics in Dagster: per-partition stamp QA, the leakage / null-injection / shortcut checks, the HTML report."""
