"""Frozen randomness of the manifest: every random number a task needs, drawn from its task seed.

``task_seed64 = xxhash64(selection_set_id, split, row_id, config_id, replicate, seed)``: the selection
set is part of the seed, so a galaxy that lies in several selection sets gets independent draws in each
(the original's seed omitted the set, so its tasks in different sets were identical stamps). Draw ``k``
of a task is ``u_k = pmod(xxhash64(task_seed64, k), 1e6) / 1e6`` in [0, 1); salts 101-110 are the
original's for the same quantities, 111 and up are new. Normal deviates come from Box-Muller on two
uniforms (cos branch), with ``1 - u`` in the logarithm so it never sees 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dhs_core.catalog.splits import SPLITS
from dhs_core.errors import ConfigError
from dhs_core.hashing import spark_xxhash64, unit_interval

SALTS = {
    "src_r": 101,
    "src_phi": 102,
    "src_pa": 103,
    "shear_phi": 104,
    "gr_1": 105,
    "gr_2": 106,
    "rz_1": 107,
    "rz_2": 108,
    "lens_e": 109,
    "lens_pa": 110,
    "template": 111,
    "snr_bin": 112,
    "snr_in_bin": 113,
    "lens_e_scatter_1": 114,
    "lens_e_scatter_2": 115,
    "lens_pa_scatter_1": 116,
    "lens_pa_scatter_2": 117,
}
COLOUR_CLIP = (-0.5, 2.5)  # AB mag
COLOUR_MODELS = {  # (mean, sigma) of g - r and of r - z, observer frame; clipped to COLOUR_CLIP
    "red": ((1.15, 0.30), (0.85, 0.20)),  # lensed sources at z ~ 1-2, observer frame
    "blue": ((0.2, 0.2), (0.1, 0.2)),  # the original's
}
DEFAULT_SNR_BINS = (
    (0.8, 2.0, 0.40),
    (2.0, 8.0, 0.40),
    (8.0, 20.0, 0.15),
    (20.0, 100.0, 0.05),
)  # the seed's §10 table


def task_seeds(selection_set_id: str, split: str, row_id, config_id, replicate, seed: int) -> np.ndarray:
    """int64 seed of each task from its stable ids."""
    return spark_xxhash64(
        selection_set_id,
        split,
        np.asarray(row_id, dtype=np.int64),
        config_id,
        np.asarray(replicate, dtype=np.int32),
        int(seed),
    )


def uniform(seeds: np.ndarray, name: str) -> np.ndarray:
    """The task's draw ``name`` (see ``SALTS``), uniform in [0, 1) to 1e-6."""
    return unit_interval(spark_xxhash64(seeds, SALTS[name]))


def normal(seeds: np.ndarray, first: str, second: str) -> np.ndarray:
    """A standard normal deviate per task from two of its uniforms (Box-Muller, cos branch)."""
    return np.sqrt(-2.0 * np.log1p(-uniform(seeds, first))) * np.cos(2 * np.pi * uniform(seeds, second))


