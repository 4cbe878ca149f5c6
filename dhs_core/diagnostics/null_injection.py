"""Null injection through the whole engine: injection tasks re-run with zero source flux must give their
cutouts bit for bit, and a pixel probe must not tell them from the controls.

This is the test the original never ran (its "null-injection test" only scored controls with a model)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dhs_core.diagnostics.features import binned, normalise_by_outer_annulus
from dhs_core.diagnostics.gates import balanced_sample
from dhs_core.diagnostics.probes import permutation_test
from dhs_core.inject.engine import EngineConfig
from dhs_core.stamps.build import brick_groups, inject_brick, manifest_rows
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.survey.layout import SurveyLayout


def zero_flux(rows: pa.Table) -> pa.Table:
    """The same tasks with no source light: S/N target 0 and an infinitely faint source (both brightness modes)."""
    for name, value in (("target_arc_snr", 0.0), ("src_dmag", np.inf)):
        rows = rows.set_column(rows.schema.get_field_index(name), name, pa.array(np.full(rows.num_rows, value)))
    return rows


def null_injection(tasks: pa.Table, control_images: np.ndarray, control_galaxies: np.ndarray, layout: SurveyLayout, bank, engine: EngineConfig,
                   folds: int = 5, seed: int = 0, max_per_class: int = 2000) -> dict:
    """Run injection ``tasks`` (manifest or stamp rows) with zero flux; compare each stamp with its cutout bit for bit
    and probe (whole-stamp logistic regression, 8x8-binned, outer-annulus normalised) null stamps against
    ``control_images`` (N, bands, S, S) of galaxies ``control_galaxies`` (row ids); the probe takes one stamp per galaxy and class (``gates.balanced_sample``). ``passed``: every stamp identical and the probe's AUC inside the
    95 % interval of 0.5 (from label permutations, ``probes.permutation_test``)."""
    identical, compared, light, images, galaxies = 0, 0, False, [], []
    tasks = manifest_rows(tasks)
    for name, rows in brick_groups(tasks):
        chunk = zero_flux(tasks.take(rows))
        brick = CoaddBrick(layout, name, stamps_expected=2 * len(rows))  # cut twice: injected, then compared
        stamps = inject_brick(chunk, layout, bank, engine, brick)
        size = int(chunk["stamp_size"][0].as_py())
        pixels = stamps["image"].combine_chunks().flatten().to_numpy().reshape(len(rows), -1, size, size)
        arcs = stamps["arc"].combine_chunks().flatten().to_numpy()
        ra, dec = chunk["ra"].to_numpy(), chunk["dec"].to_numpy()
        for i in range(len(rows)):
            cutout = brick.cutout(ra[i], dec[i], size)
            identical += int(pixels[i].tobytes() == cutout.image.astype(np.float32).tobytes())
            compared += 1
        light = light or bool(np.any(arcs))  # a zero-flux task that drew light fails the check
        ok = stamps["cutout_ok"].to_numpy(zero_copy_only=False)
        images.append(pixels[ok])
        galaxies.append(chunk["row_id"].to_numpy()[ok])
    null_images = np.concatenate(images) if images else np.zeros((0, *control_images.shape[1:]), np.float32)
    result = {"tasks": compared, "bit_identical": identical, "any_light": light}
    both = np.concatenate([null_images, control_images]).astype(np.float64)
    labels = np.r_[np.ones(len(null_images), bool), np.zeros(len(control_images), bool)]
    groups = np.concatenate([*galaxies, np.asarray(control_galaxies)])
    rows = balanced_sample(labels, groups, max_per_class, seed)
    try:
        probe = permutation_test(binned(normalise_by_outer_annulus(both[rows]), 8), labels[rows], groups[rows], folds, seed)
        result["probe"], result["probe_consistent_with_chance"] = probe.record(), probe.consistent_with_chance
    except ValueError as exc:  # too few galaxies of a class to cross-validate
        result["probe"], result["probe_consistent_with_chance"] = str(exc), False
    result["passed"] = (not result["any_light"] and result["bit_identical"] == compared > 0 and result["probe_consistent_with_chance"])
    return result
