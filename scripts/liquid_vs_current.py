"""Experiment 3 of docs/fit.md, the liquid claim tested: the conductance ("liquid") tap-withdrawal circuit and
its current-based twin (`transforms.current_based`), trained identically on CartPole-v1, then evaluated under
shifts never seen in training.

Usage: .venv/bin/python scripts/liquid_vs_current.py [--workers 1] [--seeds 50] [--resume]

- Liquid: the best spec of experiment 2 (`scripts/fit_experiments.py cartpole` → docs/figures/
  fit_cartpole_best.yaml; run that first).
- Twin: the same fit (`scripts/experiments/cartpole_fit.yaml`: same free parameters, bounds, objective,
  popsize, CMA-ES seed, and experiment 2's number of generations) with every candidate run as
  `current_based(build(spec))`; its best candidate chosen on the validation seeds the same way
  (`select_on_validation`) →
  docs/figures/fit_cartpole_current_best.yaml (run it through `current_based` to get the twin).
- Shifts (`wormchip.worlds.gym`): pole length ×2 and ×0.5, gravity ×1.5, Gaussian sensor noise σ = 0.02 and
  0.05 on every observation component, the action applied 1 and 2 control steps (20, 40 ms) late.
- Each model and shift: world seeds 2000 … 2000 + seeds − 1 (never used in training), on the emulator (the
  fixed-point chip, bit-identical to Lava). Paired by seed: mean difference (liquid − twin) with a 95 %
  bootstrap interval and the Wilcoxon signed-rank p.
Writes docs/figures/liquid_vs_current_cartpole.json and .png.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from fit_experiments import network_returns, select_on_validation  # noqa: E402
from scipy import stats  # noqa: E402

from wormchip.circuits.build import build  # noqa: E402
from wormchip.circuits.loader import load_spec, to_yaml  # noqa: E402
from wormchip.fit.engine import fit  # noqa: E402
from wormchip.transforms import current_based  # noqa: E402

FIGURES = Path("docs/figures")
SPEC = Path("scripts/experiments/cartpole_fit.yaml")
SHIFTS: dict[str, dict] = {
    "nominal": {},
    "pole length ×2": {"physics": {"length": 1.0}},
    "pole length ×0.5": {"physics": {"length": 0.25}},
    "gravity ×1.5": {"physics": {"gravity": 14.7}},
    "sensor noise σ 0.02": {"observation_noise": 0.02},
    "sensor noise σ 0.05": {"observation_noise": 0.05},
    "action delay 20 ms": {"action_delay": 1},
    "action delay 40 ms": {"action_delay": 2},
}


def paired(liquid: np.ndarray, twin: np.ndarray, rng: np.random.Generator) -> dict:
    """Mean of each, the paired mean difference with a 95 % bootstrap interval, Wilcoxon's p."""
    diff = liquid - twin
    boot = rng.choice(diff, size=(10_000, len(diff))).mean(axis=1)
    p = 1.0 if not np.any(diff) else float(stats.wilcoxon(liquid, twin).pvalue)
    return {
        "liquid_mean": float(liquid.mean()),
        "liquid_sd": float(liquid.std(ddof=1)),
        "twin_mean": float(twin.mean()),
        "twin_sd": float(twin.std(ddof=1)),
        "difference": float(diff.mean()),
        "difference_ci95": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
        "wilcoxon_p": p,
        "n": len(diff),
    }


def figure(table: dict) -> plt.Figure:
    names = list(table)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for offset, key, label in ((-0.2, "liquid", "conductance (liquid)"), (0.2, "twin", "current-based twin")):
        ax.bar(x + offset, [table[n][f"{key}_mean"] for n in names], 0.4, label=label,
               yerr=[table[n][f"{key}_sd"] for n in names], capsize=3)  # fmt: skip
    ax.set_xticks(x, names, rotation=25, ha="right")
    ax.set_ylabel("CartPole-v1 return (mean ± sd)")
    ax.axhline(475, color="grey", lw=0.8, ls="--")
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--resume", action="store_true", help="continue the twin's fit from its checkpoint")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    experiment2_all = json.loads((FIGURES / "fit_cartpole.json").read_text())
    experiment2 = experiment2_all["fit"]
    twin_out = Path("out/experiments/cartpole_current")
    twin_fit = fit(SPEC, workers=args.workers, resume=args.resume, out=twin_out,
                   generations=experiment2["generations"],
                   network_transform=current_based,
                   report=lambda done, total, best: print(f"twin generation {done}/{total}: best {best:.1f}",
                                                          flush=True))  # fmt: skip
    twin_spec, twin_selection = select_on_validation(SPEC, twin_out, current_based)
    (FIGURES / "fit_cartpole_current_best.yaml").write_text(to_yaml(twin_spec))
    liquid = build(load_spec(FIGURES / "fit_cartpole_best.yaml"))
    twin = current_based(build(twin_spec))
    seeds = range(2000, 2000 + args.seeds)
    rng = np.random.default_rng(0)
    table = {}
    for name, shift in SHIFTS.items():
        table[name] = paired(network_returns(liquid, seeds, shift), network_returns(twin, seeds, shift), rng)
        row = table[name]
        print(f"{name:<22} liquid {row['liquid_mean']:6.1f}  twin {row['twin_mean']:6.1f}  "
              f"Δ {row['difference']:+6.1f} {row['difference_ci95']}  p {row['wilcoxon_p']:.3g}", flush=True)  # fmt: skip
    out = {
        "training": {
            "spec": str(SPEC),
            "liquid_best_score": None,
            "twin_best_score": twin_fit.best_score,
            "twin_generations": twin_fit.generations,
            "twin_wall_s": twin_fit.wall_s,
        },  # fmt: skip
        "seeds": [seeds.start, seeds.stop - 1],
        "shifts": SHIFTS,
        "table": table,
        "wall_s": time.perf_counter() - t0,
    }
    (FIGURES / "liquid_vs_current_cartpole.json").write_text(json.dumps(out, indent=1))
    figure(table).savefig(FIGURES / "liquid_vs_current_cartpole.png", dpi=110)


if __name__ == "__main__":
    main()
