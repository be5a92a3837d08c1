"""Pure IR → IR transformations: batch copies into one network, swap liquid for current-based dynamics, perturb.

Used by experiments that need many runs of a small circuit (robustness, parameter sweeps): `stack` puts N
independent copies into one `Network`, so a backend runs them in one simulation (Brian2's cost is per object
and per step, not per neuron), and `unstack` splits the `Result` again. Nothing here knows a backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from wormchip import ir
from wormchip.result import Result, Trace

SEPARATOR = ":"  # not "/": names become HDF5 dataset names in Result.save


def stack(networks: Sequence[ir.Network], prefixes: Sequence[str] | None = None) -> ir.Network:
    """One network holding independent copies (neuron names `prefix/name`); same dt and duration required.

    Blocks of one model are merged, and projections of one name, synapse and parameters, so the copies add
    neurons, not objects. Plastic projections are refused (their modulators and rewards would mix).
    """
    if not networks:
        raise ValueError("stack needs at least one network")
    prefixes = [str(k) for k in range(len(networks))] if prefixes is None else list(prefixes)
    if len(prefixes) != len(networks) or len(set(prefixes)) != len(prefixes):
        raise ValueError("give one distinct prefix per network")
    first = networks[0]
    for k, net in enumerate(networks):
        if net.dt != first.dt or net.duration != first.duration:
            raise ValueError(
                f"network {k} ({net.name}) has dt/duration {net.dt}/{net.duration}, expected "
                f"{first.dt}/{first.duration}"
            )
        if any(p.plasticity for p in net.projections):
            raise ValueError(f"network {k} ({net.name}) has plastic projections; stack supports static ones")
    offsets = np.cumsum([0] + [net.size for net in networks])
    names = tuple(f"{p}{SEPARATOR}{n}" for p, net in zip(prefixes, networks) for n in net.names)

    blocks: dict[str, list[ir.NeuronBlock]] = {}
    for off, net in zip(offsets, networks):
        for b in net.blocks:
            blocks.setdefault(b.model, []).append(replace(b, indices=b.indices + off))
    merged_blocks = tuple(
        ir.NeuronBlock(model, np.concatenate([b.indices for b in bs]), _concat_params([b.params for b in bs]))
        for model, bs in blocks.items()
    )

    projections: dict[tuple, list[ir.Projection]] = {}
    for off, net in zip(offsets, networks):
        for p in net.projections:
            key = (p.name, p.synapse, tuple(sorted(p.params.items())))
            projections.setdefault(key, []).append(replace(p, pre=p.pre + off, post=p.post + off))
    merged_projections = tuple(
        ir.Projection(
            f"{name}_{k}" if sum(key[0] == name for key in projections) > 1 else name,
            synapse,
            np.concatenate([p.pre for p in ps]),
            np.concatenate([p.post for p in ps]),
            np.concatenate([p.weight for p in ps]),
            dict(params),
        )
        for k, ((name, synapse, params), ps) in enumerate(projections.items())
    )

    return ir.Network(
        name=f"stack({first.name}×{len(networks)})",
        names=names,
        blocks=merged_blocks,
        projections=merged_projections,
        current=_stack_currents(networks, offsets),
        spike_inputs=tuple(
            replace(s, name=f"{p}{SEPARATOR}{s.name}", target=s.target + off)
            for p, off, net in zip(prefixes, offsets, networks)
            for s in net.spike_inputs
        ),
        probes=tuple(
            replace(pr, indices=pr.indices + off) for off, net in zip(offsets, networks) for pr in net.probes
        ),
        dt=first.dt,
        duration=first.duration,
        seed=first.seed,
        target=first.target,
        metadata={"stacked": list(prefixes), "circuit": first.metadata.get("circuit", first.name)},
    )


def _concat_params(params: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = set().union(*params)
    missing = [k for k in keys if any(k not in p for p in params)]
    if missing:
        raise ValueError(f"blocks of one model disagree on parameters {sorted(missing)}")
    return {k: np.concatenate([p[k] for p in params]) for k in sorted(keys)}


def _stack_currents(networks: Sequence[ir.Network], offsets: np.ndarray) -> ir.CurrentInput | None:
    currents = [(off, net.current) for off, net in zip(offsets, networks) if net.current is not None]
    if not currents:
        return None
    dt = currents[0][1].dt
    if any(c.dt != dt for _, c in currents):
        raise ValueError("current inputs of the stacked networks use different sample steps")
    rows = max(len(c.values) for _, c in currents)
    values = np.zeros((rows, sum(len(c.target) for _, c in currents)))
    col = 0
    for _, c in currents:
        values[: len(c.values), col : col + len(c.target)] = c.values
        col += len(c.target)
    return ir.CurrentInput(dt, np.concatenate([c.target + off for off, c in currents]), values)


def unstack(result: Result, prefixes: Sequence[str]) -> list[Result]:
    """Split a stacked run's `Result` into one `Result` per copy, with the original neuron names."""
    out = []
    for p in prefixes:
        head = f"{p}{SEPARATOR}"
        names = [n for n in result.neuron_names if n.startswith(head)]
        traces = {}
        for key, tr in result.traces.items():
            cols = [k for k, ch in enumerate(tr.channels) if ch.startswith(head)]
            if cols:
                traces[key] = Trace(
                    tr.times, [tr.channels[k][len(head) :] for k in cols], tr.values[:, cols], tr.unit
                )
        out.append(
            Result(
                neuron_names=[n[len(head) :] for n in names],
                duration=result.duration,
                dt=result.dt,
                spike_times={n[len(head) :]: result.spike_times[n] for n in names},
                traces=traces,
                metadata={**result.metadata, "stack_prefix": p},
            )
        )
    return out


