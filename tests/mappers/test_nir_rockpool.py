"""Rockpool convention (`export --convention rockpool`): the graph Rockpool 3.1's from_nir reads, run in
Rockpool's own NumPy LIF when installed and in an independent NumPy re-implementation of Rockpool's documented
step otherwise, reproduces wormchip's Brian2 spike counts on a small recurrent circuit."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from wormchip.backends.brian2_backend import run_brian2
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict
from wormchip.mappers.nir_export import NIRExportError, to_nir
from wormchip.mappers.nir_rockpool import rockpool_inputs, to_rockpool

nir = pytest.importorskip("nir")

#: Brian2 spike counts of SMALL (measured; docs/backends.md quotes them beside Rockpool's).
BRIAN2 = {"E0": 42, "E1": 49, "E2": 1, "E3": 31, "I0": 61, "I1": 1}
SMALL = {
    "name": "rockpool_small",
    "populations": [
        {"name": "exc", "cells": ["E0", "E1", "E2", "E3"], "params": {"t_ref": "0 ms", "I_bias": "0.05 nA"}},
        {"name": "inh", "cells": ["I0", "I1"], "params": {"t_ref": "0 ms", "C_m": "50 pF"}},
    ],
    "connections": [
        {
            "name": "exc",
            "source": ["exc"],
            "target": ["exc", "inh"],
            "params": {"tau": "5 ms"},
            "weight_scale": "0.2 nA",
            "edges": [
                {"pre": "E0", "post": "E1", "weight": 1.0},
                {"pre": "E1", "post": "E2", "weight": 1.0},
                {"pre": "E2", "post": "E3", "weight": 1.2},
                {"pre": "E3", "post": "E0", "weight": 0.8},
                {"pre": "E0", "post": "I0", "weight": 1.5},
                {"pre": "E2", "post": "I1", "weight": 1.5},
            ],
        },
        {
            "name": "inh",
            "source": ["inh"],
            "target": ["exc"],
            "params": {"tau": "5 ms"},
            "weight_scale": "0.2 nA",
            "edges": [{"pre": "I0", "post": "E2", "weight": -2.0}, {"pre": "I1", "post": "E3", "weight": -1.0}],
        },
    ],
    "stimuli": [
        {"name": "drive", "kind": "step", "targets": ["E0"], "amplitude": "0.12 nA", "start": "50 ms",
         "duration": "300 ms"},
        {"name": "noise", "kind": "poisson", "targets": ["E1", "E3"], "rate": "100 Hz", "weight": "0.15 nA"},
    ],
    "run": {"dt": "0.1 ms", "duration": "500 ms", "seed": 3, "target": "numpy"},
}  # fmt: skip


def _export(tmp_path):
    net = build(from_dict(SMALL))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = to_rockpool(to_nir(net))
    nir.write(tmp_path / "small.nir", graph)
    return net, nir.read(tmp_path / "small.nir")


def _from_nir(graph) -> dict:
    """The parameters Rockpool 3.1's from_nir gives its LIF layer (rockpool/nn/modules/torch/nir.py)."""
    lif, rec = graph.nodes["rnn"].nodes["lif"], graph.nodes["rnn"].nodes["rec"]
    return {
        "tau_mem": lif.tau_mem,
        "tau_syn": lif.tau_syn,
        "threshold": lif.v_threshold,
        "bias": lif.v_leak,
        "dt": float(np.min(lif.tau_mem / (1 + lif.r))),
        "w_rec": rec.weight.T,
    }


