"""Experiment 3 of docs/fit.md, the liquid claim tested: the conductance ("liquid") tap-withdrawal circuit and
its current-based twin (`transforms.current_based`), trained identically, evaluated in CartPole-v1 under shifts
never seen in training.

Usage: .venv/bin/python scripts/liquid_vs_current.py [--on emulator|brian2] [--seeds N] [--processes 2]
       [--train-twin]

- Liquid: experiment 2's selected spec (`scripts/fit_experiments.py cartpole` → docs/figures/
  fit_cartpole_best.yaml; run that first), trained on the emulator, whose conductance synapses are exact
  (`GapLIF`'s conductance register, docs/compiler.md).
- Twin: the same fit with every candidate run as `current_based(build(spec))` (same free parameters, bounds,
  objective, CMA-ES seed, generations, validation selection; `--train-twin` trains or resumes it in
  out/experiments/cartpole_current and writes docs/figures/fit_cartpole_twin_best.yaml). It runs as
  `current_based(build(twin spec))`.
- Shifts (`wormchip.worlds.gym`): pole length ×0.5 and ×2, gravity ×1.5, Gaussian sensor noise σ = 0.05 on
  every observation component, the action applied 2 control steps (40 ms) late.
- Each form and shift: world seeds 2000 … 2000 + seeds − 1 (never used in training or selection), on `--on`
  (default the emulator, 50 seeds; Brian2: 20). Paired by seed: mean difference (liquid − twin) with a 95 %
  bootstrap interval and the Wilcoxon signed-rank p.
Writes docs/figures/liquid_vs_current_cartpole.json (one table per backend) and
liquid_vs_current_cartpole_<on>.png.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
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
BEST = FIGURES / "fit_cartpole_best.yaml"
TWIN_BEST = FIGURES / "fit_cartpole_twin_best.yaml"
SHIFTS: dict[str, dict] = {
    "nominal": {},
    "pole length ×0.5": {"physics": {"length": 0.25}},
    "pole length ×2": {"physics": {"length": 1.0}},
    "gravity ×1.5": {"physics": {"gravity": 14.7}},
    "sensor noise σ 0.05": {"observation_noise": 0.05},
    "action delay 40 ms": {"action_delay": 2},
}


def _returns(form: str, shift_name: str, seeds: range, on: str) -> np.ndarray:
    """One task: the liquid spec, or the twin's spec as a current-based network, under one shift on `on`."""
    warnings.simplefilter("ignore")
    if form == "liquid":
        network = build(load_spec(BEST))
    else:
        network = current_based(build(load_spec(TWIN_BEST)))
    return network_returns(network, seeds, SHIFTS[shift_name], on=on)


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


def figure(table: dict, on: str) -> plt.Figure:
    names = list(table)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for offset, key, label in ((-0.2, "liquid", "conductance (liquid)"), (0.2, "twin", "current-based twin")):
        ax.bar(x + offset, [table[n][f"{key}_mean"] for n in names], 0.4, label=label,
               yerr=[table[n][f"{key}_sd"] for n in names], capsize=3)  # fmt: skip
    ax.set_xticks(x, names, rotation=25, ha="right")
    ax.set_ylabel(f"CartPole-v1 return on {on} (mean ± sd)")
    ax.axhline(475, color="grey", lw=0.8, ls="--")
    ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    return fig


def twin_on_the_chip() -> dict:
    """The twin trained identically on the emulator (resumes its checkpoint) and selected the same way."""
    experiment2 = json.loads((FIGURES / "fit_cartpole.json").read_text())
    out = Path("out/experiments/cartpole_current")
    twin = fit(SPEC, workers=1, resume=True, out=out, generations=experiment2["fit"]["generations"],
               network_transform=current_based)  # fmt: skip
    spec, selection = select_on_validation(SPEC, out, current_based)
    TWIN_BEST.write_text(to_yaml(spec))
    return {"twin_best_score": twin.best_score, "twin_selection": selection,
            "liquid_selection": experiment2.get("selection"), "same_spec_as_liquid": spec == load_spec(BEST)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--on", choices=["emulator", "brian2"], default="emulator")
    parser.add_argument("--seeds", type=int, help="world seeds per form and shift (emulator 50, brian2 20)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--train-twin", action="store_true", help="train (or resume) and select the twin first"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    path = FIGURES / "liquid_vs_current_cartpole.json"
    out = json.loads(path.read_text()) if path.exists() else {}
    if args.train_twin:
        out["chip_twin"] = twin_on_the_chip()
        print(out["chip_twin"], flush=True)
    n_seeds = args.seeds or (50 if args.on == "emulator" else 20)
    seeds = range(2000, 2000 + n_seeds)
    tasks = [(form, name) for name in SHIFTS for form in ("liquid", "twin")]
    with ProcessPoolExecutor(args.processes) as pool:
        futures = {task: pool.submit(_returns, *task, seeds, args.on) for task in tasks}
        results = {task: f.result() for task, f in futures.items()}
    rng = np.random.default_rng(0)
    table = {}
    for name in SHIFTS:
        table[name] = paired(results["liquid", name], results["twin", name], rng)
        row = table[name]
        print(f"{name:<22} liquid {row['liquid_mean']:6.1f}  twin {row['twin_mean']:6.1f}  "
              f"Δ {row['difference']:+6.1f} {row['difference_ci95']}  p {row['wilcoxon_p']:.3g}", flush=True)  # fmt: skip
    out.setdefault("runs", {})[args.on] = {
        "liquid_spec": str(BEST), "twin_spec": str(TWIN_BEST), "seeds": [seeds.start, seeds.stop - 1],
        "shifts": SHIFTS, "table": table, "wall_s": time.perf_counter() - t0,
    }  # fmt: skip
    path.write_text(json.dumps(out, indent=1))
    figure(table, args.on).savefig(FIGURES / f"liquid_vs_current_cartpole_{args.on}.png", dpi=110)


if __name__ == "__main__":
    main()
