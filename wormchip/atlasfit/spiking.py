"""Back to spikes: a fitted linear-response model as a LIF circuit spec (`whole_worm_fitted`), and its runs.

Mapping (every neuron the registry's `lif`: C_m 100 pF, g_L 5 nS, threshold 15 mV above rest). Chemical
synapses pass only spikes, so every neuron is made to fire tonically (`TONIC_BIAS` = 0.1 nA, ≈ 34 Hz alone)
and a change Δx_j of its free potential changes its rate by f′·g_L·Δx_j (f′ the LIF f–I slope at the bias);
an exp-current synapse of weight w (time constant τ_s) then moves the target's free potential by w·τ_s·f′·Δx_j.
So the fitted chemical weight W_ij (leak-normalised, W_ij/λ_i) becomes w_ij = W_ij / (λ_i τ_s f′), and the gap
conductance G_ij becomes G_ij·g_L. Each neuron's bias is lowered by the mean synaptic current its inputs
carry at the tonic rate (so it still sits at the same operating point), quantised to `BIAS_LEVELS` populations
(the spec schema has per-population, not per-neuron, parameters). The fitted read-out gain g_i, bias b_i and
input drive u_j/λ_j are applied to the simulated free-potential changes (`readout`); they are not dynamics.
The compiled fixed-point run (emulator = Lava) has no free potential, so it is scored on spike-rate changes
(`rate_predictions`), and compared with the float LIF scored the same way.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from wormchip import ir
from wormchip.atlasfit.model import FittedModel

TONIC_BIAS = 0.1e-9  # A
TAU_SYN = 5e-3  # s, as in whole_worm
G_L, C_M, V_GAP, T_REF = 5e-9, 100e-12, 15e-3, 2e-3  # registry lif defaults (threshold − rest = 15 mV)
CHEM_SCALE, GAP_SCALE = 10e-12, 0.1e-9  # the spec's weight_scale (A, S): edge weights are multiples of these
BIAS_LEVELS = 16


def lif_rate(current: float) -> float:
    """Tonic rate (Hz) of the registry LIF under a constant current (A)."""
    rheobase = G_L * V_GAP
    if current <= rheobase:
        return 0.0
    return 1.0 / (T_REF + C_M / G_L * np.log(current / (current - rheobase)))


def lif_slope(current: float) -> float:
    """f–I slope df/dI (Hz/A) of the registry LIF at `current`."""
    a = G_L * V_GAP
    return lif_rate(current) ** 2 * (C_M / G_L) * a / (current * (current - a))


def synapses(model: FittedModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chemical weights (A) per edge, gap conductances (S) per pair, and per-neuron bias currents (A)."""
    s = model.structure
    w, g, leak = model.weights()
    chem = w / leak[s.chem_post] / (TAU_SYN * lif_slope(TONIC_BIAS))
    drive = np.bincount(s.chem_post, chem, s.n) * TAU_SYN * lif_rate(TONIC_BIAS)
    return chem, g * G_L, TONIC_BIAS - drive


