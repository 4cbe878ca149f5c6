"""Checks of a built manifest (the asset checks call these; users can too). Each returns
``(passed, details)`` with numbers to report whether it passes or not."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import chisquare

from dhs_core.manifest.build import ManifestConfig
from dhs_core.manifest.draws import COLOUR_CLIP
from dhs_core.manifest.sampling import N_STRATUM_BINS


def _values(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy()


def unique_task_ids(table: pa.Table) -> tuple[bool, dict]:
    duplicates = table.num_rows - pc.count_distinct(table["task_id"]).as_py()
    return duplicates == 0, {"rows": table.num_rows, "duplicate_task_ids": duplicates}


def control_fraction(table: pa.Table, config: ManifestConfig) -> tuple[bool, dict]:
    """Realised fraction of control rows against the configured one: within 1 percentage point, or
    three binomial standard deviations over the galaxies when the sample is small."""
    expected = config.expected_control_fraction
    realised = float(np.mean(_values(table, "is_control"))) if table.num_rows else 0.0
    galaxies = max(pc.count_distinct(table["row_id"]).as_py(), 1)
    tolerance = max(0.01, 3 * math.sqrt(expected * (1 - expected) / galaxies))
    return abs(realised - expected) <= tolerance, {
        "expected": expected,
        "realised": realised,
        "tolerance": tolerance,
    }


def config_usage(table: pa.Table, config: ManifestConfig) -> tuple[bool, dict]:
    """Injected galaxies per configuration (replicate 0, as replicates repeat a galaxy's configuration):
    every configuration used (when there are at least five per configuration) and a chi-square test
    against uniform (fails below p = 1e-4)."""
    injected = table.filter(pc.and_(pc.invert(table["is_control"]), pc.equal(table["replicate"], 0)))
    ids = config.grid.configs()["config_id"].to_pylist()
    counts = dict.fromkeys(ids, 0)
    for row in injected.group_by("config_id").aggregate([("config_id", "count")]).to_pylist():
        counts[row["config_id"]] = row["config_id_count"]
    values = np.array(list(counts.values()))
    unused = int(np.sum(values == 0))
    p = float(chisquare(values).pvalue) if values.sum() > 0 and len(values) > 1 else 1.0
    enough = values.sum() >= 5 * len(values)
    passed = (unused == 0 or not enough) and (p >= 1e-4 or not enough) and set(counts) == set(ids)
    return passed, {
        "configs": len(ids),
        "unused": unused,
        "chi2_p": p,
        "min_count": int(values.min()),
        "max_count": int(values.max()),
    }


def strata_balance(table: pa.Table, config: ManifestConfig) -> tuple[bool, dict]:
    """Galaxies per PSF x depth stratum: none above its share ``ceil(n_galaxies / 16)``; counts reported."""
    galaxies = (
        table.group_by(["row_id", "psf_bin", "depth_bin"])
        .aggregate([])
        .group_by(["psf_bin", "depth_bin"])
        .aggregate([("row_id", "count")])
    )
    counts = np.zeros((N_STRATUM_BINS, N_STRATUM_BINS), int)
    for row in galaxies.to_pylist():
        counts[row["psf_bin"], row["depth_bin"]] = row["row_id_count"]
    share = math.ceil(config.n_galaxies / N_STRATUM_BINS**2)
    return bool(counts.max(initial=0) <= share), {
        "per_stratum_cap": share,
        "galaxies_per_stratum": counts.tolist(),
    }


def splits_disjoint(tables: dict[str, pa.Table]) -> tuple[bool, dict]:
    """No galaxy (row_id) in two splits' manifests; ``tables`` by split name."""
    seen: dict[int, str] = {}
    shared = 0
    for split, table in tables.items():
        for row_id in pc.unique(table["row_id"]).to_pylist():
            if seen.setdefault(row_id, split) != split:
                shared += 1
    return shared == 0, {"splits": sorted(tables), "galaxies_in_two_splits": shared}


def draws_in_range(table: pa.Table, config: ManifestConfig) -> tuple[bool, dict]:
    """Every random column inside its range, and no NaN in any float column."""
    control = _values(table, "is_control")
    radius = np.hypot(_values(table, "src_x_arcsec"), _values(table, "src_y_arcsec"))
    theta_e = _values(table, "theta_e_arcsec")
    template = _values(table, "template_index")
    snr = _values(table, "target_arc_snr")
    snr_low, snr_high = min(b[0] for b in config.snr_bins), max(b[1] for b in config.snr_bins)
    checks = {
        "src offset within beta_max": np.all(radius <= config.beta_max_factor * theta_e * (1 + 1e-12)),
        "src_phi_rad in [0, 2 pi)": np.all(
            (_values(table, "src_phi_rad") >= 0) & (_values(table, "src_phi_rad") < 2 * np.pi)
        ),
        "shear_phi_rad in [0, pi)": np.all(
            (_values(table, "shear_phi_rad") >= 0) & (_values(table, "shear_phi_rad") < np.pi)
        ),
        "lens_phi_rad in [0, pi)": np.all(
            (_values(table, "lens_phi_rad") >= 0) & (_values(table, "lens_phi_rad") < np.pi)
        ),
        "lens_e in [0, e_max]": np.all(
            (_values(table, "lens_e") >= 0) & (_values(table, "lens_e") <= config.lens_shape.e_max)
        ),
        "colours clipped": all(
            np.all((_values(table, c) >= COLOUR_CLIP[0]) & (_values(table, c) <= COLOUR_CLIP[1]))
            for c in ("src_gr", "src_rz")
        ),
        "replicate in range": np.all(
            (_values(table, "replicate") >= 0) & (_values(table, "replicate") < config.replicates)
        ),
        "strata bins in range": all(
            np.all((_values(table, c) >= 0) & (_values(table, c) < N_STRATUM_BINS))
            for c in ("psf_bin", "depth_bin")
        ),
        "template index": np.all(
            np.where(
                control | (config.source_kind != "template"),
                template == -1,
                (template >= 0) & (template < config.n_templates),
            )
        ),
        "target S/N": np.all(
            np.where(
                control | (config.brightness_mode != "snr"), snr == 0, (snr >= snr_low) & (snr <= snr_high)
            )
        ),
        "controls have no lens": np.all(theta_e[control] == 0)
        and np.all(_values(table, "lens_e")[control] == 0),
    }
    nan_columns = [
        f.name
        for f in table.schema
        if pa.types.is_floating(f.type) and pc.any(pc.is_nan(table[f.name])).as_py()
    ]
    failed = [name for name, ok in checks.items() if not ok]
    return not failed and not nan_columns, {"failed": failed, "nan_columns": nan_columns}
