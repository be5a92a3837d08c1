"""Brian2 backend vs closed forms: LIF f–I curve, spike-frequency adaptation, gap-junction steady state,
and the 'liquid' effective time constant of the conductance model (numbers, not just signs)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from wormchip.backends.brian2_backend import run_brian2
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict
from wormchip.result import Result

pytest.importorskip("brian2")

# Registry defaults (wormchip.models._MEMBRANE), SI.
C_M, G_L, E_L, V_TH, T_REF = 100e-12, 5e-9, -65e-3, -50e-3, 2e-3
TAU_M = C_M / G_L


def _run(spec: dict) -> Result:
    """Build a spec given as a dict and run it with the numpy target (no compilation)."""
    spec.setdefault("name", "physics")
    spec.setdefault("run", {}).setdefault("target", "numpy")
    return run_brian2(build(from_dict(spec)))


def lif_rate(current: float) -> float:
    """Analytic LIF rate for a constant current (v_reset = E_L): 1/(t_ref + τ ln(IR/(IR − (v_th − E_L))))."""
    drive, theta = current / G_L, V_TH - E_L
    if drive <= theta:
        return 0.0
    return 1.0 / (T_REF + TAU_M * np.log(drive / (drive - theta)))


def test_lif_fi_curve_matches_analytic_rate() -> None:
    """One neuron per amplitude; the steady rate (1/mean ISI) is within 2% of the analytic rate."""
    amps_na = [0.07, 0.09, 0.1, 0.15, 0.2, 0.3, 0.5]
    res = _run(
        {
            "populations": [
                {"name": f"n{k}", "size": 1, "model": "lif", "params": {"I_bias": f"{a} nA"}}
                for k, a in enumerate(amps_na)
            ],
            "run": {"dt": "0.05 ms", "duration": "1 s"},
        }
    )
    for k, amp in enumerate(amps_na):
        spikes = res.spike_times[f"n{k}_0"]
        expected = lif_rate(amp * 1e-9)
        if expected == 0.0:  # 0.07 nA is below rheobase g_L (v_th − E_L) = 0.075 nA
            assert len(spikes) == 0
            continue
        measured = 1.0 / np.mean(np.diff(spikes))
        assert measured == pytest.approx(expected, rel=0.02), (amp, measured, expected)
        # The first spike comes after the free rise from E_L (no refractory period before it).
        assert spikes[0] == pytest.approx(1.0 / expected - T_REF, abs=0.2e-3)


def _adapted_isi(current: float, b: float, tau_w: float) -> float:
    """Exact periodic ISI of the adaptive LIF: w⁺ = b/(1 − e^(−T/τ_w)) after each spike, v clamped for t_ref,
    then u = v − E_L obeys C du/dt = −g_L u + I − w e^(−t/τ_w), solved in closed form and root-found."""

    def crossing(w0: float) -> float:
        k = w0 / (C_M * (1 / TAU_M - 1 / tau_w))

        def u(t: float) -> float:
            return (current / G_L) * (1 - np.exp(-t / TAU_M)) - k * (np.exp(-t / tau_w) - np.exp(-t / TAU_M))

        return brentq(lambda t: u(t) - (V_TH - E_L), 1e-9, 1.0)

    def residual(period: float) -> float:
        w_plus = b / (1 - np.exp(-period / tau_w))
        return T_REF + crossing(w_plus * np.exp(-T_REF / tau_w)) - period

    return brentq(residual, 1e-3, 0.5)


def test_adaptive_lif_spike_frequency_adaptation() -> None:
    """The rate falls from the LIF rate (first ISI) to the exact adapted steady state, within 2%."""
    current, b, tau_w = 0.3e-9, 0.05e-9, 0.1
    res = _run(
        {
            "populations": [
                {
                    "name": "a",
                    "size": 1,
                    "model": "adaptive_lif",
                    "params": {"I_bias": "0.3 nA", "b": "0.05 nA", "tau_w": "100 ms"},
                }
            ],
            "probes": [{"variables": ["w_adapt"], "dt": "1 ms"}],
            "run": {"dt": "0.05 ms", "duration": "1.5 s"},
        }
    )
    isi = np.diff(res.spike_times["a_0"])
    first_rate, steady_rate = 1 / isi[0], 1 / np.mean(isi[-10:])
    # First ISI: w = b e^(−t/τ_w) already slows it a little below the plain LIF rate.
    assert first_rate < lif_rate(current)
    assert first_rate > 0.85 * lif_rate(current)
    assert steady_rate == pytest.approx(1 / _adapted_isi(current, b, tau_w), rel=0.02)
    ratio = steady_rate / first_rate
    assert 0.2 < ratio < 0.45, ratio  # strong adaptation: ~0.3 for these parameters
    assert np.all(np.diff(isi[:10]) > 0)  # ISIs lengthen monotonically during the transient
    w = res.traces["w_adapt"].channel("a_0")
    assert w.max() == pytest.approx(b / (1 - np.exp(-1 / (steady_rate * tau_w))), rel=0.03)


def test_gap_junction_steady_state() -> None:
    """Cell A gets a subthreshold current, B only the gap current; v_A, v_B solve the 2×2 linear system."""
    g, current = 5e-9, 0.05e-9
    res = _run(
        {
            "populations": [{"name": "p", "cells": ["A"], "model": "lif"}, {"name": "q", "cells": ["B"]}],
            "connections": [
                {
                    "name": "gap",
                    "source": ["p"],
                    "target": ["q"],
                    "synapse": "gap_junction",
                    "weight_scale": "5 nS",
                    "edges": [{"pre": "A", "post": "B"}],
                }
            ],
            "stimuli": [{"name": "drive", "kind": "step", "targets": ["A"], "amplitude": "0.05 nA"}],
            "probes": [{"variables": ["v", "I_gap", "tau_eff"], "dt": "1 ms"}],
            "run": {"dt": "0.1 ms", "duration": "400 ms"},
        }
    )
    matrix = np.array([[G_L + g, -g], [-g, G_L + g]])
    u_a, u_b = np.linalg.solve(matrix, [current, 0.0])
    v = res.traces["v"]
    v_a, v_b = v.channel("A")[-1], v.channel("B")[-1]
    assert v_a == pytest.approx(E_L + u_a, abs=0.1e-3)  # ≈ −58.3 mV
    assert v_b == pytest.approx(E_L + u_b, abs=0.1e-3)  # ≈ −61.7 mV
    i_gap = res.traces["I_gap"]
    assert i_gap.channel("B")[-1] == pytest.approx(g * (v_a - v_b), rel=1e-3)
    assert i_gap.channel("A")[-1] == pytest.approx(-g * (v_a - v_b), rel=1e-3)  # symmetric
    assert res.traces["tau_eff"].channel("A")[-1] == pytest.approx(C_M / (G_L + g), rel=1e-9)
    assert not any(len(s) for s in res.spike_times.values())


def test_conductance_tau_eff_shortens_when_driven() -> None:
    """'Liquid' time constant: τ_eff = C_m/(g_L + g_e + g_i) equals C_m/g_L at rest, and with Poisson excitation
    of rate ν, weight w, decay τ_s, its harmonic mean is C_m/(g_L + ν w τ_s) (Campbell's theorem)."""
    rate, weight, tau_s, start = 2000.0, 0.25e-9, 5e-3, 0.2
    res = _run(
        {
            "populations": [{"name": "c", "cells": ["D", "R"], "model": "conductance_lif"}],
            "stimuli": [
                {
                    "name": "exc",
                    "kind": "poisson",
                    "targets": ["D"],
                    "rate": "2000 Hz",
                    "weight": "0.25 nS",
                    "synapse": "exp_conductance",
                    "start": "200 ms",
                }
            ],
            "probes": [{"variables": ["tau_eff", "g_e", "g_i"], "dt": "0.5 ms"}],
            "run": {"dt": "0.1 ms", "duration": "1.4 s"},
        }
    )
    tau_eff = res.traces["tau_eff"]
    t = tau_eff.times
    rest_d = tau_eff.channel("D")[t < start]
    np.testing.assert_allclose(rest_d, C_M / G_L, rtol=1e-12)
    np.testing.assert_allclose(tau_eff.channel("R"), C_M / G_L, rtol=1e-12)  # never driven
    driven = tau_eff.channel("D")[t > start + 5 * tau_s]
    assert np.all(driven < C_M / G_L)
    expected = C_M / (G_L + rate * weight * tau_s)  # 100 pF / 7.5 nS = 13.3 ms
    harmonic = 1 / np.mean(1 / driven)
    assert harmonic == pytest.approx(expected, rel=0.05)
    assert np.mean(driven) / (C_M / G_L) < 0.75  # measurably shorter: ≈ 0.67 × the resting 20 ms
    g_e = res.traces["g_e"].channel("D")[t > start + 5 * tau_s]
    assert np.mean(g_e) == pytest.approx(rate * weight * tau_s, rel=0.05)
    assert np.all(res.traces["g_i"].values == 0)
    assert len(res.spike_times["D"]) > 0 and len(res.spike_times["R"]) == 0


def test_generator_spikes_split_same_step_spikes() -> None:
    """A SpikeGeneratorGroup allows one spike per channel and step: extra same-step spikes go to new layers."""
    from wormchip.backends.brian2_backend import _generator_spikes

    idx, times, layers = _generator_spikes([np.array([0.01, 0.01004, 0.01008, 0.02]), np.array([0.01])], 1e-4)
    assert layers == 3
    pairs = sorted(zip(idx.tolist(), np.round(times, 6).tolist()))
    assert pairs == [(0, 0.01), (0, 0.02), (1, 0.01), (2, 0.01004), (4, 0.01008)]
