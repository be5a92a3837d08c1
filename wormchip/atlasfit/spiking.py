"""Back to spikes: a fitted linear-response model as a LIF circuit spec (`whole_worm_fitted`), and its runs.

Mapping (every neuron the registry's `lif`: C_m 100 pF, g_L 5 nS, threshold 15 mV above rest). Chemical
synapses pass only spikes, so every neuron is made to fire tonically (`TONIC_BIAS` = 0.1 nA, ≈ 34 Hz alone)
and a change Δx_j of its free potential changes its rate by f′·g_L·Δx_j (f′ the LIF f–I slope at the bias);
an exp-current synapse of weight w (time constant τ_s) then moves the target's free potential by w·τ_s·f′·Δx_j.
The model's row i reads x_i = (Σ_j (W_ij + G_ij) x_j + u_i) / (λ_i + Σ_j G_ij), so every coupling, chemical
or gap, becomes an exp-current synapse of weight w_ij = (W_ij + G_ij) / ((λ_i + Σ_j G_ij) τ_s f′).

Gap junctions are carried as these rate-coded synapses, not as electrical synapses, because between tonically
firing LIF neurons a gap junction passes the mean membrane potential, and that *falls* as the rate rises (more
of each interspike interval is spent near reset): measured on a fold model, a stimulated neuron's mean v moved by
−0.10 (median; 10–90 %: −0.30 to −0.08) of its free-potential change, so electrical coupling passed the fitted
graded signal with the wrong sign. Each neuron's bias is lowered by the mean synaptic current its inputs carry at
the tonic rate (so it still sits at the same operating point), quantised to `BIAS_LEVELS` populations (the spec
schema has per-population, not per-neuron, parameters). The fitted read-out gain g_i, bias b_i and input drive
u_j are applied to the simulated free-potential changes (`readout`); they are not dynamics.

The simulated stimulation is a 160 pA, 0.4 s pulse (`PROTOCOL_KW`). The network has no noise, but its tonic
spiking is chaotic: any pulse shifts spike times everywhere, a change of the free potential that does not shrink
with the pulse. Measured on a fold model (old translation), the responses of two runs started at different
phases correlated 0.76 at 20 pA and 0.95 at 80 pA, and the spiking responses kept more of the linear ones the
larger the pulse up to 320 pA; `scripts/atlas_fit_results.py` records the sweep (`amplitude_sweep`).

The compiled fixed-point run (emulator = Lava) has no free potential, so it is scored on spike-rate changes
(`rate_predictions`), and compared with the float LIF scored the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from wormchip import ir
from wormchip.atlasfit.model import FittedModel

TONIC_BIAS = 0.1e-9  # A
TAU_SYN = 5e-3  # s, as in whole_worm
G_L, C_M, V_GAP, T_REF = 5e-9, 100e-12, 15e-3, 2e-3  # registry lif defaults (threshold − rest = 15 mV)
CHEM_SCALE = 10e-12  # the spec's weight_scale (A): edge weights are multiples of this
BIAS_LEVELS = 16
OPERATING_STEPS = 3  # Newton steps of `lif_bias`


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


def total_leak(model: FittedModel) -> np.ndarray:
    """λ_i + Σ_j G_ij per neuron (model order): the diagonal of A."""
    s = model.structure
    _, g, leak = model.weights()
    return leak + np.bincount(s.gap_a, g, s.n) + np.bincount(s.gap_b, g, s.n)


def synapses(model: FittedModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every coupling as one exp-current synapse: pre, post (model indices), weight (A), chemical edges and both
    directions of each gap pair summed per ordered pair; and per-neuron bias currents (A)."""
    s = model.structure
    w, g, _ = model.weights()
    pre = np.concatenate([s.chem_pre, s.gap_a, s.gap_b])
    post = np.concatenate([s.chem_post, s.gap_b, s.gap_a])
    pair, where = np.unique(post * s.n + pre, return_inverse=True)
    total = np.bincount(where.ravel(), np.concatenate([w, g, g]))
    post, pre = np.divmod(pair, s.n)
    weight = total / total_leak(model)[post] / (TAU_SYN * lif_slope(TONIC_BIAS))
    drive = np.bincount(post, weight, s.n) * TAU_SYN * lif_rate(TONIC_BIAS)
    return pre, post, weight, TONIC_BIAS - drive


