"""Probe classifiers and their AUCs with intervals: the measuring instrument of every shortcut gate."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm, rankdata

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Auc:
    """An AUC with its 95 % interval (Hanley & McNeil 1982 standard error), the interval an AUC of 0.5 would
    have with the same class sizes (``null_low``, ``null_high``), and the class sizes."""

    auc: float
    low: float
    high: float
    null_low: float
    null_high: float
    n_positive: int
    n_negative: int

    @property
    def consistent_with_chance(self) -> bool:
        """The AUC lies inside the 95 % interval of 0.5 for these class sizes."""
        return self.null_low <= self.auc <= self.null_high

    def record(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def auc_of_scores(scores: np.ndarray, labels: np.ndarray) -> Auc:
    """AUC of ``scores`` for ``labels`` (1 positive, 0 negative), by ranks (ties count half), with intervals."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError(f"an AUC needs both classes (positives {n1}, negatives {n0})")
    ranks = rankdata(scores)
    auc = (ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    se_null = np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))  # Mann-Whitney U under no separation
    return with_auc(Auc(0.5, 0.0, 1.0, float(0.5 - Z95 * se_null), float(0.5 + Z95 * se_null), n1, n0), float(auc))


def with_auc(template: Auc, auc: float) -> Auc:
    """An AUC for the class sizes of ``template``, with its Hanley & McNeil interval."""
    n1, n0 = template.n_positive, template.n_negative
    q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
    se = np.sqrt(max(auc * (1 - auc) + (n1 - 1) * (q1 - auc ** 2) + (n0 - 1) * (q2 - auc ** 2), 0.0) / (n1 * n0))
    return Auc(auc, float(max(auc - Z95 * se, 0.0)), float(min(auc + Z95 * se, 1.0)), template.null_low, template.null_high, n1, n0)


def separation_auc(values: np.ndarray, labels: np.ndarray, tests: int = 1) -> Auc:
    """How well one quantity alone separates the classes, whichever direction: max(AUC, 1 - AUC).

    ``tests``: how many quantities are judged together; the chance interval is widened (Bonferroni) so
    that all of them stay inside it by chance with 95 % probability, not each one."""
    result = auc_of_scores(values, labels)
    result = result if result.auc >= 0.5 else with_auc(result, 1 - result.auc)
    n1, n0 = result.n_positive, result.n_negative
    half = norm.isf(0.025 / tests) * np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    return Auc(result.auc, result.low, result.high, float(0.5 - half), float(0.5 + half), n1, n0)


def cross_validated_auc(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, folds: int = 5, seed: int = 0,
                        test_features: np.ndarray | None = None) -> Auc:
    """Out-of-fold AUC of a standardised L2 logistic regression (scikit-learn) on ``features`` (N, F).

    ``groups``: the galaxy of each row; folds never split a galaxy, or a probe would score by recognising
    a galaxy it saw in training (several tasks share a galaxy, and controls are other galaxies).

    ``test_features``: score each held-out fold on these instead (same rows, altered), e.g. stamps whose arc
    annulus was zeroed, to see what a probe trained on the real stamps still finds without it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = np.asarray(features, np.float64), np.asarray(labels).astype(int)
    scored = features if test_features is None else np.asarray(test_features, np.float64)
    groups = np.asarray(groups)
    smallest = min(len(np.unique(groups[labels == value])) for value in (0, 1))
    if smallest < 2:
        raise ValueError(f"cross-validation needs at least 2 galaxies of each class (got {smallest})")
    folds = max(2, min(folds, smallest))
    fold_aucs = []
    for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(features, labels, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=5000))
        model.fit(features[train], labels[train])
        fold_aucs.append(auc_of_scores(model.decision_function(scored[test]), labels[test]).auc)
    # the mean of the folds' AUCs: pooling scores of different models biases a null AUC low
    return with_auc(auc_of_scores(np.zeros(len(labels)), labels), float(np.mean(fold_aucs)))


def permutation_test(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, folds: int = 5, seed: int = 0,
                     permutations: int = 40) -> Auc:
    """:func:`cross_validated_auc`, with the interval of chance (``null_low``, ``null_high``) taken from the same
    cross-validation run on ``permutations`` seeded shuffles of the labels (2.5 and 97.5 percentiles).

    With few stamps and many features a cross-validated AUC is biased below 0.5 when nothing separates the
    classes (a held-out stamp is missing from its own class's training mean); the permutation interval has
    the same bias, so "inside the interval of 0.5" stays a fair test at any sample size. Rows must be one per
    galaxy (see ``gates.balanced_sample``), so shuffling rows shuffles galaxies."""
    observed = cross_validated_auc(features, labels, groups, folds, seed)
    rng = np.random.default_rng(seed)
    null = [cross_validated_auc(features, rng.permutation(labels), groups, folds, seed).auc for _ in range(permutations)]
    low, high = np.percentile(null, [2.5, 97.5])
    return Auc(observed.auc, observed.low, observed.high, float(low), float(high), observed.n_positive, observed.n_negative)
