"""Class symmetry of the ok stamps: no mask, coverage or depth statistic may tell ok controls from ok injections.

A classifier trained on the ok rows learns anything that differs between its classes. Masks are the usual culprit:
when injections on masked pixels fail and controls on the same pixels stay ok, "heavily masked" comes to mean "not a
lens". Each statistic is compared on one row per galaxy and class (replicates share a cutout, so they are not
independent draws) by two tests: a two-sample Kolmogorov-Smirnov test of the whole distribution, and Fisher's exact
test of the share above the pooled 90th percentile — the KS distance barely moves when 10 % of one class sits in a
tail the other lacks, which is what a mask rule does. The check fails when any test rejects at the family-wise level
``alpha`` (Bonferroni over every test). With the same validity rule for both classes and galaxies assigned to a class
by hash, the classes are random samples of one population and the false-alarm rate is at most ``alpha``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy.stats import fisher_exact, ks_2samp

from dhs_core.conventions import BANDS

SYMMETRY_COLUMNS = ("bad_pixel_frac", "wise_brightmask_frac", *(f"invvar_median_{b}" for b in BANDS))
SYMMETRY_ALPHA = 0.01
TAIL_QUANTILE = 0.9


def class_symmetry(meta: pa.Table, columns=SYMMETRY_COLUMNS, alpha: float = SYMMETRY_ALPHA) -> dict:
    """KS tests of ``columns`` between the ok controls and the ok injections of ``meta`` (which holds ``row_id``,
    ``is_control``, ``status`` and the columns), one row per (galaxy, class).

    Returns ``passed``, ``alpha``, the per-test level ``alpha / (2 len(columns))``, the galaxies per class and, per
    column, the KS statistic and p-value, the shares of each class above the pooled 90th percentile and Fisher's
    p-value, and the class means. With fewer than 2 galaxies in a class nothing can be judged:
    ``passed`` is True and ``judged`` False."""
    ok = meta["status"].to_numpy(zero_copy_only=False) == "ok"
    control = meta["is_control"].to_numpy(zero_copy_only=False).astype(bool)
    row_id = meta["row_id"].to_numpy(zero_copy_only=False)
    first = {}
    for i in np.flatnonzero(ok):
        first.setdefault((row_id[i], control[i]), i)  # one row per galaxy and class
    rows = np.array(sorted(first.values()), dtype=np.int64)
    classes = {"control": rows[control[rows]], "injection": rows[~control[rows]]}
    level = alpha / (2 * len(columns))
    result = {
        "alpha": alpha,
        "per_test_level": level,
        **{f"galaxies_{k}": len(v) for k, v in classes.items()},
        "tests": {},
    }
    result["judged"] = all(len(v) >= 2 for v in classes.values())
    if not result["judged"]:
        result["passed"] = True
        return result
    for name in columns:
        values = meta[name].to_numpy(zero_copy_only=False).astype(np.float64)
        a, b = (
            values[index][np.isfinite(values[index])] for index in (classes["control"], classes["injection"])
        )
        if not (len(a) and len(b)):
            result["tests"][name] = {"p_value": 1.0}
            continue
        ks = ks_2samp(a, b)
        threshold = np.quantile(np.concatenate([a, b]), TAIL_QUANTILE)
        above = [int(np.sum(a > threshold)), int(np.sum(b > threshold))]
        tail = fisher_exact([above, [len(a) - above[0], len(b) - above[1]]])
        result["tests"][name] = {
            "ks_statistic": float(ks.statistic),
            "ks_p_value": float(ks.pvalue),
            "tail_threshold": float(threshold),
            "tail_share_control": above[0] / len(a),
            "tail_share_injection": above[1] / len(b),
            "tail_p_value": float(tail.pvalue),
            "p_value": float(min(ks.pvalue, tail.pvalue)),
            "mean_control": float(a.mean()),
            "mean_injection": float(b.mean()),
        }
    result["separating"] = [name for name, t in result["tests"].items() if t["p_value"] < level]
    result["passed"] = not result["separating"]
    return result
