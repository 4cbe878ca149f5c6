"""The bank's distributions as a PNG: measured half-light radius and flux S/N of its templates."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dhs_core.figures import png, subplots


def distributions_png(meta: pa.Table, title: str) -> bytes:
    """PNG bytes: histograms of ``hlr_arcsec`` and (where measured) ``flux_snr``."""
    figure, axes = subplots(1, 2, 8, 3)
    axes = axes[0]
    axes[0].hist(meta["hlr_arcsec"].to_numpy(), bins=30, color="tab:blue")
    axes[0].set_xlabel("half-light radius (arcsec)")
    snr = meta["flux_snr"].to_numpy() if "flux_snr" in meta.column_names else np.array([])
    if snr.size and np.isfinite(snr).any():
        axes[1].hist(np.log10(snr[np.isfinite(snr)]), bins=30, color="tab:orange")
        axes[1].set_xlabel("log10 flux S/N")
    else:
        axes[1].text(0.5, 0.5, "noise-free (synthetic)", ha="center", va="center")
        axes[1].set_axis_off()
    figure.suptitle(title)
    return png(figure)
