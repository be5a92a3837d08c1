"""Run an IR `Network` in Nengo (reference simulator) and return the shared `Result`.

The network is one `nengo.Ensemble` of the custom neuron type `nengo_cells.WormchipCells`, whose builder adds
one operator integrating every cell and synapse of the registry with Brian2's equations and step order
(exponential Euler; gap junctions, conductance and graded synapses, refractoriness, v_reset, adaptation).
Nengo runs the loop, feeds the injected current through a `Node` into `ensemble.neurons` (amperes), and
its probes record every state variable. Spikes are reported at the start of the step in which v crossed
threshold (Brian2's convention), so both backends compare step by step.

This replaced an exact change of variable onto Nengo's own LIF (current-based circuits only): the operator
runs every library circuit, agrees with Brian2 spike for spike where the LIF mapping differed by O(dt)
(whole_worm without gap junctions: 5256 Brian2 spikes, 5256 operator, 4689 LIF mapping) and is as fast
(3.6 s vs 5.9 s there); see docs/backends.md.

Plasticity is not expressed (nothing in the registry maps honestly onto Nengo's learning rules): any rule,
like any other element Nengo cannot run, makes `check_supported` raise `UnsupportedOnBackend` naming every
offending element.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np

from wormchip import ir
from wormchip.errors import BackendUnavailable, UnsupportedOnBackend
from wormchip.result import Result, Trace

NEURON_MODELS = ("lif", "adaptive_lif", "conductance_lif")
SYNAPSE_MODELS = ("exp_current", "exp_conductance", "graded_sigmoid", "gap_junction")
SPIKE_INPUT_SYNAPSES = ("exp_current", "exp_conductance")  # graded and gap synapses need v_pre
#: Probe variable → (state name in `nengo_cells.STATE`, unit); the same set Brian2 records.
PROBES = {
    "v": ("voltage", "V"),
    "I_syn": ("I_syn", "A"),
    "g_e": ("g_e", "S"),
    "g_i": ("g_i", "S"),
    "I_gap": ("I_gap", "A"),
    "w_adapt": ("w_adapt", "A"),
    "tau_eff": ("tau_eff", "s"),
}
REPORT_CHUNKS = 50


def unsupported_elements(network: ir.Network) -> list[str]:
    """Every element of `network` the Nengo backend cannot express, one readable line each (empty: runs)."""
    out: list[str] = []
    for block in network.blocks:
        if block.model not in NEURON_MODELS:
            out.append(f"neuron model '{block.model}' ({len(block.indices)} neurons)")
    for proj in network.projections:
        if proj.synapse not in SYNAPSE_MODELS:
            out.append(f"projection '{proj.name}': unknown synapse model '{proj.synapse}'")
        for rule in proj.plasticity:
            out.append(
                f"projection '{proj.name}': plasticity rule '{rule.name}' ({rule.rule}) — not implemented on "
                "Nengo (none of its learning rules PES/BCM/Oja/Voja is this rule); run it on brian2"
            )
    for inp in network.spike_inputs:
        if inp.synapse not in SPIKE_INPUT_SYNAPSES:
            out.append(f"spike input '{inp.name}': {inp.synapse} (needs the voltage of a presynaptic cell)")
    for var in sorted({v for p in network.probes for v in p.variables} - set(PROBES)):
        out.append(f"probe variable '{var}' (Nengo records {sorted(PROBES)})")
    return out


def check_supported(network: ir.Network) -> None:
    """Raise `UnsupportedOnBackend` listing every element Nengo cannot express."""
    problems = unsupported_elements(network)
    if problems:
        raise UnsupportedOnBackend(f"the Nengo backend (network '{network.name}')", problems)


def run_nengo(network: ir.Network, report: Callable[[float], None] | None = None) -> Result:
    """Simulate `network` in Nengo's reference simulator with dt = network.dt; `report(fraction_done)`."""
    check_supported(network)
    try:
        import nengo

        from wormchip.backends.nengo_cells import NetworkDynamics, WormchipCells
    except ImportError as err:  # pragma: no cover - nengo is a declared dependency
        raise BackendUnavailable(f"the Nengo backend needs nengo: {err}") from err
    t0 = time.perf_counter()
    dynamics = NetworkDynamics(network)
    model, ens, spikes = _model(network, nengo, WormchipCells(dynamics))
    with model:
        probes = {
            var: nengo.Probe(ens.neurons, PROBES[var][0], sample_every=pdt)
            for var, pdt in _probe_dt(network).items()
        }
    with warnings.catch_warnings():
        # Nengo warns that a custom neuron type's max_rates are not finite (they are undefined here).
        warnings.filterwarnings("ignore", message="Non-finite values detected in `max_rates`")
        sim = nengo.Simulator(model, dt=network.dt, seed=network.seed, progress_bar=False)
    with sim:
        build_s = time.perf_counter() - t0
        steps = int(round(network.duration / network.dt))
        chunk = max(1, steps // REPORT_CHUNKS) if report is not None else steps
        done = 0
        while done < steps:
            n = min(chunk, steps - done)
            sim.run_steps(n)
            done += n
            if report is not None:
                report(done / steps)
        initial = dynamics.initial()
        traces = {
            var: _trace(network, var, np.r_[initial[PROBES[var][0]][None, :], sim.data[probe]])
            for var, probe in probes.items()
        }
    result = Result(
        neuron_names=list(network.names),
        duration=network.duration,
        dt=network.dt,
        spike_times=_spike_times(network, spikes),
        traces=traces,
    )
    result.metadata.update(
        {
            **network.metadata,
            "backend": "nengo",
            "simulator": "nengo reference (numpy), wormchip cells operator",
            "seed": network.seed,
            "wall_s": time.perf_counter() - t0,
            "build_s": build_s,
            "spike_time_convention": "start of the step in which v crossed v_th (as Brian2)",
            "versions": _versions(),
        }
    )
    return result


def _model(network: ir.Network, nengo, cells) -> tuple[object, object, list[tuple[int, np.ndarray]]]:
    """The Nengo network: the cells, the injected current as a Node, and a sink Node storing the spikes."""
    n, dt = network.size, network.dt
    spikes: list[tuple[int, np.ndarray]] = []  # (Brian2 step, cells that spiked)
    model = nengo.Network(label=network.name, seed=network.seed)
    with model:
        ens = nengo.Ensemble(n, 1, neuron_type=cells, gain=np.ones(n), bias=np.zeros(n), label="cells")
        current = network.current
        if current is not None:
            values = np.asarray(current.values, dtype=float)

            def stimulus(t: float) -> np.ndarray:
                # Nengo's step ending at t is Brian2's step starting at t − dt; its TimedArray clips the row.
                row = int(np.floor((t - dt) / current.dt + 1e-6))
                return values[min(max(row, 0), len(values) - 1)]

            node = nengo.Node(stimulus, size_out=values.shape[1], label="current")
            transform = np.zeros((n, values.shape[1]))
            transform[current.target, np.arange(values.shape[1])] = 1.0
            nengo.Connection(node, ens.neurons, transform=transform, synapse=None)

        def sink(t: float, x: np.ndarray) -> None:
            hit = np.flatnonzero(x)
            if len(hit):
                spikes.append((int(round(t / dt)) - 1, hit))

        nengo.Connection(ens.neurons, nengo.Node(sink, size_in=n, label="spikes"), synapse=None)
    return model, ens, spikes


def _probe_dt(network: ir.Network) -> dict[str, float]:
    """Sampling interval per probed variable: the finest requested, at least dt."""
    wanted = sorted({v for p in network.probes for v in p.variables})
    return {var: min(max(p.dt, network.dt) for p in network.probes if var in p.variables) for var in wanted}


def _trace(network: ir.Network, var: str, data: np.ndarray) -> Trace:
    """Samples at t = 0, Δ, 2Δ, … (as Brian2's StateMonitor): the initial state, then Nengo's samples."""
    pdt = _probe_dt(network)[var]
    members = np.unique(np.concatenate([p.indices for p in network.probes if var in p.variables]))
    n_t = int(round(network.duration / pdt))
    return Trace(
        np.arange(n_t) * pdt, [network.names[i] for i in members], data[:n_t, members], PROBES[var][1]
    )


def _spike_times(network: ir.Network, spikes: list[tuple[int, np.ndarray]]) -> dict[str, np.ndarray]:
    names = network.names
    out: dict[str, np.ndarray] = {n: np.zeros(0) for n in names}
    if not spikes:
        return out
    steps = np.concatenate([np.full(len(hit), s) for s, hit in spikes])
    who = np.concatenate([hit for _, hit in spikes])
    for j in np.unique(who):
        out[names[j]] = np.sort(steps[who == j]) * network.dt
    return out


def _versions() -> dict[str, str]:
    import nengo

    import wormchip

    return {"wormchip": wormchip.__version__, "nengo": nengo.__version__, "numpy": np.__version__}