def _numpy_rockpool(p: dict, x: np.ndarray) -> np.ndarray:
    """Rockpool's documented LIF step, written here independently: I ← β(I + x + W_rec·S), v ← αv + I + bias,
    spikes while v > θ (each subtracts θ). Returns spike counts per neuron."""
    alpha, beta = np.exp(-p["dt"] / p["tau_mem"]), np.exp(-p["dt"] / p["tau_syn"])
    v, i, s = np.zeros(len(alpha)), np.zeros(len(alpha)), np.zeros(len(alpha))
    counts = np.zeros(len(alpha))
    for x_t in x:
        i = beta * (i + x_t + s @ p["w_rec"])
        v = alpha * v + i + p["bias"]
        s = np.maximum(np.floor(v / p["threshold"]), 0) * (v > p["threshold"])
        v = v - s * p["threshold"]
        counts += s
    return counts


def test_graph_has_rockpools_layout_and_dt(tmp_path) -> None:
    net, graph = _export(tmp_path)
    assert set(graph.nodes) == {"input", "w_in", "rnn", "output"}
    assert set(graph.nodes["rnn"].nodes) == {
        "input",
        "lif",
        "rec",
        "output",
    }  # what from_nir reads as recurrent
    p = _from_nir(graph)
    assert p["dt"] == pytest.approx(net.dt, rel=1e-12)
    names = json.loads(graph.nodes["rnn"].nodes["lif"].metadata["neurons"])
    e0, e1 = names.index("E0"), names.index("E1")
    gain = 1 / 5e-9 * -np.expm1(-net.dt / 0.02)  # R (1 − α) of E1 (C_m 100 pF, g_L 5 nS)
    assert p["w_rec"][e0, e1] == pytest.approx(0.2e-9 * gain)
    assert p["bias"][e0] == pytest.approx(0.05e-9 * gain)
    assert rockpool_inputs(net, graph).shape == (5000, 3)  # 2 Poisson channels, 1 injected current


def test_numpy_reimplementation_reproduces_brian2(tmp_path) -> None:
    net, graph = _export(tmp_path)
    assert run_brian2(net).spike_counts() == BRIAN2
    counts = _numpy_rockpool(_from_nir(graph), rockpool_inputs(net, graph) @ graph.nodes["w_in"].weight.T)
    names = json.loads(graph.nodes["rnn"].nodes["lif"].metadata["neurons"])
    for k, name in enumerate(names):
        assert abs(counts[k] - BRIAN2[name]) <= 2, (name, counts[k])
    assert abs(counts.sum() - sum(BRIAN2.values())) <= 0.03 * sum(BRIAN2.values())


def test_rockpool_runs_the_export(tmp_path) -> None:
    modules = pytest.importorskip("rockpool.nn.modules")
    net, graph = _export(tmp_path)
    p = _from_nir(graph)
    n = len(p["tau_mem"])
    layer = modules.LIF(
        shape=(n,),
        tau_mem=p["tau_mem"],
        tau_syn=p["tau_syn"].reshape(n, 1),  # (size_out, n_synapses), as Rockpool's LIF documents
        threshold=p["threshold"],
        bias=p["bias"],
        dt=p["dt"],
        has_rec=True,
        w_rec=p["w_rec"],
    )
    x = rockpool_inputs(net, graph) @ graph.nodes["w_in"].weight.T
    out, _, _ = layer(x[None])
    counts = out[0].sum(axis=0)
    np.testing.assert_array_equal(counts, _numpy_rockpool(p, x))
    names = json.loads(graph.nodes["rnn"].nodes["lif"].metadata["neurons"])
    assert {name: int(c) for name, c in zip(names, counts)} == {
        "E0": 42, "E1": 48, "E2": 1, "E3": 31, "I0": 60, "I1": 0
    }  # fmt: skip


def test_delays_and_several_layers_are_refused() -> None:
    spec = {**SMALL, "stimuli": [], "connections": [{**SMALL["connections"][0], "params": {"delay": "1 ms"}}]}
    spec["populations"] = [SMALL["populations"][0], {**SMALL["populations"][1], "model": "adaptive_lif"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = to_nir(build(from_dict(spec)))
    with pytest.raises(NIRExportError, match=r"2 CubaLIF layers .*; delays \(.*\): Rockpool's LIF has none"):
        to_rockpool(graph)
