"""Regenerate the liquid-vs-current robustness figures of docs/results.md.

Usage: .venv/bin/python scripts/robustness_results.py [--seeds 10] [--target cython]
Writes docs/figures/robustness.png and out/robustness.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from wormchip.analysis.robustness import plot_robustness, run_robustness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--target", default="cython", choices=["numpy", "cython"])
    args = parser.parse_args()
    t0 = time.perf_counter()
    report = run_robustness(seeds=args.seeds, target=args.target)
    wall = time.perf_counter() - t0
    Path("out").mkdir(exist_ok=True)
    Path("out/robustness.json").write_text(json.dumps(report.to_dict(), indent=1))
    fig = plot_robustness(report)
    fig.savefig("docs/figures/robustness.png", dpi=110)
    summary = report.summary()
    paired = report.paired_difference().set_index(["kind", "level"])
    print(f"{args.seeds} seeds, {wall:.0f} s")
    print(
        "| perturbation | level | liquid accuracy | liquid margin | current accuracy | current margin "
        "| paired margin difference (liquid − current) |"
    )
    print("|---|---|---|---|---|---|---|")
    for (kind, level), rows in summary.groupby(["kind", "level"], sort=False):
        by = {r["model"]: r for _, r in rows.iterrows()}
        cells = [
            f"{by[m]['accuracy_mean']:.2f} ± {by[m]['accuracy_sem']:.2f} | "
            f"{by[m]['margin_mean']:.2f} ± {by[m]['margin_sem']:.2f}"
            for m in ("liquid", "current")
        ]
        d = paired.loc[(kind, level)]
        diff = f"{d['margin_diff_mean']:+.3f} ± {d['margin_diff_sem']:.3f}"
        print(f"| {kind} | {level:g} | {cells[0]} | {cells[1]} | {diff} |")


if __name__ == "__main__":
    main()
