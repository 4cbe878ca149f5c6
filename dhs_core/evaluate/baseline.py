"""A baseline scorer, so that the demo runs the whole evaluation loop: a small scikit-learn classifier on features of
the residual stamp. It is a baseline to check the plumbing and to set a floor, **not a lens finder**.

Features (:func:`baseline_features`), per band: the stamp normalised by its outer annulus (20-32 px: sky level and
noise), minus its azimuthal median profile (``dhs_core.diagnostics.features.residual_radial_profile``: the round light
of the galaxy goes, an arc's does not), then in each annulus of ``ANNULI_PX`` (0.5-4.2" from the centre, where arcs of
θ_E 0.75-3" lie) the mean, the 90th percentile and the fraction of pixels above 1.5 (sigma); plus the mean of g minus
z residual within 3-12 px (lensed sources are bluer than the lens). The model is scikit-learn's logistic regression on
standardised features, strongly regularised (``c``, the inverse regularisation strength): the training stamps repeat
their galaxies across selection sets, and a flexible model (gradient boosting was tried) learns those galaxies
instead of the arcs (training AUC 1.0, held-out AUC below 0.5 on the demo). Trained on ok stamps with label 1 for an
injection and 0 for a control; the score is the predicted probability of an injection. Deterministic (lbfgs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dhs_core.diagnostics.features import radius_map, residual_radial_profile
from dhs_core.errors import ConfigError
from dhs_core.evaluate.real_stamps import MEASURABLE
from dhs_core.pixels import pixels_array
from dhs_core.stamps.read import read_stamps

ANNULI_PX = ((2, 5), (5, 8), (8, 12), (12, 16))  # 0.262"/px: 0.5-4.2"
BLUE_EXCESS_PX = (3, 12)
BASELINE_MODEL = "baseline"  # its folder under scores/<dataset>/


@dataclass(frozen=True)
class BaselineConfig:
    """``train_dataset`` and ``train_split``: the stamps the baseline learns from (ok stamps; label 1 injection, 0
    control); ``c``: the logistic regression's inverse regularisation strength."""

    train_dataset: str = "train"
    train_split: str = "train"
    c: float = 0.01

    def __post_init__(self):
        if not self.c > 0:
            raise ConfigError("baseline.c", self.c, "a number > 0")

    @property
    def train_partition(self) -> str:
        return f"{self.train_dataset}|{self.train_split}"


def baseline_features(images: np.ndarray) -> np.ndarray:
    """(N, bands x annuli x 3 + 1) features of stamps (N, bands, S, S; nanomaggies, bands g, r, z); see the module's
    docstring."""
    residual = residual_radial_profile(np.asarray(images, np.float64))
    radius = radius_map(images.shape[-1])
    columns = []
    for inner, outer in ANNULI_PX:
        pixels = residual[:, :, (radius >= inner) & (radius < outer)]
        columns += [pixels.mean(axis=-1), np.quantile(pixels, 0.9, axis=-1), (pixels > 1.5).mean(axis=-1)]
    inner, outer = BLUE_EXCESS_PX
    arc_zone = (radius >= inner) & (radius < outer)
    blue = (residual[:, 0, arc_zone] - residual[:, -1, arc_zone]).mean(axis=-1)
    return np.concatenate([np.stack(columns, axis=-1).reshape(len(images), -1), blue[:, None]], axis=1)


def train_baseline(images: np.ndarray, labels: np.ndarray, config: BaselineConfig = BaselineConfig()):
    """The fitted classifier on stamps ``images`` (N, bands, S, S) with ``labels`` (1 injection, 0 control)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.asarray(labels).astype(int)
    if len(set(labels.tolist())) < 2:
        raise ValueError(
            f"the baseline needs both classes to learn from; labels {sorted(set(labels.tolist()))}"
        )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=config.c, max_iter=5000))
    return model.fit(baseline_features(images), labels)


def score_baseline(model, images: np.ndarray) -> np.ndarray:
    """Scores (probability of an injection, 0-1) of stamps ``images`` (N, bands, S, S); empty for none."""
    if len(images) == 0:
        return np.zeros(0)
    return model.predict_proba(baseline_features(images))[:, 1]


def baseline_score_table(
    train: str,
    stamps: list[str],
    controls: list[str] = (),
    real: list[pa.Table] = (),
    config: BaselineConfig = BaselineConfig(),
) -> pa.Table:
    """The baseline trained on the ok stamps of the partition folder ``train``, then scoring every stamp of the
    folders ``stamps`` (the evaluated dataset), the controls of the folders ``controls`` (other partitions whose
    controls set thresholds), and the rows of the tables ``real`` (anchors, hard negatives: ``task_id``, ``image``,
    ``status``) whose stamp could be measured: ``task_id``, ``score``, ``kind`` (``stamp``, ``control``, ``real``),
    each id once (a control's id is the same stamp in every dataset), in that order."""
    arrays, meta = read_stamps(train, ["task_id", "is_control", "image"], "status = 'ok'")
    model = train_baseline(arrays["image"], ~meta["is_control"].to_numpy(zero_copy_only=False), config)
    parts = []
    for folders, kind, condition in ((stamps, "stamp", None), (controls, "control", "is_control")):
        for folder in folders:
            arrays, meta = read_stamps(folder, ["task_id", "image"], condition)
            parts.append((meta["task_id"].to_pylist(), score_baseline(model, arrays["image"]), kind))
    for objects in real:
        measured = objects.filter(pa.array(np.isin(objects["status"].to_pylist(), MEASURABLE)))
        parts.append(
            (
                measured["task_id"].to_pylist(),
                score_baseline(model, pixels_array(measured["image"], "image")),
                "real",
            )
        )
    scores = {}
    for ids, values, kind in parts:
        for task_id, value in zip(ids, values):
            scores.setdefault(task_id, (float(value), kind))
    return pa.table(
        {
            "task_id": pa.array(list(scores), pa.string()),
            "score": pa.array([v for v, _ in scores.values()], pa.float64()),
            "kind": pa.array([k for _, k in scores.values()], pa.string()),
        }
    )