def spec_dict(
    model: FittedModel, provenance: str, citations: list[str], bias: np.ndarray | None = None
) -> dict:
    """The circuit spec (YAML-ready dict) of a fitted model with per-neuron `bias` (A; default `lif_bias`);
    `provenance` goes into the description."""
    s = model.structure
    pre, post, weight, _ = synapses(model)
    bias = lif_bias(model) if bias is None else bias
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
            "synapses as rate changes; chemical and gap couplings both carried by exp-current synapses "
            f"(wormchip.atlasfit.spiking). Fit: {provenance}",
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
                    for a, b, x in zip(pre, post, weight)
                    if abs(x) > 1e-16
                ],
                "synapse": "exp_current",
                "weight_scale": "10 pA",
                "params": {"tau": "5 ms"},
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
    x: a unit free-potential change of the stimulated neuron stands for its steady state u_j / (λ_j + Σ G_j)."""
    gn = model.structure.groups(model.tie)[2]
    scale = model.drive[gn[stimulated]] / total_leak(model)[stimulated]
    return response / (amplitude / G_L) * scale[None, :]


def network_of(model: FittedModel, bias: np.ndarray | None = None) -> tuple[ir.Network, np.ndarray]:
    """The built network of the fitted spec (`spec_dict`), and each model neuron's index in it (the spec
    groups neurons into bias populations, so the orders differ)."""
    from wormchip.circuits.build import build
    from wormchip.circuits.loader import from_dict

    network = build(from_dict(spec_dict(model, "", [], bias)))
    index = network.index()
    return network, np.array([index[n] for n in model.structure.names], dtype=np.int64)


def lif_bias(model: FittedModel) -> np.ndarray:
    """Per-neuron bias current (A, model order) that puts every neuron at the tonic rate the weights were
    linearised at. The nominal bias (`synapses`) assumes every input fires at that rate and the f–I curve of
    the mean current; spike-driven fluctuations break both (scripts/atlas_fit_results.py counts the neurons left
    silent, `silent_neurons_per_fold`), and a silent neuron passes no decrease. So `OPERATING_STEPS` Newton
    steps on the measured spontaneous rates r (`spontaneous_rates`): Δb = ½·((r* − r)/f′ − w·τ_s·(r* − r)).
    Cached in `model.info["lif_bias"]`."""
    if "lif_bias" not in model.info:
        n = model.structure.n
        pre, post, weight, bias = synapses(model)
        coupling = np.zeros((n, n))
        np.add.at(coupling, (post, pre), weight * TAU_SYN)
        target, slope = lif_rate(TONIC_BIAS), lif_slope(TONIC_BIAS)
        for _ in range(OPERATING_STEPS):
            error = target - spontaneous_rates(*network_of(model, bias))
            bias = bias + 0.5 * (error / slope - coupling @ error)
        model.info["lif_bias"] = bias
    return model.info["lif_bias"]


def spontaneous_rates(network: ir.Network, where: np.ndarray) -> np.ndarray:
    """Spontaneous rate (Hz, model order) over 0.3–0.8 s of the network (no stimuli)."""
    from wormchip.analysis.perturbation import BatchSimulator

    sim = BatchSimulator(dataclasses.replace(network, current=None))
    state = sim.initial_state(1)
    sim.run(state, int(round(0.3 / sim.dt)))
    return sim.run(state, int(round(0.5 / sim.dt))).spike_count[where, 0] / 0.5


def free_response(model: FittedModel, stimulated: np.ndarray, protocol: dict | None = None) -> np.ndarray:
    """Free-potential change (V) of every model neuron (rows, model order) for a pulse (`protocol`, default
    `PROTOCOL_KW`) into each of `stimulated` (model indices), from the batched LIF simulator."""
    from wormchip.analysis.perturbation import PerturbationProtocol, perturb

    network, where = network_of(model)
    res = perturb(network, where[stimulated], PerturbationProtocol(**(protocol or PROTOCOL_KW)))
    return res.response["v_free"][where]


PROTOCOL_KW = {"amplitude": 160e-12, "pulse": 0.4, "window": 0.4, "warmup": 0.3, "background": False}
#: V: a neuron "responds" when its free potential moves by more than 0.1 mV per 20 pA of pulse
RESPONDS_V = 1e-4 * PROTOCOL_KW["amplitude"] / 20e-12
#: Command interneurons a touch should excite: backward for an anterior touch, forward for a posterior one.
AGONISTS = {"anterior": ("AVA", "AVD", "AVE"), "posterior": ("AVB", "PVC")}
COMMAND = tuple(f"{c}{side}" for c in ("AVA", "AVD", "AVE", "AVB", "PVC") for side in "LR")


def spiking_predictions(
    model: FittedModel, resp: np.ndarray, stim: np.ndarray, protocol: dict | None = None
) -> np.ndarray:
    """Predicted ΔF/F of pairs from the spiking network of `model` (batched LIF, exact to Brian2: see
    `wormchip.analysis.perturbation`) under `protocol` (default `PROTOCOL_KW`), read out with the fitted gain
    and bias."""
    protocol = protocol or PROTOCOL_KW
    cols, inv = np.unique(stim, return_inverse=True)
    x = readout(model, free_response(model, cols, protocol), cols, protocol["amplitude"])
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


def touch_reach(spec_path: str, on: str, site: str = "anterior") -> dict[str, tuple[float, float]]:
    """Each command interneuron during the spec's touch (200–300 ms) moved to `site` (anterior: ALM, AVM;
    posterior: PLM), without and with the touch: spike rate (Hz) run on `on` (brian2 or emulator), or mean
    free potential (mV, the read-out the atlas is scored on) from the batched LIF simulator (= Brian2) for
    `on="free"`. The spec has no noise, so the run without the touch is an exact control: any difference is the
    touch's."""
    from wormchip.circuits.build import build
    from wormchip.circuits.loader import load_spec

    spec = load_spec(spec_path)
    touch = [s.model_copy(update={"site": site}) for s in spec.stimuli if s.kind == "touch"]
    touched = build(spec.model_copy(update={"stimuli": touch}))
    runs = {"control": dataclasses.replace(touched, current=None), "touch": touched}
    values = {label: _touch_window(network, on) for label, network in runs.items()}
    return {name: (values["control"][name], values["touch"][name]) for name in COMMAND}