def spec_dict(model: FittedModel, provenance: str, citations: list[str]) -> dict:
    """The circuit spec (YAML-ready dict) of a fitted model; `provenance` goes into the description."""
    s = model.structure
    chem, gap, bias = synapses(model)
    edges = np.quantile(bias, np.linspace(0, 1, BIAS_LEVELS + 1))
    level = np.clip(np.searchsorted(edges, bias, side="right") - 1, 0, BIAS_LEVELS - 1)
    populations = []
    for k in range(BIAS_LEVELS):
        members = np.flatnonzero(level == k)
        if len(members):
            populations.append(
                {
                    "name": f"bias_{k:02d}",
                    "neurons": [s.names[i] for i in members],
                    "model": "lif",
                    "params": {"I_bias": f"{bias[members].mean() * 1e9:.5f} nA"},
                }
            )
    pops = [p["name"] for p in populations]
    return {
        "name": "whole_worm_fitted",
        "metadata": {
            "description": "whole_worm with chemical and gap weights fitted to the Randi et al. 2023 "
            "signal-propagation atlas (wormchip.atlasfit); tonic LIF neurons so that graded changes pass "
            f"chemical synapses as rate changes. Fit: {provenance}",
            "citations": citations,
            "tags": ["connectome", "whole-brain", "fitted"],
        },
        "connectome": {"dataset": "cook2019"},
        "populations": populations,
        "connections": [
            {
                "name": "chemical",
                "source": pops,
                "target": pops,
                "edges": [
                    {"pre": s.names[a], "post": s.names[b], "weight": round(float(x / CHEM_SCALE), 4)}
                    for a, b, x in zip(s.chem_pre, s.chem_post, chem)
                    if abs(x) > 1e-16
                ],
                "synapse": "exp_current",
                "weight_scale": "10 pA",
                "params": {"tau": "5 ms"},
            },
            {
                "name": "gap",
                "source": pops,
                "target": pops,
                "edges": [
                    {"pre": s.names[a], "post": s.names[b], "weight": round(float(x / GAP_SCALE), 4)}
                    for a, b, x in zip(s.gap_a, s.gap_b, gap)
                    if x > 1e-16
                ],
                "synapse": "gap_junction",
                "weight_scale": "0.1 nS",
            },
        ],
        "stimuli": [
            {
                "name": "touch",
                "kind": "touch",
                "site": "anterior",
                "amplitude": "0.3 nA",
                "start": "200 ms",
                "duration": "100 ms",
            },
        ],  # fmt: skip
        "probes": [{"variables": ["v"], "neurons": ["AVA", "AVB", "AVD", "PVC", "ALM", "PLM"], "dt": "1 ms"}],
        "run": {"dt": "0.1 ms", "duration": "600 ms", "seed": 1},
    }


def readout(model: FittedModel, response: np.ndarray, stimulated: np.ndarray, amplitude: float) -> np.ndarray:
    """Free-potential changes response[i, b] (V) for a current `amplitude` into `stimulated[b]` → the model's
    x (unit drive) times the fitted input drive, before the per-neuron gain and bias."""
    gn = model.structure.groups(model.tie)[2]
    scale = model.drive[gn[stimulated]] / np.exp(model.leak_log[gn[stimulated]])
    return response / (amplitude / G_L) * scale[None, :]


def network_of(model: FittedModel) -> tuple[ir.Network, np.ndarray]:
    """The built network of the fitted spec, and each model neuron's index in it (the spec groups neurons
    into bias populations, so the orders differ)."""
    from wormchip.circuits.build import build
    from wormchip.circuits.loader import from_dict

    network = build(from_dict(spec_dict(model, "", [])))
    index = network.index()
    return network, np.array([index[n] for n in model.structure.names], dtype=np.int64)


def free_response(model: FittedModel, stimulated: np.ndarray) -> np.ndarray:
    """Free-potential change (V) of every model neuron (rows, model order) for a `PROTOCOL_KW` pulse into each
    of `stimulated` (model indices), from the batched LIF simulator."""
    from wormchip.analysis.perturbation import PerturbationProtocol, perturb

    network, where = network_of(model)
    res = perturb(network, where[stimulated], PerturbationProtocol(**PROTOCOL_KW))
    return res.response["v_free"][where]


PROTOCOL_KW = {"amplitude": 20e-12, "pulse": 0.4, "window": 0.4, "warmup": 0.3, "background": False}
RESPONDS_V = 1e-4  # V: a neuron "responds" when its free potential moves by more than 0.1 mV
COMMAND = ("AVAL", "AVAR", "AVBL", "AVBR", "AVDL", "AVDR", "PVCL", "PVCR")


def spiking_predictions(model: FittedModel, resp: np.ndarray, stim: np.ndarray) -> np.ndarray:
    """Predicted ΔF/F of pairs from the spiking network of `model` (batched LIF, exact to Brian2: see
    `wormchip.analysis.perturbation`), read out with the fitted gain and bias."""
    cols, inv = np.unique(stim, return_inverse=True)
    x = readout(model, free_response(model, cols), cols, PROTOCOL_KW["amplitude"])
    return model.gain[resp] * x[resp, inv.ravel()] + model.bias[resp]


