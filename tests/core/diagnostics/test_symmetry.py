"""The class-symmetry check: it passes when one validity rule serves both classes and fails on an asymmetric one."""

import numpy as np
import pyarrow as pa

from dhs_core.diagnostics.symmetry import SYMMETRY_COLUMNS, class_symmetry
from dhs_core.hashing import spark_xxhash64, unit_interval


def _galaxies(n=600, seed=3):
    """n galaxies with two replicates each, a class by hash (as the manifest assigns it), 10 % near a bright star."""
    rng = np.random.default_rng(seed)
    row_id = np.arange(n, dtype=np.int64) * 7 + 11
    control = unit_interval(spark_xxhash64(row_id, 1337)) < 0.5
    starred = rng.uniform(size=n) < 0.10
    stats = {
        "bad_pixel_frac": np.where(starred, rng.uniform(0.3, 0.9, n), rng.uniform(0, 0.03, n)),
        "wise_brightmask_frac": np.where(starred, rng.uniform(0.2, 0.8, n), 0.0),
        **{
            f"invvar_median_{b}": rng.lognormal(np.log(v), 0.2, n)
            for b, v in zip("grz", (400.0, 250.0, 40.0))
        },
    }
    return row_id, control, stats


def _meta(row_id, control, stats, ok):
    twice = np.repeat(np.arange(len(row_id)), 2)  # replicates share the cutout
    return pa.table(
        {
            "row_id": row_id[twice],
            "is_control": control[twice],
            "status": np.where(ok[twice], "ok", "failed"),
            **{name: values[twice] for name, values in stats.items()},
        }
    )


def test_one_rule_for_both_classes_passes_and_an_asymmetric_rule_fails():
    row_id, control, stats = _galaxies()
    masked = stats["bad_pixel_frac"] > 0.2
    symmetric = class_symmetry(
        _meta(row_id, control, stats, ~masked)
    )  # unusable galaxies fail in both classes
    assert symmetric["passed"] and symmetric["judged"] and set(symmetric["tests"]) == set(SYMMETRY_COLUMNS)
    assert symmetric["galaxies_control"] + symmetric["galaxies_injection"] == int(
        (~masked).sum()
    )  # one row per galaxy
    # the original's rule: injections whose arc falls on masks fail, controls on the same pixels stay ok
    asymmetric = class_symmetry(_meta(row_id, control, stats, ~(masked & ~control)))
    assert not asymmetric["passed"] and {"bad_pixel_frac", "wise_brightmask_frac"} <= set(
        asymmetric["separating"]
    )
    assert (
        asymmetric["tests"]["bad_pixel_frac"]["mean_control"]
        > 5 * asymmetric["tests"]["bad_pixel_frac"]["mean_injection"]
    )


def test_false_alarms_of_the_symmetric_rule_stay_near_alpha():
    """With classes assigned by hash, any rejection is chance: at most a few in 100 draws at a family-wise 1 %."""
    alarms = 0
    for seed in range(100):
        row_id, control, stats = _galaxies(n=300, seed=seed)
        row_id = row_id + 1000 * seed  # other galaxies, other classes
        control = unit_interval(spark_xxhash64(row_id, 1337)) < 0.5
        alarms += not class_symmetry(_meta(row_id, control, stats, stats["bad_pixel_frac"] <= 0.2))["passed"]
    assert alarms <= 4


def test_too_few_galaxies_are_not_judged():
    row_id, control, stats = _galaxies(n=3)
    result = class_symmetry(
        _meta(row_id, np.array([True, False, False]), stats, np.array([True, False, True]))
    )
    assert result["passed"] and not result["judged"] and result["galaxies_control"] == 1
