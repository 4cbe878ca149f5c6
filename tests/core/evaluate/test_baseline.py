"""The baseline scorer learns an arc from residual-annulus features: rings of peak S/N ~10 around a galaxy are told
from the galaxy alone (held-out AUC), the scores repeat exactly, and one class alone is refused."""

import numpy as np
import pytest

from dhs_core.diagnostics.features import radius_map
from dhs_core.diagnostics.probes import auc_of_scores
from dhs_core.evaluate.baseline import baseline_features, score_baseline, train_baseline


def _stamps(n: int, seed: int, arc_peak_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels): a galaxy (exponential core) in unit noise in 3 bands, half with a blue partial ring at
    6 px of peak ``arc_peak_sigma`` sigma."""
    rng = np.random.default_rng(seed)
    r = radius_map(64)
    y, x = np.indices((64, 64)) - 32
    angle = np.arctan2(y, x)
    labels = np.arange(n) % 2
    images = rng.normal(size=(n, 3, 64, 64))
    images += 40 * np.exp(-r / 2.0)[None, None] * rng.uniform(0.5, 1.5, (n, 1, 1, 1))
    ring = np.exp(-0.5 * ((r - 6) / 1.0) ** 2)
    for i in np.flatnonzero(labels):
        arc = ring * np.exp(-0.5 * ((angle - rng.uniform(-np.pi, np.pi) + np.pi) % (2 * np.pi) - np.pi) ** 2)
        images[i] += arc_peak_sigma * arc[None] * np.array([1.2, 1.0, 0.6])[:, None, None]
    return images.astype(np.float32), labels


def test_the_baseline_tells_bright_arcs_from_galaxies_on_held_out_stamps():
    train, labels = _stamps(300, 1, 10.0)
    model = train_baseline(train, labels)
    test, truth = _stamps(300, 2, 10.0)
    scores = score_baseline(model, test)
    assert auc_of_scores(scores, truth).auc > 0.9
    assert np.array_equal(scores, score_baseline(train_baseline(train, labels), test))  # deterministic
    faint, truth = _stamps(300, 3, 0.0)  # no arc at all: chance
    assert abs(auc_of_scores(score_baseline(model, faint), truth).auc - 0.5) < 0.1


def test_features_and_bad_training_input():
    images, labels = _stamps(4, 0, 5.0)
    assert baseline_features(images).shape == (4, 3 * 4 * 3 + 1)
    with pytest.raises(ValueError, match="both classes"):
        train_baseline(images, np.zeros(4))
    assert score_baseline(train_baseline(*_stamps(20, 0, 5.0)), images[:0]).shape == (0,)
