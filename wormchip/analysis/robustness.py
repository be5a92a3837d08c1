"""Liquid vs current-based robustness: how a task circuit's decision degrades under noise, drift and ablation.

The task is the tap-withdrawal decision (Wicks et al. 1996; Chalfie et al. 1985): anterior touch must make the
reversal read-out REV out-fire the forward read-out FWD, posterior touch the opposite. The same circuit runs
in its conductance ("liquid") form and in its current-based form (`wormchip.transforms.current_based`,
matched at the operating point), under one perturbation at a time:

- input noise: Gaussian current into every neuron, σ in amperes, redrawn every 1 ms;
- parameter drift: lognormal factors on C_m, g_L, I_bias and weights, and threshold jitter (σ relative);
- ablation: k neurons removed at random from the sensory and interneurons (never the command or motor cells).

Each condition is repeated over seeds; every seed's trials (both touch sites) are stacked into one network
(`wormchip.transforms.stack`) so one Brian2 run serves them all. The score per seed is the decision accuracy
over the two sites and the margin (correct − wrong read-out spikes) / (correct + wrong + 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wormchip import ir
from wormchip.circuits.build import build
from wormchip.circuits.loader import load_spec
from wormchip.transforms import add_noise, current_based, drift, stack, unstack

SITES = {"anterior": ("REV", "FWD"), "posterior": ("FWD", "REV")}  # site → (correct, wrong) read-out
ABLATABLE = ("PVD", "PLM", "AVM", "ALM", "AVD", "PVC", "DVA")
WINDOW_S = (0.1, 0.35)  # the touch (100–300 ms) plus 50 ms


@dataclass(frozen=True)
class Condition:
    """One perturbation at one level (noise σ in A, drift σ relative, ablation k neurons)."""

    kind: str  # "noise" | "drift" | "ablation"
    level: float


DEFAULT_LEVELS = {
    "noise": (0.0, 0.05e-9, 0.1e-9, 0.2e-9, 0.4e-9),
    "drift": (0.0, 0.1, 0.2, 0.3, 0.4),
    "ablation": (0, 1, 2, 3),
}


@dataclass
class RobustnessReport:
    """Per (model, condition, seed) scores and their summary (mean and standard error over seeds)."""

    trials: pd.DataFrame
    seeds: int
    circuit: str
    metadata: dict = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Mean ± SEM of accuracy and margin per model, perturbation and level."""
        g = self.trials.groupby(["model", "kind", "level"])
        out = g[["accuracy", "margin"]].agg(["mean", "sem"])
        out.columns = [f"{a}_{b}" for a, b in out.columns]
        return out.reset_index()

    def paired_difference(self) -> pd.DataFrame:
        """Liquid minus current-based margin per seed (both saw the same perturbation draws): mean ± SEM."""
        wide = self.trials.pivot_table(index=["kind", "level", "seed"], columns="model", values="margin")
        diff = (wide["liquid"] - wide["current"]).rename("margin_diff").reset_index()
        out = diff.groupby(["kind", "level"])["margin_diff"].agg(["mean", "sem"]).reset_index()
        return out.rename(columns={"mean": "margin_diff_mean", "sem": "margin_diff_sem"})

    def to_dict(self) -> dict:
        return {
            "circuit": self.circuit,
            "seeds": self.seeds,
            "summary": self.summary().to_dict(orient="records"),
            "paired_difference": self.paired_difference().to_dict(orient="records"),
            **self.metadata,
        }


