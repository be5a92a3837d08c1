"""Brian2 code generation (issue 16 goal 1): the per-neuron constant decay gives exactly what Brian2's own
exponential Euler gives, static synapses carry no plasticity state, and `run.target: auto` picks the target
estimated to finish first and says so."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.backends import brian2_backend as bb
from wormchip.backends.brian2_equations import CURRENT, GAP, Channel, NeuronEquations, synapse_equations
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict
from wormchip.result import Result

b2 = pytest.importorskip("brian2")


def _spec(duration: str = "200 ms", **run) -> dict:
    """Gap-coupled LIF pair and an adaptive cell with current synapses, a step current and Poisson input."""
    edge = lambda pre, post, w=1.0: {"pre": pre, "post": post, "weight": w}  # noqa: E731
    return {
        "name": "codegen",
        "populations": [
            {"name": "pair", "cells": ["A", "B"], "model": "lif", "params": {"I_bias": "0.1 nA"}},
            {"name": "ad", "cells": ["C"], "model": "adaptive_lif", "params": {"I_bias": "0.3 nA"}},
        ],
        "connections": [
            {
                "name": "gap",
                "source": ["pair", "ad"],
                "target": ["pair"],
                "synapse": "gap_junction",
                "weight_scale": "3 nS",
                "edges": [edge("A", "B", 2.0), edge("C", "A")],
            },
            {
                "name": "cur",
                "source": ["ad", "pair"],
                "target": ["pair"],
                "synapse": "exp_current",
                "weight_scale": "0.05 nA",
                "edges": [edge("C", "B"), edge("A", "B", -0.5)],
            },
        ],
        "stimuli": [
            {"name": "kick", "kind": "step", "targets": ["A"], "amplitude": "0.2 nA", "start": "20 ms"},
            {"name": "noise", "kind": "poisson", "targets": ["B"], "rate": "200 Hz", "weight": "0.1 nA"},
        ],
        "probes": [{"variables": ["v", "I_gap", "w_adapt"], "dt": "0.1 ms"}],
        "run": {"dt": "0.1 ms", "duration": duration, "seed": 3, "target": "numpy", **run},
    }


def _equal(a: Result, b: Result) -> None:
    for name in a.neuron_names:
        np.testing.assert_array_equal(a.spike_times[name], b.spike_times[name], err_msg=name)
    for var in a.traces:
        np.testing.assert_array_equal(a.traces[var].values, b.traces[var].values, err_msg=var)


def test_constant_decay_is_bit_identical_to_exponential_euler(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same spikes and traces, to the bit, as Brian2's exponential Euler evaluating exp(A·dt) every step."""
    from brian2.stateupdaters.exponential_euler import exponential_euler

    import wormchip.backends.brian2_integration as integration

    net = build(from_dict(_spec()))
    ours = bb.run_brian2(net)
    assert sum(len(s) for s in ours.spike_times.values()) > 10
    monkeypatch.setattr(integration, "constant_decay_euler", exponential_euler)
    _equal(ours, bb.run_brian2(net))


def test_state_update_reads_the_decay_instead_of_computing_exp() -> None:
    """v and w_adapt use their precomputed constants; the current synapses keep Brian2's literal decay."""
    from wormchip.backends.brian2_integration import constant_decay_euler, set_constant_decay

    eqs = NeuronEquations("adaptive_lif", False, [Channel("g", GAP), Channel("c", CURRENT, 0.005)])
    b2.start_scope()
    group = b2.NeuronGroup(2, eqs.equations(), threshold="v > v_th", refractory="t_ref", method="euler")
    group.C_m, group.g_L, group.tau_w = 1e-10 * b2.farad, 5e-9 * b2.siemens, 0.1 * b2.second
    group.gj_g = [1e-9, 2e-9] * b2.siemens
    set_constant_decay(group)
    code = constant_decay_euler(group.equations, group.variables)
    lines = {line.split(" = ")[0]: line for line in code.splitlines()}
    assert "decay_v" in lines["_v"] and "lam_v" in lines["_BA_v"] and "exp" not in lines["_v"]
    assert "decay_w_adapt" in lines["_w_adapt"] and "exp" not in lines["_w_adapt"]
    assert "exp" in lines["_I_c"]
    np.testing.assert_allclose(group.lam_v_[:], -(5e-9 + np.array([1e-9, 2e-9])) / 1e-10)
    np.testing.assert_allclose(group.decay_v_[:], np.exp(1e-4 * group.lam_v_[:]))


