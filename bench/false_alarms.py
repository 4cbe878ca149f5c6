"""False-alarm rates of the statistical checks on clean data: the demo's stamps judged with many diagnostics seeds.

    python bench/false_alarms.py [--data-root ../data] [--seeds 50]

Needs a data root where ``make demo`` ran (its stamps, bank and mock sky). For each seed the checks draw their
samples, folds and permutations as they do in a run with ``diagnostics.seed`` = that seed, through the same
functions: the null-injection check (blocking), the column audit (blocking) and the core-only shortcut gate
(warns). The stamps are clean by construction (S/N targets, one rule for both classes), so every failure is a
false alarm. Prints each check's failures out of the seeds and the figures of each seed into
``bench/results/false_alarms.json``.
"""

import argparse
import glob
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from _common import save

from dhs_core.bank import open_bank
from dhs_core.diagnostics.samples import column_audit_verdict, null_injection_verdict, shortcut_gate_verdict
from dhs_core.diagnostics.settings import DiagnosticsConfig
from dhs_core.inject.engine import EngineConfig
from dhs_core.survey.layout import SurveyLayout


def judge(folders: list[str], layout: SurveyLayout, bank, settings: DiagnosticsConfig) -> dict:
    """The three verdicts and their headline numbers for one diagnostics seed (the checks' own functions)."""
    null = null_injection_verdict(folders, layout, bank, EngineConfig(), settings)
    audit = column_audit_verdict(folders, settings)
    gates = shortcut_gate_verdict(folders, settings)
    return {
        "null_injection_passed": bool(null["passed"]),
        "null_auc": null["probe"]["auc"],
        "null_p": null["probe"]["p_value"],
        "column_audit_passed": bool(audit["passed"]),
        "audit_worst_auc": max(c["auc"] for c in audit["columns"].values()),
        "shortcut_gate_passed": bool(gates["passed"]),
        "gated_auc": gates["gated_auc"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", default=os.path.join(os.path.dirname(__file__), "..", "data"))
    parser.add_argument("--seeds", type=int, default=50)
    args = parser.parse_args()
    root = os.path.abspath(args.data_root)
    folders = sorted(glob.glob(os.path.join(glob.escape(root), "injected_stamps", "*")))
    if not folders:
        raise SystemExit(f"no stamp partitions under {root}/injected_stamps: run `make demo` first")
    layout = SurveyLayout(os.path.join(root, "mock_sky"))
    per_seed = []
    with open_bank(os.path.join(root, "source_bank", "all", "bank.h5")) as bank:
        for seed in range(args.seeds):
            start = time.perf_counter()
            per_seed.append({"seed": seed, **judge(folders, layout, bank, DiagnosticsConfig(seed=seed))})
            print(per_seed[-1], f"{time.perf_counter() - start:.0f} s", flush=True)
    failures = {
        name: sum(not row[f"{name}_passed"] for row in per_seed)
        for name in ("null_injection", "column_audit", "shortcut_gate")
    }
    for name, count in failures.items():
        print(f"{name}: {count} / {args.seeds} seeds failed on clean data ({100 * count / args.seeds:.1f} %)")
    print(
        "results ->",
        save(
            "false_alarms",
            {"partitions": len(folders), "seeds": args.seeds, "failures": failures, "per_seed": per_seed},
        ),
    )


if __name__ == "__main__":
    main()
