"""The compiler's feature table: how each spec/IR feature lowers to Loihi (Lava 0.10 fixed point).

One row per feature: every neuron, synapse and plasticity model of the registry (`wormchip.models`), every
input kind and every parameter situation the lowering treats specially. `lower.py` consults it (an
`unsupported` feature raises `UnsupportedFeature`; an `approximation` is recorded with its measured cost) and
the README's "Compiler: feature lowering" table is rendered from it (tests/mappers/test_features.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Lowering(str, Enum):
    """How a feature reaches Loihi."""

    NATIVE = "native"  # Loihi's CUBA LIF / Dense registers represent it (up to quantization)
    APPROXIMATION = "approximation"  # changed on the way; documented, cost measured per network
    LAVA_PROCESS = "lava_process"  # one of Lava's own processes
    CUSTOM_PROCESS = "custom_process"  # a wormchip Lava ProcessModel (and the emulator's equivalent)
    UNSUPPORTED = "unsupported"  # `lower` raises UnsupportedFeature naming every element using it


@dataclass(frozen=True)
class Feature:
    """One row: `key` (e.g. "synapse:gap_junction"), its category, lowering and a one-line note."""

    key: str
    category: str
    lowering: Lowering
    note: str


_ROWS = (
    # Neuron models.
    (
        "neuron:lif",
        "neuron model",
        Lowering.NATIVE,
        "CUBA LIF compartment; v measured from E_L (Loihi rests at 0)",
    ),
    (
        "neuron:adaptive_lif",
        "neuron model",
        Lowering.CUSTOM_PROCESS,
        "GapLIF's second current register w (decay τ_w as a 24-bit fraction, + b after each spike, int32 with "
        "fractional bits) is subtracted from v: Brian2's exponential-Euler step, up to quantization",
    ),
    (
        "neuron:conductance_lif",
        "neuron model",
        Lowering.CUSTOM_PROCESS,
        "GapLIF's conductance register g (exp_conductance synapses) subtracts g·(v − v_op) from v each step: "
        "τ_eff shortens with input as in Brian2",
    ),
    (
        "neuron:conductance_lif_linearised",
        "neuron model",
        Lowering.APPROXIMATION,
        "a conductance_lif neuron with linearised conductance or graded input: that input leaves τ_eff unchanged",
    ),
    # Synapse models.
    ("synapse:exp_current", "synapse model", Lowering.NATIVE, "Dense weights into u; τ sets du"),
    (
        "synapse:exp_conductance",
        "synapse model",
        Lowering.CUSTOM_PROCESS,
        "static, undelayed: a Dense into u carries g_syn·(E_rev − v_op), a second Dense into GapLIF's g register "
        "carries g_syn; v gets −g·(v − v_op): the driving force E_rev − v, up to quantization",
    ),
    (
        "synapse:exp_conductance_linearised",
        "synapse model",
        Lowering.APPROXIMATION,
        "spike inputs, delayed or plastic synapses (or `lower(conductance='linearised')`): g_syn·(E_rev − v_op), "
        "v_op = E_L + ½(v_th − E_L); cost: max driving-force error on [E_L, v_th]",
    ),
    (
        "synapse:graded_sigmoid",
        "synapse model",
        Lowering.APPROXIMATION,
        "GapLIF sends a 12-bit hard sigmoid clip(½ + s(v − μ)/4, 0, 1) of v every step (graded spike); a "
        "graded Dense holds g_syn·(E_rev − v_op) into v next step; cost: max sigmoid and driving-force errors",
    ),
    (
        "synapse:graded_mixed_sigmoid",
        "synapse model",
        Lowering.UNSUPPORTED,
        "one neuron sending graded synapses with different μ or s (GapLIF sends one activation per neuron)",
    ),
    (
        "synapse:gap_junction",
        "synapse model",
        Lowering.CUSTOM_PROCESS,
        "GapLIF sends v as a graded spike; graded Dense holds g_ij and −Σg on the diagonal; adds to v next step",
    ),
    # Plasticity.
    (
        "plasticity:stp",
        "plasticity",
        Lowering.UNSUPPORTED,
        "no per-synapse efficacy state in fixed-point Dense",
    ),
    (
        "plasticity:stdp",
        "plasticity",
        Lowering.APPROXIMATION,
        "Lava LearningDense (fixed_pt, bit-approximate model; one per core pair when split), one per sign, 8-bit weights "
        "with stochastic rounding, w_max ↔ 255; cost: w_max spread in a block (one clip) and τ rounding",
    ),
    (
        "plasticity:stdp_delay_or_synapse",
        "plasticity",
        Lowering.UNSUPPORTED,
        "STDP on a delayed projection or on a gap/graded synapse (LearningDense has no delay)",
    ),
    (
        "plasticity:reward_stdp",
        "plasticity",
        Lowering.APPROXIMATION,
        "Lava LearningDense + Loihi3FLearningRule (fixed_pt, bit-approximate model), one per sign and rule, with a "
        "trace process sending the post trace and D (reward pulses, modulator spikes: one core); eligibility in "
        "tag_1; cost: w_max spread, τ₊ rounding",
    ),
    (
        "plasticity:reward_stdp_combined",
        "plasticity",
        Lowering.UNSUPPORTED,
        "reward_stdp beside another learning rule on one projection (one LearningDense holds one rule)",
    ),
    ("plasticity:homeostatic_scaling", "plasticity", Lowering.UNSUPPORTED, "not lowered"),
    (
        "plasticity:structural",
        "plasticity",
        Lowering.UNSUPPORTED,
        "edits connectivity at run time; not lowered",
    ),
    # Inputs.
    (
        "input:spikes",
        "input",
        Lowering.LAVA_PROCESS,
        "RingBuffer source + Dense; k spikes of one source in one step become k raster columns (exact)",
    ),
    (
        "input:current_piecewise_constant",
        "input",
        Lowering.NATIVE,
        "step/pulse/touch currents: bias schedule (Lava runs in segments and sets bias between them)",
    ),
    (
        "input:current_varying",
        "input",
        Lowering.APPROXIMATION,
        "more changes than max_bias_changes: averaged over hold windows; cost: RMS error / RMS current",
    ),
    # Parameters and structure.
    ("param:I_bias", "parameter", Lowering.NATIVE, "bias mantissa/exponent"),
    ("param:no_leak", "parameter", Lowering.NATIVE, "g_L = 0: dv = 0 (Loihi's v does not leak at dv = 0)"),
    (
        "param:tau_m",
        "parameter",
        Lowering.CUSTOM_PROCESS,
        "12-bit dv is 2 % off at dt 0.1 ms, τ 20 ms: dv rounds down, the residual goes on GapLIF's graded "
        "self-connection (resolved to 2^-20); gap neurons' decay includes G as in Brian2's exponential Euler",
    ),
    (
        "param:t_ref",
        "parameter",
        Lowering.CUSTOM_PROCESS,
        "GapLIF's refractory delay (Loihi 1 refractDelay, ≤ 63 steps): v held at v_reset for "
        "timestep(t_ref) − 1 steps, Brian2's rule; Lava's LIF has none",
    ),
    (
        "param:v_reset",
        "parameter",
        Lowering.CUSTOM_PROCESS,
        "GapLIF resets v to v_reset − E_L (Lava's LIF resets to 0 = E_L)",
    ),
    (
        "param:mixed_tau",
        "parameter",
        Lowering.APPROXIMATION,
        "synapses with different τ onto one neuron: one du (the τ carrying most charge), weights rescaled "
        "to keep each PSC's charge; cost: relative L2 error of the PSC kernel",
    ),
    (
        "param:delay",
        "parameter",
        Lowering.NATIVE,
        "Lava DelayDense (Loihi 2's 6-bit delay): round(delay/dt) steps as Brian2; delayed spike inputs are "
        "shifted in the input raster",
    ),
    (
        "param:long_delay",
        "parameter",
        Lowering.UNSUPPORTED,
        "recurrent delays over 63 steps exceed the 6-bit delay field (no relay chain is built)",
    ),
    (
        "param:threshold_at_rest",
        "parameter",
        Lowering.UNSUPPORTED,
        "v_th ≤ E_L: Loihi spikes when v > vth ≥ 0 with v resting at 0",
    ),
)

FEATURES: dict[str, Feature] = {key: Feature(key, cat, low, note) for key, cat, low, note in _ROWS}


def feature(key: str) -> Feature:
    """The table row for `key`."""
    return FEATURES[key]


def feature_table_markdown() -> str:
    """The feature table as markdown (what README.md's "Compiler: feature lowering" section shows)."""
    lines = ["| feature | category | lowering | note |", "|---|---|---|---|"]
    for f in FEATURES.values():
        lines.append(f"| `{f.key}` | {f.category} | {f.lowering.value} | {f.note} |")
    return "\n".join(lines)
