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


def plot_spiking(report: dict):
    """Left: held-out r of the fitted linear model, its spiking translation at each pulse amplitude and the
    rate read-outs (float LIF, fixed-point chip). Right: free-potential change of each command class under an
    anterior and a posterior touch of `whole_worm_fitted` (the classes each touch should excite marked)."""
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.4))
    pulse = report["pulse_pA"]
    sweep = {float(a): v["r"] for a, v in report["amplitude_sweep"].items()} | {pulse: report["spiking_r"]}
    rows = {"linear fit": report["linear_heldout_r"]}
    rows.update(
        {f"spiking, {a:g} pA pulse" + (" (used)" if a == pulse else ""): r for a, r in sorted(sweep.items())}
    )
    rows["float LIF, rate read-out"] = report["float_rate_r"]
    rows["chip (fixed point), rate read-out"] = report["fixed_point_r"]
    colors = ["C3", *("C1" if "used" in k else "0.6" for k in list(rows)[1:-2]), "C0", "C2"]
    ax.barh(range(len(rows)), list(rows.values()), color=colors)
    ax.axvline(0.8 * report["linear_heldout_r"], color="k", ls=":", label="80 % of the linear fit")
    ax.set_yticks(range(len(rows)), list(rows))
    ax.invert_yaxis()
    ax.set_xlabel("Pearson r on held-out-stimulation pairs (wt)")
    ax.legend(fontsize=7)
    classes = ("AVA", "AVD", "AVE", "AVB", "PVC")
    for k, (site, color) in enumerate((("anterior", "C1"), ("posterior", "C4"))):
        free = report["touch"][site]["free"]
        change = [np.mean([free[c + s][1] - free[c + s][0] for s in "LR"]) for c in classes]
        bx.bar(np.arange(5) + 0.4 * k - 0.2, change, 0.4, color=color, label=f"{site} touch")
    bx.axhline(0, color="k", lw=0.5)
    bx.set_xticks(
        range(5),
        ["AVA\n(backward)", "AVD\n(backward)", "AVE\n(backward)", "AVB\n(forward)", "PVC\n(forward)"],
    )
    bx.set_ylabel("free-potential change during the touch (mV)")
    bx.set_title("whole_worm_fitted, 0.3 nA touch 200–300 ms vs exact no-touch control", fontsize=9)
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig
