"""Nengo backend vs the Brian2 reference and closed forms: LIF f–I (v_reset = E_L and ≠ E_L), voltage
traces and event timing step by step, delays, adaptation, a CUBA-LIF circuit, gap junctions, conductance
and graded synapses (small circuit and library circuits); unsupported elements are named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wormchip import ir
from wormchip.backends.brian2_backend import run_brian2
from wormchip.backends.nengo_backend import run_nengo, unsupported_elements
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict, load_spec
from wormchip.errors import UnsupportedOnBackend, WormchipError

pytest.importorskip("nengo")
pytest.importorskip("brian2")

# Registry defaults (wormchip.models._MEMBRANE), SI.
C_M, G_L, E_L, V_TH, T_REF = 100e-12, 5e-9, -65e-3, -50e-3, 2e-3
TAU_M = C_M / G_L


def _net(spec: dict) -> ir.Network:
    spec.setdefault("name", "nengo_test")
    spec.setdefault("run", {}).setdefault("target", "numpy")
    return build(from_dict(spec))


def lif_rate(current: float, v_reset: float = E_L) -> float:
    """Analytic LIF rate for constant current: 1/(t_ref + τ ln((E_L + IR − v_reset)/(E_L + IR − v_th)))."""
    v_inf = E_L + current / G_L
    if v_inf <= V_TH:
        return 0.0
    return 1.0 / (T_REF + TAU_M * np.log((v_inf - v_reset) / (v_inf - V_TH)))


def _steady_rate(spikes: np.ndarray) -> float:
    return 1.0 / np.mean(np.diff(spikes[1:])) if len(spikes) > 2 else 0.0


AMPS_NA = [0.07, 0.09, 0.1, 0.15, 0.2, 0.3, 0.5]


def test_fi_curve_matches_brian2_and_analytic_rate() -> None:
    """Nengo's operator integrates as Brian2 does (exponential Euler, threshold at step ends, t_ref in whole
    steps), so spikes fall in the same steps; ISIs are multiples of dt, so the mean ISI is within one dt of
    the analytic one, also with v_reset ≠ E_L."""
    pops = [
        {"name": f"n{k}", "size": 1, "model": "lif", "params": {"I_bias": f"{a} nA"}}
        for k, a in enumerate(AMPS_NA)
    ] + [
        {"name": f"r{k}", "size": 1, "model": "lif", "params": {"I_bias": f"{a} nA", "v_reset": "-58 mV"}}
        for k, a in enumerate(AMPS_NA)
    ]
    net = _net({"populations": pops, "run": {"dt": "0.1 ms", "duration": "0.5 s"}})
    res_n, res_b = run_nengo(net), run_brian2(net)
    assert res_n.metadata["backend"] == "nengo"
    steps_n, steps_b = res_n.spike_steps(), res_b.spike_steps()
    for prefix, v_reset in (("n", E_L), ("r", -58e-3)):
        for k, amp in enumerate(AMPS_NA):
            name = f"{prefix}{k}_0"
            np.testing.assert_array_equal(steps_n[name], steps_b[name])
            expected = lif_rate(amp * 1e-9, v_reset)
            if expected == 0.0:
                assert len(steps_n[name]) == 0
                continue
            assert abs(1 / _steady_rate(res_n.spike_times[name]) - 1 / expected) <= net.dt, name


def _timing_network() -> ir.Network:
    """A → B through exp_current (2 ms delay), a current step into C, two input spikes onto D."""
    net = _net(
        {
            "populations": [
                {"name": "a", "cells": ["A"], "model": "lif", "params": {"I_bias": "0.2 nA"}},
                {"name": "b", "cells": ["B", "C", "D"], "model": "lif"},
            ],
            "connections": [
                {
                    "name": "ab",
                    "source": ["a"],
                    "target": ["b"],
                    "synapse": "exp_current",
                    "weight_scale": "0.05 nA",
                    "params": {"tau": "5 ms", "delay": "2 ms"},
                    "edges": [{"pre": "A", "post": "B"}],
                }
            ],
            "stimuli": [
                {
                    "name": "s",
                    "kind": "step",
                    "targets": ["C"],
                    "amplitude": "0.05 nA",
                    "start": "3 ms",
                    "duration": "5 ms",
                }
            ],
            "probes": [{"variables": ["v"], "dt": "0.1 ms"}],
            "run": {"dt": "0.1 ms", "duration": "30 ms"},
        }
    )
    d = net.index()["D"]
    spikes = ir.SpikeInput(
        "pin",
        "exp_current",
        np.array([d, d]),
        np.array([50e-12, 30e-12]),
        (np.array([0.005]), np.array([0.0121])),
        {"tau": 0.005},
    )
    return dataclasses.replace(net, spike_inputs=(spikes,))


def test_voltage_traces_and_event_timing_match_brian2() -> None:
    """Step by step: the current step, spikes, input spikes and delayed PSPs give the same voltage traces
    (to 10⁻¹² V, floating-point rounding) and the same spike steps in both backends."""
    net = _timing_network()
    res_n, res_b = run_nengo(net), run_brian2(net)
    vn, vb = res_n.traces["v"], res_b.traces["v"]
    np.testing.assert_allclose(vn.times, vb.times)
    assert vn.channels == vb.channels
    np.testing.assert_allclose(vn.values, vb.values, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res_n.spike_steps()["A"], res_b.spike_steps()["A"])
    # Delay: B's first change is 2 ms (20 steps) later than it would be without one (spike step + 2).
    first_spike = res_b.spike_steps()["A"][0]
    assert np.flatnonzero(vn.channel("B") != E_L)[0] == first_spike + 2 + 20


def test_adaptive_lif_matches_brian2() -> None:
    """Adaptation current w (exact decay, w += b per spike): the same spikes and w trace as Brian2."""
    net = _net(
        {
            "populations": [
                {
                    "name": "a",
                    "size": 1,
                    "model": "adaptive_lif",
                    "params": {"I_bias": "0.3 nA", "b": "0.05 nA", "tau_w": "100 ms", "v_reset": "-60 mV"},
                }
            ],
            "probes": [{"variables": ["w_adapt", "v"], "dt": "1 ms"}],
            "run": {"dt": "0.1 ms", "duration": "1 s"},
        }
    )
    res_n, res_b = run_nengo(net), run_brian2(net)
    np.testing.assert_array_equal(res_n.spike_steps()["a_0"], res_b.spike_steps()["a_0"])
    wn, wb = res_n.traces["w_adapt"].channel("a_0"), res_b.traces["w_adapt"].channel("a_0")
    np.testing.assert_allclose(wn, wb, rtol=1e-9, atol=1e-18)
    assert res_n.traces["v"].unit == "V" and res_n.traces["w_adapt"].unit == "A"


def _cuba_spec() -> dict:
    """12 CUBA-LIF cells: 4 tonic drivers (different I_bias), 5 excitatory/inhibitory relays with a current
    step, 3 read-outs; fixed signed exp_current edges, recurrent inhibition included."""
    drivers = [f"D{k}" for k in range(4)]
    relays = [f"R{k}" for k in range(5)]
    outs = [f"O{k}" for k in range(3)]
    rng = np.random.default_rng(3)
    edges = []
    for pre in drivers:
        for post in rng.choice(relays, size=3, replace=False):
            edges.append({"pre": pre, "post": str(post), "weight": float(rng.uniform(0.5, 1.5))})
    for pre in relays:
        for post in rng.choice(outs, size=2, replace=False):
            edges.append({"pre": pre, "post": str(post), "weight": float(rng.uniform(0.5, 1.5))})
    edges += [{"pre": "O0", "post": "R0", "weight": -2.0}, {"pre": "R1", "post": "R2", "weight": -1.5}]
    edges += [{"pre": "O2", "post": "O1", "weight": -1.0}]
    return {
        "populations": [
            {"name": "drv", "cells": drivers, "model": "lif", "params": {"I_bias": "0.1 nA"}},
            {
                "name": "rel",
                "cells": relays,
                "model": "lif",
                "params": {"I_bias": "0.06 nA", "v_reset": "-60 mV"},
            },
            {"name": "out", "cells": outs, "model": "lif"},
        ],
        "connections": [
            {
                "name": "chem",
                "source": ["drv", "rel", "out"],
                "target": ["rel", "out"],
                "synapse": "exp_current",
                "weight_scale": "0.08 nA",
                "params": {"tau": "5 ms"},
                "edges": edges,
            }
        ],
        "stimuli": [
            {"name": "tonic", "kind": "step", "targets": ["D1", "D2", "D3"], "amplitude": "0.05 nA"},
            {
                "name": "pulse",
                "kind": "step",
                "targets": drivers,
                "amplitude": "0.1 nA",
                "start": "300 ms",
                "duration": "400 ms",
            },
        ],
        "run": {"dt": "0.1 ms", "duration": "1 s"},
    }


def test_cuba_circuit_spikes_match_brian2() -> None:
    """A 12-cell CUBA-LIF circuit (recurrent inhibition, current steps): every cell within ±1 spike."""
    net = _net(_cuba_spec())
    res_n, res_b = run_nengo(net), run_brian2(net)
    cn, cb = _counts(res_n, net), _counts(res_b, net)
    assert (cb > 0).sum() >= 10  # a driven circuit, not a silent one
    assert np.abs(cn - cb).max() <= 1, (cn, cb)


def _counts(result, net: ir.Network) -> np.ndarray:
    return np.array([len(result.spike_times[n]) for n in net.names])


def _assert_trace_matches(res_n, res_b, var: str, rel: float) -> None:
    """Same times, channels (in any order) and unit; values within `rel` × the trace's largest |value|."""
    tn, tb = res_n.traces[var], res_b.traces[var]
    assert sorted(tn.channels) == sorted(tb.channels) and tn.unit == tb.unit, var
    np.testing.assert_allclose(tn.times, tb.times)
    values = np.stack([tn.channel(c) for c in tb.channels], axis=1)
    atol = rel * np.abs(tb.values).max()
    np.testing.assert_allclose(values, tb.values, rtol=0, atol=atol, err_msg=var)


def _coupled_spec() -> dict:
    """9 cells with every coupling Nengo used to reject: exp_conductance synapses (excitatory, inhibitory,
    one 2 ms-delayed) onto conductance_lif cells, a gap-coupled pair (a spiking cell drives a silent one
    through the junction only), graded sigmoid synapses of both signs, Poisson input through conductances,
    an adaptive_lif cell, and every probe variable."""
    edge = lambda pre, post, w=1.0: {"pre": pre, "post": post, "weight": w}  # noqa: E731
    return {
        "populations": [
            {"name": "drv", "cells": ["A", "B"], "model": "conductance_lif", "params": {"I_bias": "0.2 nA"}},
            {
                "name": "rel",
                "cells": ["C", "D", "E"],
                "model": "conductance_lif",
                "params": {"I_bias": "0.06 nA"},
            },
            {"name": "pair", "cells": ["F", "G"], "model": "lif", "params": {"v_reset": "-60 mV"}},
            {"name": "ad", "cells": ["H"], "model": "adaptive_lif", "params": {"I_bias": "0.3 nA"}},
            {"name": "grd", "cells": ["K", "L"], "model": "conductance_lif", "params": {"I_bias": "0.05 nA"}},
        ],
        "connections": [
            {
                "name": "cond",
                "source": ["drv"],
                "target": ["rel"],
                "synapse": "exp_conductance",
                "weight_scale": "3 nS",
                "params": {"tau": "10 ms"},
                "edges": [edge("A", "C"), edge("B", "D"), edge("A", "E", -1.0)],
            },
            {
                "name": "late",
                "source": ["drv"],
                "target": ["rel"],
                "synapse": "exp_conductance",
                "weight_scale": "2 nS",
                "params": {"tau": "5 ms", "delay": "2 ms"},
                "edges": [edge("B", "E")],
            },
            {
                "name": "gap",
                "source": ["pair", "ad"],
                "target": ["pair", "rel"],
                "synapse": "gap_junction",
                "weight_scale": "4 nS",
                "edges": [edge("F", "G", 2.0), edge("H", "E")],
            },
            {
                "name": "graded",
                "source": ["rel"],
                "target": ["grd"],
                "synapse": "graded_sigmoid",
                "weight_scale": "2 nS",
                "params": {"mu": "-55 mV", "sigma": 0.5},
                "edges": [edge("C", "K"), edge("D", "K"), edge("E", "L", -1.0), edge("C", "L")],
            },
            {
                "name": "cur",
                "source": ["ad"],
                "target": ["pair"],
                "synapse": "exp_current",
                "weight_scale": "0.05 nA",
                "edges": [edge("H", "G")],
            },
        ],
        "stimuli": [
            {"name": "kick", "kind": "step", "targets": ["F"], "amplitude": "0.3 nA", "start": "50 ms"},
            {
                "name": "noise",
                "kind": "poisson",
                "targets": ["C", "D"],
                "rate": "100 Hz",
                "synapse": "exp_conductance",
                "weight": "1 nS",
            },
        ],
        "probes": [
            {"variables": ["v", "g_e", "g_i", "I_gap", "I_syn", "w_adapt", "tau_eff"], "dt": "0.1 ms"}
        ],
        "run": {"dt": "0.1 ms", "duration": "300 ms", "seed": 4},
    }


def test_gap_conductance_and_graded_synapses_match_brian2() -> None:
    """Tolerance: spike counts per cell within ±1, and every probed trace within 10⁻⁹ of its scale
    (1 nV, 1 pS, 1 fA·10³, …). Measured: identical spike steps, traces equal to floating-point rounding."""
    net = _net(_coupled_spec())
    res_n, res_b = run_nengo(net), run_brian2(net)
    cn, cb = _counts(res_n, net), _counts(res_b, net)
    assert np.abs(cn - cb).max() <= 1, (cn, cb)
    assert (cb > 0).sum() >= 7, cb  # the coupled cells G (gap), K, L (graded) and E (delayed) all fire
    for var in res_b.traces:
        _assert_trace_matches(res_n, res_b, var, 1e-9)
    assert np.abs(res_n.traces["I_gap"].channel("G")).max() > 0 and res_n.traces["g_i"].channel("E").max() > 0


@pytest.mark.parametrize("circuit", ["tap_withdrawal", "touch_response"])
def test_library_circuits_match_brian2(circuit: str) -> None:
    """Library circuits with gap junctions (both) and conductance synapses (tap_withdrawal): per-cell spike
    counts within ±1 of Brian2's (the parity table in docs/backends.md has all five)."""
    net = build(load_spec(circuit))
    res_n, res_b = run_nengo(net), run_brian2(net, target="numpy")
    cn, cb = _counts(res_n, net), _counts(res_b, net)
    assert cb.sum() > 50 and np.abs(cn - cb).max() <= 1, (cn, cb)
    _assert_trace_matches(res_n, res_b, "v", 1e-9)


def test_plasticity_probe_variables_and_graded_inputs_are_rejected() -> None:
    spec = _cuba_spec()
    spec["connections"][0]["plasticity"] = ["learn"]
    spec["plasticity"] = [{"name": "learn", "rule": "stdp"}]
    net = _net(spec)
    d = net.index()["D0"]
    bad_input = ir.SpikeInput("pin", "gap_junction", np.array([d]), np.array([1e-9]), (np.zeros(1),), {})
    net = dataclasses.replace(
        net,
        spike_inputs=(bad_input,),
        probes=(ir.ProbeSpec(("v", "u_stp"), np.array([d]), 1e-3),),
    )
    problems = unsupported_elements(net)
    assert len(problems) == 3
    assert any("plasticity rule 'learn' (stdp)" in p and "brian2" in p for p in problems)
    assert any("probe variable 'u_stp'" in p for p in problems)
    assert any("spike input 'pin': gap_junction" in p for p in problems)
    with pytest.raises(UnsupportedOnBackend) as info:
        run_nengo(net)
    assert isinstance(info.value, WormchipError) and len(info.value.elements) == 3
