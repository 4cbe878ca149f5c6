"""The probes' AUCs against scikit-learn and analytic cases; the features against analytic images."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dhs_core.diagnostics import features
from dhs_core.diagnostics.gates import GateConfig, balanced_sample, shortcut_gates
from dhs_core.diagnostics.probes import auc_of_scores, cross_validated_auc, permutation_test, separation_auc
from dhs_core.errors import ConfigError


def test_auc_matches_scikit_learn_with_ties_and_its_intervals_are_right():
    rng = np.random.default_rng(1)
    labels = rng.random(500) < 0.4
    scores = np.round(rng.normal(labels * 0.7, 1.0), 1)  # rounded: many ties
    result = auc_of_scores(scores, labels)
    assert result.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert result.low < result.auc < result.high and result.n_positive == labels.sum()
    n1, n0 = labels.sum(), (~labels).sum()
    assert result.null_high - 0.5 == pytest.approx(
        1.959964 * np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)), rel=1e-6
    )
    flipped = separation_auc(-scores, labels)
    assert flipped.auc == pytest.approx(result.auc) and flipped.low == pytest.approx(result.low)
    with pytest.raises(ValueError, match="both classes"):
        auc_of_scores(scores[labels], labels[labels])


def test_a_probe_finds_a_real_difference_and_nothing_in_noise():
    rng = np.random.default_rng(2)
    n = 300
    labels = np.arange(n) % 2 == 0
    galaxies = np.arange(n)
    noise = rng.normal(size=(n, 20))
    assert permutation_test(noise, labels, galaxies, permutations=20).consistent_with_chance
    shifted = noise + labels[:, None] * 0.5
    assert cross_validated_auc(shifted, labels, galaxies).auc > 0.9
    # a galaxy seen in training must not be scored: folds keep galaxies whole
    repeated = np.repeat(rng.normal(size=(30, 50)), 10, axis=0)
    groups = np.repeat(np.arange(30), 10)
    by_galaxy = cross_validated_auc(repeated, groups % 2 == 0, groups)
    assert by_galaxy.auc < 0.8  # memorising the galaxies would score ~1


def test_balanced_sample_takes_one_stamp_per_galaxy_and_class():
    labels = np.array([True] * 6 + [False] * 4)
    galaxy = np.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 6])
    rows = balanced_sample(labels, galaxy, 10, seed=0)
    assert sorted(galaxy[rows][labels[rows]].tolist()) == [1, 2, 3] and sorted(
        galaxy[rows][~labels[rows]].tolist()
    ) == [4, 5, 6]
    assert (
        np.array_equal(rows, balanced_sample(labels, galaxy, 10, seed=0))
        and len(balanced_sample(labels, galaxy, 2, 0)) == 4
    )


def test_features_on_analytic_images():
    size = 64
    r = features.radius_map(size)
    assert r[32, 32] == 0 and r[32, 42] == 10
    round_image = np.exp(-r / 5.0)[None, None].repeat(3, axis=1) + 0.1
    noisy = round_image + np.random.default_rng(0).normal(0, 0.01, round_image.shape)
    core = r < 10
    before = features.normalise_by_outer_annulus(noisy)[..., core].mean()
    assert before > 20  # in units of the sky sigma
    assert (
        abs(features.residual_radial_profile(noisy)[..., core].mean()) < 0.02 * before
    )  # the round light is gone
    profile = features.radial_profiles(np.ones((2, 3, size, size)))
    assert profile.shape == (2, 96) and np.allclose(profile, 1)
    assert features.core_pixels(round_image, 10).shape[1] == 3 * int(np.sum(r < 10))
    blob = round_image.copy()
    blob[0, :, 32, 36] += 5.0  # an off-centre counter-image survives the residual
    assert features.residual_radial_profile(blob)[0, 1, 32, 36] > 1
    zeroed = features.zero_annulus(round_image)
    assert np.all(zeroed[..., (r >= 10) & (r < 25)] == 0) and np.array_equal(
        zeroed[..., r < 10], round_image[..., r < 10]
    )
    assert features.binned(np.ones((1, 3, size, size)), 4).shape == (1, 3 * 16 * 16)
    rng = np.random.default_rng(3)
    sky = rng.normal(7.0, 2.0, (1, 3, size, size))
    normal = features.normalise_by_outer_annulus(sky)[..., (r >= 20) & (r < 32)]
    assert abs(np.median(normal)) < 0.05 and abs(1.4826 * np.median(np.abs(normal)) - 1) < 0.05


def test_the_gate_catches_a_bright_core_and_residual_profiles_remove_round_light():
    """Injections whose only difference is extra round light in the core: the raw gate fails, the residual passes."""
    rng = np.random.default_rng(4)
    n, size = 160, 64
    r = features.radius_map(size)
    galaxy = np.exp(-r / 3.0)
    images = rng.normal(0, 0.02, (n, 3, size, size)) + galaxy
    is_control = np.arange(n) % 2 == 0
    images[~is_control] += 0.05 * np.exp(
        -r / 1.5
    )  # a faint round core brightening: the shortcut, with no arc at all
    gates = shortcut_gates(images, is_control, np.arange(n), GateConfig(folds=4))
    assert gates["core_lr"]["raw"]["auc"] > 0.9 and not gates["passed"]
    inside = r < 8
    expected = (galaxy + 0.05 * np.exp(-r / 1.5))[inside].mean() / galaxy[inside].mean()
    assert gates["core_brightness"]["mean_ratio"] == pytest.approx(expected, rel=0.01)
    assert (
        gates["core_lr"]["residual_radial_profile"]["auc"] < 0.65
    )  # round light is what the residual removes
    assert shortcut_gates(
        images, is_control, np.arange(n), GateConfig(folds=4, preprocessing="residual_radial_profile")
    )["passed"]
    with pytest.raises(ConfigError, match="preprocessing"):
        GateConfig(preprocessing="magic")
