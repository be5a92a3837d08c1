"""Export an IR `Network` to the Neuromorphic Intermediate Representation (NIR, nir ≥ 1.0.4).

Graph: one `nir.Input` per spike input (and one for injected current), one `nir.CubaLIF` per neuron block,
`nir.Linear` weight matrices (post × pre, recurrent edges included; `nir.Delay` after it for delayed
projections), one `nir.Output` per block. NIR's CubaLIF is

    τ_syn dI/dt = −I + w_in S,   τ_mem dv/dt = (v_leak − v) + R I,   v > v_threshold → spike, v = v_reset,

in continuous time, with S a sum of unit-area Dirac deltas δ(t − t_k) per spike (times Linear's weights).
Chosen so that the NIR dynamics are the IR's (SI units throughout):

* τ_mem = C_m/g_L, R = 1/g_L (Ω); Linear weights = the IR's synaptic weights in amperes; w_in = τ_syn (s),
  so a spike through weight w raises I by w_in·w/τ_syn = w amperes, then τ_syn dI/dt = −I, as exp_current.
* Voltages are relative to E_L: v_leak = I_bias/g_L, v_threshold = v_th − E_L, v_reset = v_reset − E_L.
  NIR has no initial-state field and simulators start at v = 0, which is then exactly the IR's v(0) = E_L;
  add E_L (node metadata `E_L`) to read voltages in absolute volts. The bias current becomes the leak target.
* Injected current enters as an Input through Linear weights 1/τ_syn (A/s per A), so I relaxes to the
  current with τ_syn: exact for constant currents, low-passed otherwise (listed as an approximation).

What NIR cannot express is left out, and every such element is listed in a `UserWarning` and in the graph's
`metadata["unsupported"]` (a JSON list): gap junctions, conductance and graded synapses, plasticity (the
initial weights are exported, and the Linear node holding them names the dropped rule in its metadata
`plastic`: projection, rule, parameters, synapse count), refractory periods, adaptation, several synaptic τ onto one neuron
(CubaLIF has one τ_syn per neuron: the τ of most of its synapses is used).
"""

from __future__ import annotations

import json
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from wormchip import ir
from wormchip.errors import WormchipError
from wormchip.models import SYNAPSE_MODELS
from wormchip.units import parse_quantity

SPIKE_CONVENTION = (
    "S = sum of unit-area Dirac deltas per spike; w_in = tau_syn so a spike adds w amperes to I"
)
DEFAULT_TAU = parse_quantity(SYNAPSE_MODELS["exp_current"].params["tau"].default, "time")


class NIRExportError(WormchipError, ValueError):
    """A network with nothing NIR can express, or a graph that does not fit a consumer's convention."""


def block_node_name(k: int, block: ir.NeuronBlock) -> str:
    """Name of block k's CubaLIF node (its Output is `output_<name>`)."""
    return f"block{k}_{block.model}"


def _names(network: ir.Network, idx: np.ndarray, limit: int = 8) -> str:
    names = [network.names[i] for i in idx[:limit]]
    return ", ".join(names) + (f" … ({len(idx)} in all)" if len(idx) > limit else "")


