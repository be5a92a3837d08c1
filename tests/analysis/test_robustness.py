"""IR transforms behind the robustness experiment: stacking is exact, conversions and perturbations do what
their docstrings say (numbers checked against the formulas), and the experiment scores a clean circuit."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.analysis.robustness import Condition, _networks, run_robustness
from wormchip.backends.brian2_backend import run_brian2
from wormchip.circuits.build import build
from wormchip.circuits.loader import load_spec
from wormchip.transforms import add_noise, current_based, drift, stack, unstack


def _tap(site: str):
    spec = load_spec("tap_withdrawal")
    spec.stimuli[0].site = site
    spec.run.duration = "300 ms"
    return build(spec)


def test_stacked_copies_run_exactly_like_separate_runs():
    nets = [_tap("anterior"), _tap("posterior"), current_based(_tap("anterior"))]
    prefixes = ["a", "p", "c"]
    stacked = stack(nets, prefixes)
    assert stacked.size == sum(n.size for n in nets)
    assert len(stacked.blocks) == 2  # conductance_lif from the first two, lif from the converted copy
    together = unstack(run_brian2(stacked, target="numpy"), prefixes)
    for net, part in zip(nets, together):
        alone = run_brian2(net, target="numpy")
        assert part.neuron_names == list(net.names)
        for name in net.names:
            np.testing.assert_allclose(part.spike_times[name], alone.spike_times[name], atol=1e-9)
        assert sum(alone.spike_counts().values()) > 20


def test_current_based_matches_the_conductance_current_at_the_operating_point():
    liquid = _tap("anterior")
    cuba = current_based(liquid)
    assert {b.model for b in cuba.blocks} == {"lif"}
    chem_l = next(p for p in liquid.projections if p.synapse == "exp_conductance")
    chem_c = next(p for p in cuba.projections if p.name == chem_l.name)
    assert chem_c.synapse == "exp_current"
    v_op = (-65e-3 + -50e-3) / 2  # inter/command cells: E_L −65 mV, v_th −50 mV
    ava = liquid.index()["AVA"]
    into_ava = chem_l.post == ava
    e_rev = np.where(chem_l.weight[into_ava] > 0, 0.0, -0.09)
    np.testing.assert_allclose(chem_c.weight[into_ava], np.abs(chem_l.weight[into_ava]) * (e_rev - v_op))
    gap = [p for p in cuba.projections if p.synapse == "gap_junction"]
    assert len(gap) == 1 and np.all(gap[0].weight > 0)


def test_drift_factors_have_the_stated_distribution():
    net = build(load_spec("whole_worm"))
    drifted = drift(net, 0.2, np.random.default_rng(0))
    assert drift(net, 0.0, np.random.default_rng(0)) is net
    for b0, b1 in zip(net.blocks, drifted.blocks):
        log_ratio = np.log(b1.params["g_L"] / b0.params["g_L"])
        assert abs(log_ratio.mean()) < 0.05 and log_ratio.std() == pytest.approx(0.2, rel=0.15)
        rel_th = (b1.params["v_th"] - b0.params["v_th"]) / (b0.params["v_th"] - b0.params["E_L"])
        assert rel_th.std() == pytest.approx(0.2, rel=0.15)
    ratios = np.concatenate(
        [np.log(p1.weight / p0.weight) for p0, p1 in zip(net.projections, drifted.projections)]
    )
    assert ratios.size > 4000 and ratios.std() == pytest.approx(0.2, rel=0.05)


def test_noise_adds_zero_mean_current_of_the_given_sigma_and_keeps_the_stimulus():
    net = _tap("anterior")
    noisy = add_noise(net, 0.1e-9, np.random.default_rng(1))
    assert noisy.current is not None and noisy.current.values.shape[1] == net.size
    full = np.zeros((noisy.current.values.shape[0], net.size))
    rows = min(len(net.current.values), len(full))
    np.add.at(full[:rows].T, net.current.target, net.current.values[:rows].T)
    noise = noisy.current.values - full
    assert abs(noise.mean()) < 0.01e-9 and noise.std() == pytest.approx(0.1e-9, rel=0.05)
    held = noise[::10]  # redrawn every 1 ms = 10 steps of 0.1 ms
    np.testing.assert_array_equal(noise[: len(held) * 10 : 10], held)
    assert np.all(noise[1:10] == noise[0])


def test_both_models_see_the_same_ablations():
    nets = _networks("tap_withdrawal", Condition("ablation", 2), seed=3)
    liquid, cuba = nets["liquid"]["anterior"], nets["current"]["anterior"]
    assert liquid.names == cuba.names and len(liquid.names) == 9


def test_clean_circuit_decides_correctly_in_both_forms():
    report = run_robustness(seeds=1, levels={"noise": (0.0,)})
    summary = report.summary()
    assert set(summary["model"]) == {"liquid", "current"}
    assert np.all(summary["accuracy_mean"] == 1.0) and np.all(summary["margin_mean"] > 0.9), summary


def test_paired_difference_is_the_mean_of_per_seed_differences():
    import pandas as pd

    from wormchip.analysis.robustness import RobustnessReport

    trials = pd.DataFrame(
        [
            {"model": m, "kind": "noise", "level": 0.1, "seed": s, "accuracy": 1.0, "margin": v}
            for s, (a, b) in enumerate([(0.9, 0.7), (0.8, 0.8), (0.5, 0.2)])
            for m, v in (("liquid", a), ("current", b))
        ]
    )
    diff = RobustnessReport(trials, 3, "x").paired_difference().iloc[0]
    assert diff["margin_diff_mean"] == pytest.approx((0.2 + 0.0 + 0.3) / 3)
    assert diff["margin_diff_sem"] == pytest.approx(np.std([0.2, 0.0, 0.3], ddof=1) / np.sqrt(3))
