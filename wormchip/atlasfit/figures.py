"""Figures of an atlas fit, drawn from the cached results (no refitting)."""

from __future__ import annotations

import numpy as np

BASELINE_LABELS = {
    "anatomy": "anatomy\n(direct edge)",
    "unfitted": "unfitted\nwhole_worm",
    "bias_only": "read-out\nbias only",
    "unconstrained": "all-to-all\nfit",
}


def plot_heldout(result: dict, arrays: dict[str, np.ndarray]):
    """Left: predicted vs measured ΔF/F on held-out-stimulation pairs. Right: held-out r of the fit and every
    baseline, the shuffled-connectome fits as dots, the √(Spearman–Brown) ceiling as a line."""
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8))
    y, p, sig = arrays["measured"], arrays["model"], arrays["q"] < 0.05
    ax.scatter(p[~sig], y[~sig], s=3, color="0.6", alpha=0.4, label="q ≥ 0.05")
    ax.scatter(p[sig], y[sig], s=6, color="C3", alpha=0.8, label="q < 0.05")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("predicted ΔF/F (fit without the pair's stimulated neuron)")
    ax.set_ylabel("measured ΔF/F (winsorized trial mean)")
    ax.set_title(
        f"{result['strain']}: {result['pairs']} held-out pairs, r = {result['heldout_r']:.3f}", fontsize=9
    )
    ax.legend(fontsize=7)
    base = result["baselines"]
    names = ["model", *BASELINE_LABELS]
    values = [result["heldout_r"], *(base[k]["r"] for k in BASELINE_LABELS)]
    bx.bar(range(len(names)), values, color=["C3", *["0.6"] * len(BASELINE_LABELS)])
    shuffled = [v for v in base["shuffled_fit"]["r"] if v is not None]
    if shuffled:
        x = len(names) + np.random.default_rng(0).uniform(-0.2, 0.2, len(shuffled))
        bx.scatter(x, shuffled, s=10, color="C0", label=f"{len(shuffled)} shuffled-connectome fits")
    bx.axhline(
        result["ceiling"], color="k", ls=":", label=f"ceiling √(Spearman–Brown) = {result['ceiling']:.2f}"
    )
    bx.set_xticks(range(len(names) + 1), ["fitted\nconnectome", *BASELINE_LABELS.values(), "shuffled\nfit"])
    bx.set_ylabel("Pearson r on held-out-stimulation pairs")
    bx.set_title(f"{result['folds']}-fold over stimulated neurons, nested CV", fontsize=9)
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_trials(result: dict):
    """Held-out trials: fraction of reproducibility of the fit vs the shuffled-connectome fits."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    null = [v for v in result["baselines"]["shuffled_fit"]["trials_fraction"] if v is not None]
    if null:
        ax.hist(null, bins=15, color="0.7", edgecolor="0.4", label=f"{len(null)} shuffled-connectome fits")
    ax.axvline(result["fraction_of_reproducibility"], color="C3", lw=2, label="fitted connectome")
    ax.axvline(0.9, color="k", ls=":", label="goal 0.9")
    ax.set_xlabel("r(prediction, half B) ÷ r(half A, half B)")
    ax.set_ylabel("fits (count)")
    ax.set_title(
        f"{result['strain']}: held-out trials, p = {result['baselines']['shuffled_fit']['trials_p']}"
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