def source_offsets(
    seeds: np.ndarray, theta_e: np.ndarray, beta_max_factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Source position (arcsec, source plane, from the lens), uniform over the disk of radius
    ``beta_max_factor * theta_e``: radius ``sqrt(u) beta_max``, angle ``2 pi u'``."""
    radius = np.sqrt(uniform(seeds, "src_r")) * beta_max_factor * theta_e
    angle = 2 * np.pi * uniform(seeds, "src_phi")
    return radius * np.cos(angle), radius * np.sin(angle)


def colours(seeds: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Source colours g - r and r - z (AB) from ``COLOUR_MODELS[model]``, clipped to ``COLOUR_CLIP``."""
    if model not in COLOUR_MODELS:
        raise ConfigError("manifest.colour_model", model, f"one of {sorted(COLOUR_MODELS)}")
    (gr_mean, gr_sigma), (rz_mean, rz_sigma) = COLOUR_MODELS[model]
    gr = np.clip(gr_mean + gr_sigma * normal(seeds, "gr_1", "gr_2"), *COLOUR_CLIP)
    rz = np.clip(rz_mean + rz_sigma * normal(seeds, "rz_1", "rz_2"), *COLOUR_CLIP)
    return gr, rz


@dataclass(frozen=True)
class LensShapeModel:
    """How lens ellipticity ``e = (1 - q)/(1 + q)`` and position angle are drawn.

    ``light`` (default; light traces mass): the LRG's own Tractor shape with Gaussian scatter
    ``e_scatter`` on e and ``pa_scatter_deg`` on the angle, e clipped to [0, ``e_max``]; round galaxies
    (no Tractor ellipticity) get a uniform angle. ``uniform`` (the original): e uniform in
    [``e_min``, ``e_max``], angle uniform.
    """

    mode: str = "light"
    e_scatter: float = 0.05
    pa_scatter_deg: float = 10.0
    e_min: float = 0.05
    e_max: float = 0.5

    def __post_init__(self):
        if self.mode not in ("light", "uniform"):
            raise ConfigError("manifest.lens_shape", self.mode, "light or uniform")
        if not (0 <= self.e_min <= self.e_max < 1):
            raise ConfigError("manifest.lens_e range", (self.e_min, self.e_max), "0 <= e_min <= e_max < 1")
        if self.e_scatter < 0 or self.pa_scatter_deg < 0:
            raise ConfigError("manifest.lens shape scatter", (self.e_scatter, self.pa_scatter_deg), ">= 0")


def tractor_shape_in_stamp(shape_e1, shape_e2) -> tuple[np.ndarray, np.ndarray]:
    """Ellipticity ``|e|`` and major-axis angle (rad, from the stamp's +x, counter-clockwise) of Tractor's
    ``SHAPE_E1, SHAPE_E2``.

    Tractor's components live on the sky with +x towards increasing RA (East) and +y North; a coadd's
    +x points West, so the stamp frame mirrors x: ``(e1, e2) -> (e1, -e2)``. Null or NaN shapes are round.
    """
    e1 = np.nan_to_num(np.asarray(shape_e1, dtype=np.float64))
    e2 = -np.nan_to_num(np.asarray(shape_e2, dtype=np.float64))
    return np.hypot(e1, e2), 0.5 * np.arctan2(e2, e1)


def lens_shapes(
    seeds: np.ndarray, model: LensShapeModel, shape_e1=None, shape_e2=None
) -> tuple[np.ndarray, np.ndarray]:
    """Lens ellipticity ``e`` and angle ``phi`` (rad, in [0, pi)) per task."""
    uniform_pa = np.pi * uniform(seeds, "lens_pa")
    if model.mode == "uniform":
        return model.e_min + (model.e_max - model.e_min) * uniform(seeds, "lens_e"), uniform_pa
    e_light, pa_light = tractor_shape_in_stamp(shape_e1, shape_e2)
    e = np.clip(
        e_light + model.e_scatter * normal(seeds, "lens_e_scatter_1", "lens_e_scatter_2"), 0.0, model.e_max
    )
    pa = pa_light + np.deg2rad(model.pa_scatter_deg) * normal(seeds, "lens_pa_scatter_1", "lens_pa_scatter_2")
    return e, np.mod(np.where(e_light > 0, pa, uniform_pa), np.pi)


def snr_targets(seeds: np.ndarray, bins=DEFAULT_SNR_BINS, drawn: np.ndarray | None = None) -> np.ndarray:
    """Target arc S/N per task (0 where not ``drawn``, e.g. controls), log-uniform inside its bin.

    Bins are allocated, not drawn one by one: among the ``drawn`` tasks, bin k gets exactly its weight's share
    (largest remainders), the tasks ordered by their draw ``snr_bin`` (ties by seed) filling bin 1 first, then bin 2
    and so on. So a manifest's targets follow the bins' weights to one task, not to a binomial scatter (at 1,000
    injections that scatter is +-1.5 pp on a 40 % bin); each task's bin still comes from its own frozen draw."""
    bins = np.asarray(bins, dtype=np.float64)
    if (
        bins.ndim != 2
        or bins.shape[1] != 3
        or np.any(bins[:, 0] <= 0)
        or np.any(bins[:, 1] <= bins[:, 0])
        or np.any(bins[:, 2] < 0)
        or not bins[:, 2].sum() > 0
    ):
        raise ConfigError(
            "manifest.snr_bins", bins.tolist(), "rows (low > 0, high > low, weight >= 0), some weight > 0"
        )
    drawn = np.ones(len(seeds), bool) if drawn is None else np.asarray(drawn, bool)
    rows = np.flatnonzero(drawn)
    order = rows[np.lexsort((seeds[rows], uniform(seeds[rows], "snr_bin")))]
    which = np.zeros(len(seeds), np.int64)
    which[order] = np.repeat(np.arange(len(bins)), allocation(len(rows), bins[:, 2]))
    low, high = np.log(bins[which, 0]), np.log(bins[which, 1])
    return np.where(drawn, np.exp(low + (high - low) * uniform(seeds, "snr_in_bin")), 0.0)


def allocation(n: int, weights) -> np.ndarray:
    """``n`` items split in proportion to ``weights`` by largest remainders (ties to the earlier bin); sums to n.

    >>> allocation(10, [0.4, 0.4, 0.15, 0.05]).tolist()
    [4, 4, 2, 0]
    """
    weights = np.asarray(weights, np.float64) / np.sum(weights)
    exact = n * weights
    counts = np.floor(exact).astype(np.int64)
    remainder = exact - counts
    counts[np.argsort(-remainder, kind="stable")[: n - counts.sum()]] += 1
    return counts


def template_splits(n_templates: int, seed: int, fractions=(0.8, 0.1, 0.1)) -> np.ndarray:
    """The split (index into ``SPLITS``) that owns each source-bank template: ``u(xxhash64(index, seed +
    9001))`` against the split fractions. The bank records it; the manifest draws within it."""
    u = unit_interval(spark_xxhash64(np.arange(n_templates, dtype=np.int64), int(seed) + 9001))
    return np.searchsorted(np.cumsum(fractions)[:-1], u, side="right")


def template_indices(seeds: np.ndarray, split: str, owners: np.ndarray) -> np.ndarray:
    """Source-bank template of each task, uniformly among the templates its split owns.

    ``owners``: the split (index into ``SPLITS``) of every template of the bank (``template_splits``, as
    the bank records it), so no template is seen in two splits.
    """
    mine = np.flatnonzero(np.asarray(owners) == SPLITS.index(split))
    if mine.size == 0:
        raise ConfigError("source bank", f"{len(owners)} templates", f"at least one owned by split {split}")
    return mine[(uniform(seeds, "template") * mine.size).astype(np.int64)]