def _networks(circuit: str, condition: Condition, seed: int) -> dict[str, dict[str, ir.Network]]:
    """model → site → network for one seed; both models see the same perturbation draws."""
    rng = np.random.default_rng(seed)
    ablate: list[str] = []
    if condition.kind == "ablation" and condition.level > 0:
        ablate = list(rng.choice(ABLATABLE, size=int(condition.level), replace=False))
    draw_seed = int(rng.integers(2**32))
    out: dict[str, dict[str, ir.Network]] = {"liquid": {}, "current": {}}
    for site in SITES:
        spec = load_spec(circuit)
        spec.stimuli[0].site = site
        spec.run.seed = seed
        liquid = build(spec, ablate=ablate or None)
        for model, net in (("liquid", liquid), ("current", current_based(liquid))):
            r = np.random.default_rng([draw_seed, list(SITES).index(site)])  # same draws for both models
            if condition.kind == "noise":
                net = add_noise(net, condition.level, r)
            elif condition.kind == "drift":
                net = drift(net, condition.level, r)
            out[model][site] = net
    return out


def _score(counts: dict[str, dict[str, int]]) -> tuple[float, float]:
    correct = wrong = 0
    hits = 0
    for site, (good, bad) in SITES.items():
        c, w = counts[site].get(good, 0), counts[site].get(bad, 0)
        hits += c > w
        correct += c
        wrong += w
    return hits / len(SITES), (correct - wrong) / (correct + wrong + 1)


def run_robustness(
    circuit: str = "tap_withdrawal",
    seeds: int = 10,
    levels: dict[str, Sequence[float]] | None = None,
    target: str = "numpy",
    progress: Callable[[float], None] | None = None,
) -> RobustnessReport:
    """Run every (perturbation, level) for `seeds` seeds in both forms; one Brian2 run per condition."""
    from wormchip.backends.brian2_backend import run_brian2

    levels = DEFAULT_LEVELS if levels is None else levels
    conditions = [Condition(kind, float(x)) for kind, xs in levels.items() for x in xs]
    rows = []
    for c_idx, cond in enumerate(conditions):
        nets, prefixes = [], []
        for seed in range(seeds):
            for model, by_site in _networks(circuit, cond, seed).items():
                for site, net in by_site.items():
                    nets.append(net)
                    prefixes.append(f"{model}-{seed}-{site}")
        result = run_brian2(stack(nets, prefixes), target=target)
        lo, hi = WINDOW_S
        counts: dict[tuple[str, int], dict[str, dict[str, int]]] = {}
        for prefix, res in zip(prefixes, unstack(result, prefixes)):
            model, seed, site = prefix.split("-")
            counts.setdefault((model, int(seed)), {})[site] = res.spike_counts(lo, hi)
        for (model, seed), by_site in counts.items():
            accuracy, margin = _score(by_site)
            rows.append(
                {
                    "model": model,
                    "kind": cond.kind,
                    "level": cond.level,
                    "seed": seed,
                    "accuracy": accuracy,
                    "margin": margin,
                }
            )
        if progress is not None:
            progress((c_idx + 1) / len(conditions))
    return RobustnessReport(pd.DataFrame(rows), seeds, circuit, {"window_s": list(WINDOW_S)})


def plot_robustness(report: RobustnessReport):
    """One panel per perturbation: decision margin (mean ± SEM over seeds) vs level, liquid vs current-based."""
    import matplotlib.pyplot as plt

    summary = report.summary()
    kinds = list(dict.fromkeys(summary["kind"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 3.6), squeeze=False)
    labels = {
        "noise": "input noise σ (nA)",
        "drift": "parameter drift σ (relative)",
        "ablation": "neurons ablated",
    }
    scale = {"noise": 1e9, "drift": 1.0, "ablation": 1.0}
    for ax, kind in zip(axes[0], kinds):
        for model, style in (("liquid", "o-"), ("current", "s--")):
            s = summary[(summary["kind"] == kind) & (summary["model"] == model)]
            ax.errorbar(
                s["level"] * scale[kind],
                s["margin_mean"],
                yerr=s["margin_sem"],
                fmt=style,
                capsize=3,
                label="conductance (liquid)" if model == "liquid" else "current-based",
            )
        ax.set_xlabel(labels.get(kind, kind))
        ax.set_ylabel("decision margin (dimensionless)")
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(kind)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(
        f"{report.circuit}: margin = (correct − wrong read-out spikes)/(total + 1), mean ± SEM over "
        f"{report.seeds} seeds",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
