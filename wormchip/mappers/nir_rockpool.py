"""Rockpool's reading of NIR: turn a wormchip NIR graph into one Rockpool 3.1's `from_nir` runs as intended.

Rockpool's LIF layer is discrete-time, in its own units (`rockpool.nn.modules.LIF`, same equations in its
NumPy, Jax and Torch backends). Per step of length dt, with spikes S and input x:

    I_syn ← β (I_syn + x + W_rec S),   v ← α v + I_syn + bias,   spike while v > θ, v ← v − θ,

α = exp(−dt/τ_mem), β = exp(−dt/τ_syn). Its `from_nir` (rockpool/nn/modules/torch/nir.py) maps a CubaLIF to
this with `dt = min(τ_mem / (1 + r))`, `threshold = v_threshold`, `bias = v_leak`, ignores `w_in` and
`v_reset`, and reads a recurrent layer only as a nested graph of exactly four nodes (Input, CubaLIF, Linear,
Output). wormchip's graph (SI, Dirac input, see `nir_export`) therefore becomes:

* `r = τ_mem/dt − 1`, so Rockpool's derived dt is the network's dt;
* I_syn in volts per step: a current I held over a step moves v by R(1 − α) I (the exact step), so every
  synaptic weight (A) is multiplied by g = R(1 − α) of its target, `v_leak` = I_bias·g, and injected current
  (per-step values in A) by g(1 − β)/β, so that the filtered current settles at g·I;
* one Input of all input channels (spike counts per step, then current samples) → Linear `w_in` → nested
  graph `rnn` (CubaLIF `lif` with recurrent Linear `rec`) → Output; `rockpool_inputs` lays out the channels.

Rockpool has no delays and one neuron layer: a network with `Delay` nodes or several neuron blocks raises
`NIRExportError`. Its reset subtracts θ, so v_reset ≠ E_L is listed as an approximation.
"""

from __future__ import annotations

import json

import numpy as np

from wormchip import ir
from wormchip.mappers.nir_export import NIRExportError, unsupported

CONVENTION = "rockpool: discrete-time LIF, dt = tau_mem/(1 + r); I_syn, bias and threshold in V per step"


def to_rockpool(graph):
    """The Rockpool-convention graph of a wormchip NIR graph (`nir_export.to_nir` or `nir.read` of one)."""
    import nir

    nodes = graph.nodes
    lifs = [k for k, n in nodes.items() if isinstance(n, nir.CubaLIF)]
    problems = []
    if len(lifs) != 1:
        problems.append(f"{len(lifs)} CubaLIF layers ({', '.join(lifs)}): Rockpool's from_nir reads one")
    delays = [k for k, n in nodes.items() if isinstance(n, nir.Delay)]
    if delays:
        problems.append(f"delays ({', '.join(delays)}): Rockpool's LIF has none")
    if "dt" not in graph.metadata:
        problems.append("no dt in the graph metadata: not a wormchip export")
    if problems:
        raise NIRExportError("Rockpool convention: " + "; ".join(problems))
    key = lifs[0]
    lif, dt = nodes[key], float(graph.metadata["dt"])
    n = len(np.atleast_1d(lif.tau_mem))
    p = {
        a: np.broadcast_to(np.asarray(getattr(lif, a), dtype=float), (n,))
        for a in ("tau_mem", "tau_syn", "r")
    }
    p["w_in"] = np.broadcast_to(np.asarray(lif.w_in, dtype=float), (n,))
    gain = p["r"] * -np.expm1(-dt / p["tau_mem"])  # V per step per A held over the step
    beta = np.exp(-dt / p["tau_syn"])
    per_spike = (gain * p["w_in"] / p["tau_syn"])[:, None]  # a Dirac of weight w adds w·w_in/τ_syn A
    rec = np.zeros((n, n))
    columns, channels = [], []
    for name, node in nodes.items():
        if not isinstance(node, nir.Linear):
            continue
        (source,) = [a for a, b in graph.edges if b == name]
        if source == key:
            rec += node.weight * per_spike
            continue
        kind = nodes[source].metadata.get("kind", "spikes")
        scale = (
            per_spike * p["tau_syn"][:, None] * ((1 - beta) / beta)[:, None]
            if "current" in kind
            else per_spike
        )
        first = sum(c.shape[1] for c in columns)
        columns.append(node.weight * scale)
        channels.append({"input": source, "kind": kind, "first": first, "count": int(node.weight.shape[1])})
    left_out = unsupported(graph)
    if np.any(np.asarray(lif.v_reset) != 0):
        left_out.append("v_reset ≠ E_L: Rockpool's reset subtracts the threshold (v ← v − θ)")
    rnn = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "lif": nir.CubaLIF(
                tau_syn=p["tau_syn"].copy(),
                tau_mem=p["tau_mem"].copy(),
                r=p["tau_mem"] / dt - 1.0,
                v_leak=np.broadcast_to(np.asarray(lif.v_leak, dtype=float), (n,)) / p["r"] * gain,
                v_threshold=np.broadcast_to(np.asarray(lif.v_threshold, dtype=float), (n,)).copy(),
                v_reset=np.zeros(n),
                w_in=np.ones(n),
                metadata=dict(lif.metadata),
            ),
            "rec": nir.Linear(weight=rec),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
    )
    w_in = np.hstack(columns) if columns else np.zeros((n, 0))
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([w_in.shape[1]])}),
            "w_in": nir.Linear(weight=w_in),
            "rnn": rnn,
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "w_in"), ("w_in", "rnn"), ("rnn", "output")],
        metadata={
            **graph.metadata,
            "convention": CONVENTION,
            "channels": json.dumps(channels),
            "unsupported": json.dumps(left_out),
        },
    )


def rockpool_inputs(network: ir.Network, graph) -> np.ndarray:
    """The input array (steps × channels) of `network` for a `to_rockpool` graph: spike counts per step of
    each spike input, then injected current (A) per step, in the graph's `channels` layout."""
    steps = int(round(network.duration / network.dt))
    out = np.zeros((steps, graph.nodes["w_in"].weight.shape[1]))
    spikes = {f"input_{s.name}": s for s in network.spike_inputs}
    for ch in json.loads(graph.metadata["channels"]):
        if ch["input"] in spikes:
            for k, times in enumerate(spikes[ch["input"]].spike_times):
                idx = np.minimum((np.asarray(times) / network.dt).astype(np.int64), steps - 1)
                np.add.at(out[:, ch["first"] + k], idx, 1.0)
        elif ch["input"] == "input_current" and network.current is not None:
            values = network.current.values[:steps]
            out[: len(values), ch["first"] : ch["first"] + ch["count"]] = values
    return out