def rate_response(model: FittedModel, stimulated: np.ndarray, on: str) -> np.ndarray:
    """Spike-rate change (Hz) of every model neuron (rows, model order) over the `PROTOCOL_KW` window for a
    pulse into each of `stimulated` (model indices): `on` "float" (the batched LIF, = Brian2) or "emulator"
    (the compiled fixed-point network, bit-exact with Lava; one lowered, quantized run per stimulation, the
    pulse a bias change, against an unstimulated run of the same network)."""
    from wormchip.analysis.perturbation import PerturbationProtocol, perturb, prepare_network

    network, where = network_of(model)
    protocol = PerturbationProtocol(**PROTOCOL_KW)
    if on == "float":
        return perturb(network, where[stimulated], protocol).response["rate"][where]
    if on != "emulator":
        raise ValueError(f"on must be 'float' or 'emulator', not {on!r}")
    from wormchip.backends.emulator import run_emulator
    from wormchip.mappers.lower import lower
    from wormchip.mappers.quantize import quantize

    base = prepare_network(network, protocol)
    steps = int(round(base.duration / base.dt))
    warm, pulse = int(round(protocol.warmup / base.dt)), int(round(protocol.pulse / base.dt))

    def rates(neuron: int | None) -> np.ndarray:
        values = np.zeros((steps, 1))
        if neuron is not None:
            values[warm : warm + pulse, 0] = protocol.amplitude
        current = ir.CurrentInput(base.dt, np.array([0 if neuron is None else neuron]), values)
        lowered = lower(dataclasses.replace(base, current=current))
        run = run_emulator(quantize(lowered)[0], lowered.steps, record=())
        counts = run.spike_counts(protocol.warmup, protocol.warmup + protocol.window)
        return np.array([counts[n] for n in network.names]) / protocol.window

    control = rates(None)
    columns = [rates(int(where[j])) - control for j in stimulated]
    return np.stack(columns, axis=1)[where]


def rate_predictions(model: FittedModel, resp: np.ndarray, stim: np.ndarray, on: str) -> np.ndarray:
    """Predicted ΔF/F of pairs from spike-rate changes (`rate_response`), each read as a free-potential
    change Δrate / (f′·g_L) (f′ the LIF slope at `TONIC_BIAS`), then read out as `spiking_predictions` does."""
    cols, inv = np.unique(stim, return_inverse=True)
    volts = rate_response(model, cols, on) / (lif_slope(TONIC_BIAS) * G_L)
    x = readout(model, volts, cols, PROTOCOL_KW["amplitude"])
    return model.gain[resp] * x[resp, inv.ravel()] + model.bias[resp]


def alive(model: FittedModel, stimulated: np.ndarray, classes: list[str]) -> dict[str, list[str]]:
    """Neuron classes whose free potential moves by > `RESPONDS_V` for at least one stimulation, and those
    that never do."""
    moved = np.abs(free_response(model, stimulated)).max(axis=1) > RESPONDS_V
    responding = sorted({c for c, m in zip(classes, moved) if m})
    silent = sorted(set(classes) - set(responding))
    return {"responding": responding, "silent": silent}


def touch_reach(spec_path: str, on: str) -> dict[str, tuple[float, float]]:
    """Spike rate (Hz) of each command interneuron during the anterior touch (200–300 ms) of the fitted spec,
    without and with the touch, run on `on` (brian2 or emulator). The spec has no noise, so the run without
    the touch is an exact control: any difference is the touch's."""
    from wormchip.circuits.build import build
    from wormchip.circuits.loader import load_spec
    from wormchip.pipeline import run_circuit

    network = build(load_spec(spec_path))
    touched = run_circuit(network, on=on).spike_counts(0.2, 0.3)
    control = run_circuit(dataclasses.replace(network, current=None), on=on).spike_counts(0.2, 0.3)
    return {name: (control[name] / 0.1, touched[name] / 0.1) for name in COMMAND}
