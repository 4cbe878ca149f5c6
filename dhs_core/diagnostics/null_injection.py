"""Null injection through the whole engine: injection tasks re-run with zero source flux must give their
cutouts bit for bit, and a pixel probe must not tell them from the controls.

This is the test the original never ran (its "null-injection test" only scored controls with a model)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from dhs_core.diagnostics.features import stamp_features
from dhs_core.diagnostics.gates import balanced_sample
from dhs_core.diagnostics.probes import permutation_test
from dhs_core.inject.engine import EngineConfig
from dhs_core.pixels import pixels_array
from dhs_core.stamps.build import brick_groups, inject_brick, manifest_rows
from dhs_core.survey.coadds import CoaddBrick
from dhs_core.survey.layout import SurveyLayout


def zero_flux(rows: pa.Table) -> pa.Table:
    """The same tasks with no source light: S/N target 0 and an infinitely faint source (both brightness modes)."""
    for name, value in (("target_arc_snr", 0.0), ("src_dmag", np.inf)):
        rows = rows.set_column(
            rows.schema.get_field_index(name), name, pa.array(np.full(rows.num_rows, value))
        )
    return rows


def null_injection(
    tasks: pa.Table,
    control_images: np.ndarray,
    control_galaxies: np.ndarray,
    layout: SurveyLayout,
    bank,
    engine: EngineConfig,
    folds: int = 5,
    seed: int = 0,
    max_per_class: int = 2000,
    permutations: int = 99,
    alpha: float = 0.01,
) -> dict:
    """Run injection ``tasks`` (manifest or stamp rows) with zero flux (:func:`null_stamps`) and probe the null stamps
    against ``control_images`` (N, bands, S, S) of galaxies ``control_galaxies`` (row ids) with :func:`null_probe`.
    ``passed``: every stamp identical to its cutout, no light drawn, and the probe no better than chance (its one-sided
    permutation p-value above ``alpha``)."""
    null_images, galaxies, result = null_stamps(tasks, layout, bank, engine)
    both = np.concatenate([null_images.reshape(-1, *control_images.shape[1:]), control_images]).astype(
        np.float64
    )
    labels = np.r_[np.ones(len(null_images), bool), np.zeros(len(control_images), bool)]
    groups = np.concatenate([galaxies, np.asarray(control_galaxies)])
    result.update(null_probe(both, labels, groups, folds, seed, max_per_class, permutations, alpha))
    result["passed"] = (
        not result["any_light"]
        and result["bit_identical"] == result["tasks"] > 0
        and result["probe_consistent_with_chance"]
    )
    return result


def null_stamps(
    tasks: pa.Table, layout: SurveyLayout, bank, engine: EngineConfig
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The stamps of injection ``tasks`` re-run through the engine with zero flux, each compared with its cutout bit for
    bit. Returns the stamps whose cutout is complete (N, bands, S, S), their galaxies (row ids) and the counts ``tasks``,
    ``bit_identical`` and ``any_light`` (a zero-flux task that drew light)."""
    identical, compared, light, images, galaxies = 0, 0, False, [], []
    tasks = manifest_rows(tasks)
    for name, rows in brick_groups(tasks):
        chunk = zero_flux(tasks.take(rows))
        brick = CoaddBrick(layout, name, stamps_expected=2 * len(rows))  # cut twice: injected, then compared
        stamps = inject_brick(
            chunk, layout, bank, engine, brick, validate=False
        )  # zero flux is the point here
        size = int(chunk["stamp_size"][0].as_py())
        pixels = pixels_array(stamps["image"], "image")
        ra, dec = chunk["ra"].to_numpy(), chunk["dec"].to_numpy()
        for i in range(len(rows)):
            cutout = brick.cutout(ra[i], dec[i], size)
            identical += int(pixels[i].tobytes() == cutout.image.astype(np.float32).tobytes())
            compared += 1
        light = light or bool(np.any(pixels_array(stamps["arc"], "arc")))
        ok = stamps["cutout_ok"].to_numpy(zero_copy_only=False)
        images.append(pixels[ok])
        galaxies.append(chunk["row_id"].to_numpy()[ok])
    null_images = np.concatenate(images) if images else np.zeros((0, 0, 0, 0), np.float32)
    galaxy_ids = np.concatenate(galaxies) if galaxies else np.zeros(0, np.int64)
    return null_images, galaxy_ids, {"tasks": compared, "bit_identical": identical, "any_light": light}


def null_probe(
    images: np.ndarray,
    is_null: np.ndarray,
    galaxies: np.ndarray,
    folds: int = 5,
    seed: int = 0,
    max_per_class: int = 2000,
    permutations: int = 99,
    alpha: float = 0.01,
) -> dict:
    """Can a probe tell null-injection stamps (``is_null``) from controls? Whole-stamp LR on ``features.stamp_features``
    of ``images`` (N, bands, S, S): 8 x 8-binned normalised pixels, zero-pixel fractions and noise levels; one stamp per
    galaxy and class, judged one-sided by label permutations. ``probe``: the AUC record with its p-value; ``probe_consistent_with_chance``:
    p-value above ``alpha`` (false when too few galaxies to cross-validate)."""
    rows = balanced_sample(is_null, galaxies, max_per_class, seed)
    try:
        probe = permutation_test(
            stamp_features(images[rows]), is_null[rows], galaxies[rows], folds, seed, permutations
        )
    except ValueError as exc:  # too few galaxies of a class to cross-validate
        return {"probe": str(exc), "probe_consistent_with_chance": False}
    return {
        "probe": {**probe.record(), "alpha": alpha},
        "probe_consistent_with_chance": not probe.separates(alpha),
    }