class _Export:
    """Builds the NIR graph and collects what it had to leave out or approximate."""

    def __init__(self, network: ir.Network) -> None:
        import nir

        self.nir = nir
        self.net = network
        self.unsupported: list[str] = []
        self.block_of = np.empty(network.size, dtype=np.int64)
        self.local = np.empty(network.size, dtype=np.int64)
        for k, block in enumerate(network.blocks):
            self.block_of[block.indices] = k
            self.local[block.indices] = np.arange(len(block.indices))
        self.tau_syn = self._tau_syn()
        self.nodes: dict = {}
        self.edges: list[tuple[str, str]] = []

    def _tau_syn(self) -> np.ndarray:
        """Per neuron: the τ of most of its incoming exp_current synapses (the registry default if none)."""
        votes: list[Counter] = [Counter() for _ in range(self.net.size)]
        sources = [(p.name, p.post, p.params) for p in self.net.projections if p.synapse == "exp_current"]
        sources += [(s.name, s.target, s.params) for s in self.net.spike_inputs if s.synapse == "exp_current"]
        for _, post, params in sources:
            for j in post:
                votes[int(j)][float(params["tau"])] += 1
        tau = np.array([v.most_common(1)[0][0] if v else DEFAULT_TAU for v in votes])
        mixed = np.flatnonzero([len(v) > 1 for v in votes])
        if len(mixed):
            self.unsupported.append(
                f"several synaptic time constants onto one neuron ({_names(self.net, mixed)}): CubaLIF has one "
                "tau_syn per neuron; the tau of most of its synapses is used"
            )
        return tau

    def _check_expressible(self) -> None:
        """Refuse a network whose wiring NIR cannot express at all (the graph would be neurons only)."""
        projections = [p for p in self.net.projections if p.size]
        if not projections or any(p.synapse == "exp_current" for p in projections):
            return
        kinds = ", ".join(f"'{p.name}' {p.synapse} {p.size}" for p in projections)
        total = sum(p.size for p in projections)
        raise NIRExportError(
            f"NIR export of '{self.net.name}': none of its {total} synapses is expressible ({kinds}); NIR's "
            "CubaLIF takes current-based (exp_current) synapses only: for conductance synapses convert the "
            "network with wormchip.transforms.current_based first"
        )

    def build(self):
        nir, net = self.nir, self.net
        self._check_expressible()
        for k, block in enumerate(net.blocks):
            self._block(k, block)
        groups: dict[tuple[int, int, float], list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = defaultdict(
            list
        )
        plastic: dict[tuple[int, int, float], list[dict]] = defaultdict(list)
        for proj in net.projections:
            for rule in proj.plasticity:
                self.unsupported.append(
                    f"plasticity rule '{rule.name}' ({rule.rule}) on projection '{proj.name}': dropped, exported "
                    "with its initial weights"
                )
            if proj.synapse != "exp_current":
                self.unsupported.append(
                    f"projection '{proj.name}': {proj.synapse}, {proj.size} synapses, left out"
                )
                continue
            delay = float(proj.params.get("delay", 0.0))
            a, b = self.block_of[proj.pre], self.block_of[proj.post]
            for pair in sorted(set(zip(a.tolist(), b.tolist()))):
                sel = (a == pair[0]) & (b == pair[1])
                groups[(*pair, delay)].append(
                    (self.local[proj.post[sel]], self.local[proj.pre[sel]], proj.weight[sel])
                )
                plastic[(*pair, delay)] += [
                    {
                        "projection": proj.name,
                        "rule": r.rule,
                        "name": r.name,
                        "params": {k: float(v) for k, v in r.params.items()},
                        "synapses": int(sel.sum()),
                    }
                    for r in proj.plasticity
                ]
        for (a, b, delay), parts in groups.items():
            name = f"w_{block_node_name(a, net.blocks[a])}_to_{block_node_name(b, net.blocks[b])}"
            if delay:
                name += f"_delay{delay * 1e3:g}ms"
            self._linear(name, block_node_name(a, net.blocks[a]), b, len(net.blocks[a].indices), parts, delay)
            if plastic[(a, b, delay)]:  # the weights are these rules' initial values; the rules are dropped
                self.nodes[name].metadata["plastic"] = json.dumps(plastic[(a, b, delay)])
        for inp in net.spike_inputs:
            if inp.synapse != "exp_current":
                self.unsupported.append(f"spike input '{inp.name}': {inp.synapse}, left out")
                continue
            src = f"input_{inp.name}"
            self.nodes[src] = nir.Input(
                input_type={"input": np.array([len(inp.target)])},
                metadata={"kind": "spikes", "targets": json.dumps([net.names[i] for i in inp.target])},
            )
            for b in np.unique(self.block_of[inp.target]):
                sel = np.flatnonzero(self.block_of[inp.target] == b)
                parts = [(self.local[inp.target[sel]], sel, inp.weight[sel])]
                name = f"w_{src}_to_{block_node_name(b, net.blocks[b])}"
                self._linear(name, src, int(b), len(inp.target), parts, float(inp.params.get("delay", 0.0)))
        if net.current is not None:
            self._current(net.current)
        if net.blocks and not any(isinstance(n, nir.Input) for n in self.nodes.values()):
            # NIR's type inference starts from an Input node; a closed network gets an unused one (zero weights).
            self.nodes["input_unused"] = nir.Input(
                input_type={"input": np.array([1])}, metadata={"kind": "unused entry point (zero weights)"}
            )
            zero = [(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))]
            name = f"w_input_unused_to_{block_node_name(0, net.blocks[0])}"
            self._linear(name, "input_unused", 0, 1, zero, 0.0)
        metadata = {
            "source": "wormchip",
            "network": net.name,
            "dt": float(net.dt),
            "duration": float(net.duration),
            "units": "SI (s, V relative to E_L, ohm, A)",
            "spike_convention": SPIKE_CONVENTION,
            "unsupported": json.dumps(self.unsupported),
        }
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=metadata)

    def _block(self, k: int, block: ir.NeuronBlock) -> None:
        nir, p = self.nir, block.params
        name = block_node_name(k, block)
        tau_syn = self.tau_syn[block.indices]
        if block.model == "adaptive_lif":
            self.unsupported.append(
                f"adaptation of {name} (adaptive_lif, {len(block.indices)} neurons): NIR's CubaLIF has no "
                "spike-triggered adaptation current; exported as LIF without it"
            )
        if block.model == "conductance_lif":
            self.unsupported.append(
                f"{name} (conductance_lif): exported as current-based LIF, reversal potentials E_e/E_i dropped"
            )
        refractory = np.flatnonzero(p["t_ref"] > 0)
        if len(refractory):
            self.unsupported.append(
                f"refractory period t_ref of {name} ({_names(self.net, block.indices[refractory])}): NIR's "
                "CubaLIF has none"
            )
        self.nodes[name] = nir.CubaLIF(
            tau_syn=tau_syn.astype(float),
            tau_mem=(p["C_m"] / p["g_L"]).astype(float),
            r=(1.0 / p["g_L"]).astype(float),
            v_leak=(p["I_bias"] / p["g_L"]).astype(float),
            v_threshold=(p["v_th"] - p["E_L"]).astype(float),
            v_reset=(p["v_reset"] - p["E_L"]).astype(float),
            w_in=tau_syn.astype(float),
            metadata={
                "model": block.model,
                "neurons": json.dumps([self.net.names[i] for i in block.indices]),
                "E_L": np.asarray(p["E_L"], dtype=float),
                "t_ref": np.asarray(p["t_ref"], dtype=float),
            },
        )
        out = f"output_{name}"
        self.nodes[out] = nir.Output(output_type={"output": np.array([len(block.indices)])})
        self.edges.append((name, out))

    def _linear(self, name: str, source: str, b: int, n_pre: int, parts, delay: float) -> None:
        """Linear (post × pre, duplicates summed) from `source` into block b, through a Delay if delay > 0."""
        nir = self.nir
        n_post = len(self.net.blocks[b].indices)
        weight = np.zeros((n_post, n_pre))
        for rows, cols, vals in parts:
            np.add.at(weight, (rows, cols), vals)
        self.nodes[name] = nir.Linear(weight=weight)
        self.edges.append((source, name))
        target = block_node_name(b, self.net.blocks[b])
        if delay:
            self.nodes[f"{name}_delay"] = nir.Delay(delay=np.full(n_post, delay))
            self.edges += [(name, f"{name}_delay"), (f"{name}_delay", target)]
        else:
            self.edges.append((name, target))

    def _current(self, current: ir.CurrentInput) -> None:
        net = self.net
        self.nodes["input_current"] = self.nir.Input(
            input_type={"input": np.array([len(current.target)])},
            metadata={"kind": "current (A)", "targets": json.dumps([net.names[i] for i in current.target])},
        )
        blocks = self.block_of[current.target]
        for b in np.unique(blocks):
            cols = np.flatnonzero(blocks == b)
            post = current.target[cols]
            parts = [(self.local[post], cols, 1.0 / self.tau_syn[post])]
            name = f"w_input_current_to_{block_node_name(b, net.blocks[b])}"
            self._linear(name, "input_current", int(b), len(current.target), parts, 0.0)
        self.unsupported.append(
            "injected current: enters through the synaptic filter tau_syn (exact for constant current, low-passed "
            "otherwise); its samples are not part of the graph"
        )


def to_nir(network: ir.Network, warn: bool = True):
    """The NIR graph (`nir.NIRGraph`) of `network`; elements NIR cannot express are left out and listed in
    `graph.metadata["unsupported"]` (JSON) and, when `warn`, in one `UserWarning`. Raises `NIRExportError`
    when none of the network's synapses is expressible."""
    export = _Export(network)
    graph = export.build()
    if warn and export.unsupported:
        warnings.warn(
            f"NIR export of '{network.name}' leaves out or approximates {len(export.unsupported)} element(s): "
            + "; ".join(export.unsupported),
            UserWarning,
            stacklevel=2,
        )
    return graph


def unsupported(graph) -> list[str]:
    """The list stored in a graph's metadata by `to_nir` (also after `nir.read`)."""
    return json.loads(graph.metadata.get("unsupported", "[]"))


def export_nir(network: ir.Network, path: str | Path) -> Path:
    """Write `to_nir(network)` to an HDF5 file with `nir.write`; returns the path."""
    import nir

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(path, to_nir(network))
    return path