def test_conductance_input_keeps_the_per_step_decay() -> None:
    """With conductance synapses A changes every step: no constants declared, Brian2's scheme is used."""
    eqs = NeuronEquations("conductance_lif", True, [Channel("e", "conductance", 0.005)])
    assert not eqs.constant_membrane_decay and "lam_v" not in eqs.equations()


def test_static_synapses_carry_no_plasticity_state() -> None:
    static = synapse_equations(CURRENT, "k", {}, "amp")
    assert static.model == "w : amp" and static.on_pre == "I_k_post += w"
    assert "alive" not in synapse_equations(GAP, "g", {}, "siemens").model
    plastic = synapse_equations(CURRENT, "k", {"stdp": _STDP}, "amp")
    assert "alive" in plastic.model and "sgn*w*alive" in plastic.on_pre


_STDP = {"tau_plus": 0.02, "tau_minus": 0.02, "A_plus": 0.01, "A_minus": -0.012}


# --- run.target: auto -------------------------------------------------------------------------------------------
@pytest.fixture
def marker(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """An empty Cython-cache marker of its own (the real cache is left alone)."""
    path = tmp_path / bb.CYTHON_MARKER
    monkeypatch.setattr(bb, "_marker_path", lambda: path)
    return path


def _net(duration: str, population: int = 300):
    spec = _spec(duration, target="auto")
    spec["populations"][0] = {
        "name": "pair",
        "size": population,
        "model": "lif",
        "params": {"I_bias": "0.1 nA"},
    }
    spec["connections"] = []
    spec["stimuli"] = []
    spec["probes"] = []
    return build(from_dict(spec))


def test_auto_picks_by_estimated_finish_time(marker) -> None:
    """Short runs: numpy (nothing to compile); long runs: cpp_standalone (fastest steps, build paid once);
    with the network's Cython code cached, cython wins in between."""
    short, middle, long = _net("100 ms"), _net("20 s"), _net("2000 s")
    assert bb.pick_target(short).target == "numpy"
    assert bb.pick_target(long).target == "cpp_standalone"
    choice = bb.pick_target(middle)
    assert choice.target == min(choice.estimates, key=choice.estimates.get)
    bb.remember_cython(middle)
    cached = bb.pick_target(middle)
    assert cached.cython_cache == bb.CACHE_ALL and cached.target == "cython"
    assert cached.describe().startswith("auto chose cython") and "cython cached)" in cached.describe()
    assert bb.pick_target(long, "numpy").target == "numpy"  # an explicit target is kept
    assert bb.pick_target(long, allowed=bb.RUNTIME_TARGETS).target in bb.RUNTIME_TARGETS


def test_a_new_stimulus_length_recompiles_only_the_state_updaters(marker) -> None:
    """Brian2 writes the stimulus table's length into the code reading it: another duration of a cached
    network counts one state-updater compile per group, not the whole network's."""
    net, other = (build(from_dict(_spec(d, target="auto"))) for d in ("1 s", "2 s"))
    bb.remember_cython(net)
    assert bb.cython_cache(net) == bb.CACHE_ALL and bb.cython_cache(other) == bb.CACHE_STRUCTURE
    costs = {
        c: bb.estimate_seconds(other, "cython", c) for c in (bb.CACHE_ALL, bb.CACHE_STRUCTURE, bb.CACHE_NONE)
    }
    assert costs[bb.CACHE_ALL] < costs[bb.CACHE_STRUCTURE] < costs[bb.CACHE_NONE]


def test_auto_run_records_its_choice(marker) -> None:
    result = bb.run_brian2(_net("20 ms", population=3))
    assert result.metadata["target"] == "numpy"
    assert result.metadata["target_choice"].startswith("auto chose numpy")
    assert set(result.metadata["target_estimates_s"]) == set(bb.TARGETS)