def _touch_window(network: ir.Network, on: str) -> dict[str, float]:
    """Spike rate (Hz) or, for `on="free"`, mean free potential (mV) of every neuron over 200–300 ms."""
    if on == "free":
        from wormchip.analysis.perturbation import BatchSimulator

        sim = BatchSimulator(network)
        state = sim.initial_state(1)
        sim.run(state, int(round(0.2 / sim.dt)), engine="numpy")
        mean = sim.run(state, int(round(0.1 / sim.dt)), engine="numpy").mean_v_free[:, 0]
        return {n: float(v) * 1e3 for n, v in zip(network.names, mean)}
    from wormchip.pipeline import run_circuit

    counts = run_circuit(network, on=on).spike_counts(0.2, 0.3)
    return {n: counts[n] / 0.1 for n in network.names}


def agonist_change(rates: dict[str, tuple[float, float]], site: str) -> dict[str, float]:
    """Change (touch − control, mean of left and right; Hz or mV as `touch_reach` gives) of each command class
    `site`'s touch should excite (`AGONISTS`), and their mean (`all`): the touch reaches them with the right sign
    when every class rises."""
    change = {c: float(np.mean([rates[c + s][1] - rates[c + s][0] for s in "LR"])) for c in AGONISTS[site]}
    return {**change, "all": float(np.mean(list(change.values())))}


#: Held-out read-outs of the translated fold models (`heldout_translation`).
TRANSLATIONS = ("spiking", "float_rate", "fixed_point")


def heldout_translation(
    models: Sequence, tests: Sequence[np.ndarray], resp: np.ndarray, stim: np.ndarray
) -> dict[str, np.ndarray]:
    """Held-out predictions of each fold's model (`tests[k]`: its test pairs) as LIF networks: "spiking" (free
    potential, `spiking_predictions`), "float_rate" and "fixed_point" (spike rates of the batched LIF and of the
    compiled chip network, `rate_predictions`). A bagged model's (with `members`) are its members' mean, as its
    linear prediction is."""
    out = {kind: np.full(len(resp), np.nan) for kind in TRANSLATIONS}
    for model, test in zip(models, tests):
        members = getattr(model, "members", (model,))
        r, j = resp[test], stim[test]
        out["spiking"][test] = np.mean([spiking_predictions(m, r, j) for m in members], axis=0)
        out["float_rate"][test] = np.mean([rate_predictions(m, r, j, "float") for m in members], axis=0)
        out["fixed_point"][test] = np.mean([rate_predictions(m, r, j, "emulator") for m in members], axis=0)
    return out
