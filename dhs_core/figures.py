"""Figures as PNG bytes (matplotlib, no screen), for asset metadata, files and the HTML report."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only, never a screen
import matplotlib.pyplot as plt  # noqa: E402


def subplots(rows: int, columns: int, width: float, height: float):
    """A figure and its axes (always a 2-D array), at the resolution every dhs figure uses."""
    return plt.subplots(rows, columns, figsize=(width, height), dpi=80, squeeze=False)


def png(figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
