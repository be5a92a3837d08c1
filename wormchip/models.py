"""The model registry: every neuron, synapse and plasticity model a spec may name, backend-neutral.

Each entry lists its parameters (dimension and default), its equations as documentation, and a citation.
Backends implement the equations (see `wormchip/backends/brian2_backend.py`); the compiler's feature table
says how each lowers to Loihi. Models marked `beyond_liquid_papers` go beyond the liquid-network papers
(Hasani et al. 2020/2021, Lechner et al. 2020), where weights are frozen after training.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Param:
    """A model parameter: its dimension (see `wormchip.units.EXAMPLES`) and default written as in a spec."""

    dimension: str
    default: str | float
    doc: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """One registry entry."""

    name: str
    kind: str  # "neuron" | "synapse" | "plasticity"
    summary: str
    equations: str
    citation: str
    params: dict[str, Param] = field(default_factory=dict)
    conductance_based: bool = False
    beyond_liquid_papers: bool = False


_MEMBRANE = {
    "C_m": Param("capacitance", "100 pF", "membrane capacitance"),
    "g_L": Param("conductance", "5 nS", "leak conductance (τ_m = C_m/g_L = 20 ms by default)"),
    "E_L": Param("voltage", "-65 mV", "leak reversal (resting) potential"),
    "v_th": Param("voltage", "-50 mV", "spike threshold"),
    "v_reset": Param("voltage", "-65 mV", "reset potential"),
    "t_ref": Param("time", "2 ms", "absolute refractory period"),
    "I_bias": Param("current", "0 nA", "constant bias current"),
}

NEURON_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            "lif",
            "neuron",
            "Current-based leaky integrate-and-fire; maps natively to Loihi's CUBA LIF.",
            "C_m dv/dt = g_L (E_L − v) + I_syn + I_gap + I_ext + I_bias;  v > v_th → v = v_reset, refractory t_ref",
            "Lapicque 1907; Gerstner & Kistler 2002, Spiking Neuron Models, ch. 4",
            dict(_MEMBRANE),
        ),
        ModelInfo(
            "adaptive_lif",
            "neuron",
            "LIF with spike-frequency adaptation: a spike-triggered adaptation current w.",
            "C_m dv/dt = g_L (E_L − v) − w + I;  τ_w dw/dt = −w;  on spike: v = v_reset, w += b",
            "Brette & Gerstner 2005, J. Neurophysiol. 94:3637 (AdEx without the exponential term)",
            {
                **_MEMBRANE,
                "tau_w": Param("time", "100 ms", "adaptation time constant"),
                "b": Param("current", "0.05 nA", "adaptation increment per spike"),
            },
        ),
        ModelInfo(
            "conductance_lif",
            "neuron",
            "Conductance-based LIF ('liquid'): τ_eff = C_m/(g_L + Σg_syn(t)) shortens with input.",
            "C_m dv/dt = g_L (E_L − v) + g_e (E_e − v) + g_i (E_i − v) + Σ_graded + I_gap + I_ext + I_bias",
            "Destexhe, Rudolph & Paré 2003, Nat. Rev. Neurosci. 4:739; Hasani et al. 2021 AAAI (LTC)",
            {
                **_MEMBRANE,
                "E_e": Param("voltage", "0 mV", "excitatory reversal potential (Hasani et al. 2020)"),
                "E_i": Param("voltage", "-90 mV", "inhibitory reversal potential (Hasani et al. 2020)"),
            },
            conductance_based=True,
        ),
    )
}

SYNAPSE_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            "exp_current",
            "synapse",
            "Exponential current synapse: each presynaptic spike adds w (amperes, signed) to I_syn.",
            "τ dI_syn/dt = −I_syn;  on pre spike: I_syn += w",
            "Gerstner & Kistler 2002, §3.1",
            {
                "tau": Param("time", "5 ms", "decay time constant"),
                "delay": Param("time", "0 ms", "axonal delay"),
            },
        ),
        ModelInfo(
            "exp_conductance",
            "synapse",
            "Exponential conductance synapse: a spike adds |w| siemens to g_e (w>0) or g_i (w<0).",
            "τ dg/dt = −g;  on pre spike: g += |w|;  I = g (E_rev − v)",
            "Destexhe, Mainen & Sejnowski 1994, J. Comput. Neurosci. 1:195",
            {
                "tau": Param("time", "5 ms", "decay time constant"),
                "delay": Param("time", "0 ms", "axonal delay"),
            },
            conductance_based=True,
        ),
        ModelInfo(
            "graded_sigmoid",
            "synapse",
            "Graded (non-spiking) sigmoid conductance synapse of the LTC/NCP papers.",
            "I = |w| σ(s (v_pre − μ)) (E_rev − v_post);  E_rev = E_e if w>0 else E_i",
            "Hasani et al. 2020 ICML / 2021 AAAI; Lechner et al. 2020 Nat. Mach. Intell. 2:642",
            {
                "mu": Param("voltage", "-40 mV", "sigmoid midpoint (Hasani et al. 2020)"),
                "sigma": Param("dimensionless", 0.5, "sigmoid steepness s, per mV"),
            },
            conductance_based=True,
        ),
        ModelInfo(
            "gap_junction",
            "synapse",
            "Electrical synapse, symmetric: current g (v_pre − v_post) flows both ways.",
            "I_gap,post = Σ g (v_pre − v_post), each junction added in both directions",
            "Bennett & Zukin 2004, Neuron 41:495; Wicks et al. 1996 J. Neurosci. 16:4017",
            {},
            conductance_based=True,
        ),
    )
}

PLASTICITY_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            "stp",
            "plasticity",
            "Short-term depression/facilitation (Tsodyks–Markram): efficacy u·x scales each spike.",
            "dx/dt = (1 − x)/τ_d;  du/dt = (U − u)/τ_f;  on pre: r = u x, deliver w·r, x −= r, u += U(1 − u);  "
            "periodic spikes (τ_f → 0): r* = U (1 − e^(−T/τ_d)) / (1 − (1 − U) e^(−T/τ_d))",
            "Tsodyks & Markram 1997, PNAS 94:719; Tsodyks, Pawelzik & Markram 1998, Neural Comput. 10:821",
            {
                "U": Param("dimensionless", 0.5, "utilisation increment"),
                "tau_d": Param("time", "200 ms", "recovery from depression"),
                "tau_f": Param("time", "1 ms", "facilitation decay (≈0: pure depression)"),
            },
            beyond_liquid_papers=True,
        ),
        ModelInfo(
            "stdp",
            "plasticity",
            "Pair-based STDP with exponential traces (all-to-all pairing), weights clipped to [0, w_max].",
            "Δw = A_plus e^(−Δt/τ_plus) for pre→post (Δt>0);  Δw = A_minus e^(Δt/τ_minus) for post→pre",
            "Bi & Poo 1998, J. Neurosci. 18:10464; Song, Miller & Abbott 2000, Nat. Neurosci. 3:919",
            {
                "A_plus": Param("dimensionless", 0.01, "potentiation amplitude, fraction of w_max"),
                "A_minus": Param("dimensionless", -0.0105, "depression amplitude, fraction of w_max"),
                "tau_plus": Param("time", "20 ms", "potentiation window"),
                "tau_minus": Param("time", "20 ms", "depression window"),
                "w_max_scale": Param("dimensionless", 2.0, "w_max = w_max_scale × |initial weight|"),
            },
            beyond_liquid_papers=True,
        ),
        ModelInfo(
            "reward_stdp",
            "plasticity",
            "Three-factor STDP: pairings build an eligibility trace c; weights change by η·c·D, D a reward signal.",
            "τ_c dc/dt = −c (+STDP pairings);  dw/dt = η c D;  τ_D dD/dt = −D, D += 1 per modulator spike/reward",
            "Izhikevich 2007, Cereb. Cortex 17:2443; Frémaux & Gerstner 2016, Front. Neural Circuits 9:85",
            {
                "A_plus": Param("dimensionless", 0.01),
                "A_minus": Param("dimensionless", -0.0105),
                "tau_plus": Param("time", "20 ms"),
                "tau_minus": Param("time", "20 ms"),
                "tau_c": Param("time", "1 s", "eligibility trace decay"),
                "tau_D": Param("time", "200 ms", "neuromodulator (dopamine) decay"),
                "eta": Param("frequency", "10 Hz", "learning rate"),
                "w_max_scale": Param("dimensionless", 2.0),
            },
            beyond_liquid_papers=True,
        ),
        ModelInfo(
            "homeostatic_scaling",
            "plasticity",
            "Multiplicative synaptic scaling of a neuron's inputs towards a target firing rate.",
            "τ_r dr/dt = −r, r += 1/τ_r per post spike;  dw/dt = η w (r_target − r)/r_target",
            "Turrigiano et al. 1998, Nature 391:892; van Rossum, Bi & Turrigiano 2000, J. Neurosci. 20:8812",
            {
                "target_rate": Param("frequency", "10 Hz"),
                "tau_r": Param("time", "1 s", "rate-estimate time constant"),
                "eta": Param("frequency", "0.5 Hz", "scaling rate"),
                "w_max_scale": Param("dimensionless", 20.0),
            },
            beyond_liquid_papers=True,
        ),
        ModelInfo(
            "structural",
            "plasticity",
            "Structural plasticity: every `interval`, synapses weaker than `w_floor` are pruned and random "
            "candidate slots regrow with `w_new`, keeping the active count ≤ `max_synapses`.",
            "every interval: prune |w| < w_floor·|w0|; regrow up to regrow_fraction of pruned, ≤ max_synapses",
            "Butz, Wörgötter & van Ooyen 2009, Brain Res. Rev. 60:287; Knoblauch et al. 2014, Front. Neuroanat.",
            {
                "interval": Param("time", "100 ms", "how often pruning/regrowth runs"),
                "w_floor": Param("dimensionless", 0.2, "prune below this fraction of the initial |w|"),
                "w_new": Param("dimensionless", 0.5, "regrown weight, fraction of the mean initial |w|"),
                "regrow_fraction": Param("dimensionless", 1.0, "candidates regrown per pruned synapse"),
                "max_synapses": Param("dimensionless", 0, "cap on active synapses (0 = initial count)"),
                "decay": Param(
                    "frequency", "1 Hz", "passive weight decay rate driving pruning of unused synapses"
                ),
            },
            beyond_liquid_papers=True,
        ),
    )
}

REGISTRIES: dict[str, dict[str, ModelInfo]] = {
    "neuron": NEURON_MODELS,
    "synapse": SYNAPSE_MODELS,
    "plasticity": PLASTICITY_MODELS,
}


def registry_table() -> list[dict[str, str]]:
    """Rows for the README/CLI model table: kind, name, summary, citation, beyond-liquid flag."""
    return [
        {
            "kind": m.kind,
            "name": m.name,
            "summary": m.summary,
            "equations": m.equations,
            "citation": m.citation,
            "beyond_liquid_papers": "yes" if m.beyond_liquid_papers else "",
        }
        for registry in REGISTRIES.values()
        for m in registry.values()
    ]
