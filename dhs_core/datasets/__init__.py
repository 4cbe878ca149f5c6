"""Datasets: one YAML spec per training or evaluation set (``spec.py``)."""