def current_based(network: ir.Network, v_op: float | None = None) -> ir.Network:
    """The same circuit without the 'liquid' property: conductance neurons → current-based LIF.

    Each exponential conductance synapse g becomes an exponential current synapse w = g·(E_rev − v_op) with the
    postsynaptic neuron's reversal potential (E_e for excitatory, E_i for inhibitory), so the two versions
    deliver the same current when the membrane sits at `v_op`. By default v_op is each postsynaptic neuron's
    midpoint between E_L and v_th, where a neuron that integrates towards threshold spends its time.
    Graded sigmoid synapses have no current-based counterpart here and raise ValueError.
    """
    if any(p.synapse == "graded_sigmoid" for p in network.projections):
        raise ValueError("current_based: graded_sigmoid synapses have no current-based form")
    e_e, e_i, op = np.zeros(network.size), np.full(network.size, -0.09), np.zeros(network.size)
    blocks = []
    for b in network.blocks:
        e_e[b.indices] = b.params.get("E_e", 0.0)
        e_i[b.indices] = b.params.get("E_i", -0.09)
        op[b.indices] = 0.5 * (b.params["E_L"] + b.params["v_th"]) if v_op is None else v_op
        if b.model == "conductance_lif":
            params = {k: v for k, v in b.params.items() if k not in ("E_e", "E_i")}
            blocks.append(ir.NeuronBlock("lif", b.indices, params))
        else:
            blocks.append(b)

    def convert(syn: str, post: np.ndarray, weight: np.ndarray) -> tuple[str, np.ndarray]:
        if syn != "exp_conductance":
            return syn, weight
        e_rev = np.where(weight > 0, e_e[post], e_i[post])
        return "exp_current", np.abs(weight) * (e_rev - op[post])

    projections = []
    for p in network.projections:
        syn, w = convert(p.synapse, p.post, p.weight)
        projections.append(replace(p, synapse=syn, weight=w))
    inputs = []
    for s in network.spike_inputs:
        syn, w = convert(s.synapse, s.target, s.weight)
        inputs.append(replace(s, synapse=syn, weight=w))
    return replace(
        network,
        name=f"{network.name}_current_based",
        blocks=tuple(blocks),
        projections=tuple(projections),
        spike_inputs=tuple(inputs),
        metadata={**network.metadata, "current_based_from": network.name},
    )


def drift(network: ir.Network, sigma: float, rng: np.random.Generator) -> ir.Network:
    """Parameter drift: C_m, g_L, I_bias and every synaptic weight times an independent lognormal factor
    exp(N(0, σ²)) (median 1), and v_th moved by N(0, (σ·(v_th − E_L))²), so the distance to threshold drifts
    by the same relative amount. σ = 0 returns the network unchanged."""
    if sigma < 0:
        raise ValueError(f"sigma = {sigma} must be ≥ 0")
    if sigma == 0:
        return network
    blocks = []
    for b in network.blocks:
        params = dict(b.params)
        n = len(b.indices)
        for key in ("C_m", "g_L", "I_bias"):
            if key in params:
                params[key] = params[key] * rng.lognormal(0.0, sigma, n)
        params["v_th"] = params["v_th"] + rng.normal(0.0, sigma, n) * (params["v_th"] - params["E_L"])
        blocks.append(replace(b, params=params))
    projections = tuple(
        replace(p, weight=p.weight * rng.lognormal(0.0, sigma, p.size)) for p in network.projections
    )
    return replace(network, blocks=tuple(blocks), projections=projections)


def add_noise(network: ir.Network, sigma: float, rng: np.random.Generator, tau: float = 1e-3) -> ir.Network:
    """Input noise: a Gaussian current (standard deviation `sigma` amperes, redrawn every `tau` seconds) into
    every neuron, on top of the circuit's own stimuli."""
    if sigma < 0:
        raise ValueError(f"sigma = {sigma} must be ≥ 0")
    if sigma == 0:
        return network
    dt = network.current.dt if network.current is not None else network.dt
    steps = int(np.ceil(network.duration / dt))
    hold = max(1, int(round(tau / dt)))
    noise = rng.normal(0.0, sigma, (int(np.ceil(steps / hold)), network.size)).repeat(hold, axis=0)[:steps]
    if network.current is not None:
        cur = network.current
        rows = min(len(cur.values), steps)
        np.add.at(noise[:rows].T, cur.target, cur.values[:rows].T)
    current = ir.CurrentInput(dt, np.arange(network.size), noise)
    return replace(network, current=current)
