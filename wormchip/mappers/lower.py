"""Compiler pass "lower": IR `Network` (SI floats) → `LoweredNetwork`, a float network of Loihi CUBA LIF compartments.

Loihi's neuron (Lava 0.10 fixed point; Davies et al. 2018, IEEE Micro 38(1)) is, per step,
`u ← u·(1 − d_u) + Σ w·s`, `v ← v·(1 − d_v) + u + b`, spike when `v > v_th`, then `v ← 0`; our `GapLIF`
process resets to `v_reset` instead and adds Loihi's refractory delay. v rests at 0, so every voltage here is
measured from the neuron's E_L. Currents become voltage increments per step:
a current I held over a step moves v by `I·κ` with `κ = (1 − e^(−dt/τ_m))/g_L` (`dt/C_m` when g_L = 0), the
exponential-Euler step Brian2 takes (`wormchip/backends/brian2_backend.py`). So u, the bias and every weight are
in volts per step ("the hardware's current per spike"), and the threshold is in volts above rest.

What cannot be represented this way is handled as the feature table (`features.py`) says: approximations are
applied and recorded with their measured cost in `LoweredNetwork.approximations`; unsupported features raise
one `UnsupportedFeature` naming every offending projection, neuron or input.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from wormchip import ir

try:  # numba is a dependency; without it the calibration's float run uses the NumPy loop (same floats)
    from wormchip.mappers import calibration_run
except ImportError:  # pragma: no cover - exercised only where numba is missing
    calibration_run = None
from wormchip.errors import UnsupportedFeature
from wormchip.mappers.features import FEATURES, Lowering
from wormchip.mappers.fixed_point import DELAY_MAX

MAX_BIAS_CHANGES = 2000  # current stimuli with more changes are averaged over hold windows
PLASTIC_RULES = ("stdp", "reward_stdp")  # learning rules lowered to LearningDense
OPERATING_POINT = 0.5  # conductance synapses linearised at v_op = E_L + OPERATING_POINT·(v_th − E_L)
CONDUCTANCE_MODES = ("exact", "linearised")  # `lower(conductance=…)`


@dataclass(frozen=True)
class Approximation:
    """One approximation applied: feature key, the elements it affected, what was done, measured cost."""

    feature: str
    elements: tuple[str, ...]
    note: str
    cost: dict[str, float]


@dataclass(frozen=True, eq=False)
class PlasticProjection:
    """The synapses of one `stdp` or `reward_stdp` projection, lowered (docs/compiler.md, "STDP through
    LearningDense" and "Three-factor STDP through LearningDense").

    Synapse k is `pre[k] → post[k]` with magnitude `w0[k]` ≥ 0 and sign `sign[k]` (±1) in V per step (like
    `LoweredNetwork.weights`, added to u per spike), and its bound `w_max[k]` in the same units (Brian2's
    `w_max_scale·|w|`, scaled with the weight). The rule (Brian2 semantics, wormchip/backends/brian2_equations.py):
    pre spike: `apre += A_plus; w ← clip(w + apost·w_max, 0, w_max)`; post spike: `apost += A_minus;
    w ← clip(w + apre·w_max, 0, w_max)`; traces decay with `tau_plus`/`tau_minus` (s); pre before post.
    `rule` "reward_stdp" (Izhikevich 2007; Frémaux & Gerstner 2016): the pairings feed an eligibility c
    (`tau_c`) instead, `dw/dt = eta·c·D·w_max`, D per post neuron decays with `tau_D` and rises by
    `reward_amounts[j]` at step `reward_steps[j]` (the rule `rule_name`'s pulses, binned as Brian2's generator)
    and by 1 per spike of the neuromodulator neurons `modulators` (indices).
    """

    name: str
    pre: np.ndarray
    post: np.ndarray
    w0: np.ndarray
    sign: np.ndarray
    w_max: np.ndarray
    A_plus: float
    A_minus: float
    tau_plus: float
    tau_minus: float
    rule: str = "stdp"
    rule_name: str = ""
    tau_c: float = 0.0
    tau_D: float = 0.0
    eta: float = 0.0
    reward_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reward_amounts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    modulators: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def signed_weights(self, n: int) -> sp.csr_matrix:
        """The initial weights as a post × pre matrix (V per step), parallel synapses summed."""
        out = sp.csr_matrix((self.sign * self.w0, (self.post, self.pre)), shape=(n, n))
        out.eliminate_zeros()
        return out


@dataclass(frozen=True, eq=False)
class LoweredNetwork:
    """A float network of CUBA LIF compartments in hardware-level units (volts from rest, volts per step).

    Neuron i: `decay_u[i]`, `decay_v[i]` (fractions per step, `1 − e^(−dt/τ)`; decay_u = 1 for neurons without
    synaptic input; for a neuron with gap junctions decay_v is the leak's share of the step's decay
    `1 − e^(−(g_L + G)dt/C)`, the gap matrix's row sum the rest, as in Brian2's exponential Euler), threshold `v_th[i]` (V above rest), `bias[i]` (V per step, from step 0). `weights` (post ×
    pre) and `input_weights` (neurons × input columns) add to u per spike, in V per step. `input_spikes` is a
    bool raster (steps × input columns). `bias_schedule`: (step, bias array) changes, steps increasing ≥ 1.
    `gap` (n × n, zero diagonal): dimensionless coupling per step, v_i += Σ_j gap[i, j]·(v_j − v_i).
    `graded` (n × n, post × pre): V per step into v at full activation, v_i += Σ_j graded[i, j]·h_j with
    h_j = `hard_sigmoid`(graded_slope[j]·(v_j − graded_mu[j])) from the previous step's v (mu in V from rest,
    slope per V), as gap junctions.
    `refractory[i]`: refractory delay in steps (after a spike at step k, v is held at `v_reset[i]`, V from
    rest, until step k + refractory − 1; Brian2's `timestep(t_ref, dt)`). `None` means 0 (none, reset to rest).
    `delayed_weights`: recurrent synapses with an axonal delay, as (delay in steps ≥ 1, post × pre matrix in V
    per step): a spike at step k reaches u at step k + 1 + delay. `weights` holds the undelayed ones. Delayed
    external spikes are shifted in `input_spikes` instead (exact).
    Adaptation (adaptive_lif): a second current w per neuron, `w ← w·(1 − decay_w[i]) + adapt_b[i]·s` with s the
    spike of the previous step (`decay_w = 1 − e^(−dt/τ_w)`, `adapt_b = b·κ` in V per step), entering v as
    `v ← … + u − w + …` (like u, it uses step k − 1's spike at step k). `None` means 0 (no adaptation).
    Conductance synapses (exact, `GapLIF`'s register g): `conductance` (post × pre, dimensionless per step per
    spike, κ·|w| rescaled like the weights) feeds `g ← g·(1 − decay_u) + Σ conductance·s`, and v gets
    `−g·(v − v_op[i])` (v of the previous step, `v_op` in V from rest). The same synapses' `weights` carry
    |w|·(E_rev − v_op)·κ, so together they deliver Σ|w|·(E_rev − v). `None` means none.
    """

    names: tuple[str, ...]
    dt: float
    steps: int
    tau_u: np.ndarray
    tau_v: np.ndarray
    decay_u: np.ndarray
    decay_v: np.ndarray
    v_th: np.ndarray
    bias: np.ndarray
    e_l: np.ndarray
    weights: sp.csr_matrix
    input_spikes: np.ndarray
    input_weights: sp.csr_matrix
    input_names: tuple[str, ...] = ()
    bias_schedule: tuple[tuple[int, np.ndarray], ...] = ()
    gap: sp.csr_matrix = field(default_factory=lambda: sp.csr_matrix((0, 0)))
    approximations: tuple[Approximation, ...] = ()
    metadata: dict = field(default_factory=dict)
    refractory: np.ndarray | None = None
    v_reset: np.ndarray | None = None
    delayed_weights: tuple[tuple[int, sp.csr_matrix], ...] = ()
    decay_w: np.ndarray | None = None
    adapt_b: np.ndarray | None = None
    graded: sp.csr_matrix | None = None
    graded_mu: np.ndarray | None = None
    graded_slope: np.ndarray | None = None
    plastic: tuple[PlasticProjection, ...] = ()
    conductance: sp.csr_matrix | None = None
    v_op: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.names)
        if self.conductance is None:
            object.__setattr__(self, "conductance", sp.csr_matrix((n, n)))
        if self.v_op is None:
            object.__setattr__(self, "v_op", np.zeros(n))
        if self.graded is None:
            object.__setattr__(self, "graded", sp.csr_matrix((n, n)))
        for name in ("graded_mu", "graded_slope"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(n))
        if self.refractory is None:
            object.__setattr__(self, "refractory", np.zeros(n, dtype=np.int64))
        if self.v_reset is None:
            object.__setattr__(self, "v_reset", np.zeros(n))
        for name in ("decay_w", "adapt_b"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(n))

    @property
    def n_neurons(self) -> int:
        return len(self.names)

    def weights_by_delay(self) -> tuple[tuple[int, sp.csr_matrix], ...]:
        """Every recurrent weight matrix with its delay in steps: (0, `weights`) first, then the delayed ones."""
        return ((0, self.weights), *self.delayed_weights)

    @property
    def all_weights(self) -> sp.csr_matrix:
        """All recurrent synapses, whatever their delay, summed into one post × pre matrix."""
        total = self.weights
        for _, w in self.delayed_weights:
            total = total + w
        return total.tocsr()

    def plastic_weights(self) -> sp.csr_matrix:
        """The plastic synapses' initial weights (post × pre, V per step), summed over `plastic`."""
        total = sp.csr_matrix((self.n_neurons, self.n_neurons))
        for proj in self.plastic:
            total = total + proj.signed_weights(self.n_neurons)
        return total.tocsr()

    def fingerprint(self) -> str:
        """A hash of every array the float dynamics (`simulate_lowered`) read, and the step count: networks
        with equal fingerprints have equal float runs, so a calibration can be cached per network. SHA-256: with
        the CPU's SHA instructions 2.7× faster than BLAKE2b here (1.63 vs 0.61 GB/s; 60 MB at 100k neurons)."""
        digest = hashlib.sha256()
        arrays = [
            np.array([self.steps]),
            self.decay_u,
            self.decay_v,
            self.v_th,
            self.bias,
            self.refractory,
            self.v_reset,
            self.decay_w,
            self.adapt_b,
            self.graded_mu,
            self.graded_slope,
            self.v_op,
            self.input_spikes,
            np.array([d for d, _ in self.delayed_weights]),
        ]
        for step, bias in self.bias_schedule:
            arrays += [np.array([step]), bias]
        matrices = [
            self.weights,
            self.input_weights,
            self.gap,
            self.graded,
            self.conductance,
            *(w for _, w in self.delayed_weights),
        ]
        if self.plastic:
            matrices.append(self.plastic_weights())
        for m in matrices:
            m = m.tocsr()
            arrays += [np.array(m.shape), m.indptr, m.indices, m.data]
        for a in arrays:
            a = np.ascontiguousarray(a)
            digest.update(f"{a.dtype.str}{a.shape}".encode())
            digest.update(a.data)
        return digest.hexdigest()

    def approximation_table(self) -> str:
        """Markdown list of the approximations applied, with their costs (for reports)."""
        if not self.approximations:
            return "no approximations"
        rows = ["| feature | elements | cost | note |", "|---|---|---|---|"]
        for a in self.approximations:
            shown = ", ".join(a.elements[:6]) + (f" … ({len(a.elements)})" if len(a.elements) > 6 else "")
            cost = ", ".join(f"{k} {v:.3g}" for k, v in a.cost.items())
            rows.append(f"| `{a.feature}` | {shown} | {cost} | {a.note} |")
        return "\n".join(rows)


def _decay(dt: float, tau: np.ndarray) -> np.ndarray:
    """1 − e^(−dt/τ) per step; τ = ∞ gives 0 (no decay), τ = 0 gives 1 (no state)."""
    with np.errstate(divide="ignore"):
        return np.where(tau > 0, -np.expm1(-dt / np.where(tau > 0, tau, 1.0)), 1.0)


def _psc_shape_error(tau_s: float, tau_u: float) -> float:
    """Relative L2 error of the kernel (τ_s/τ_u)·e^(−t/τ_u) against e^(−t/τ_s) (equal charge)."""
    a = tau_s / tau_u
    err2 = a * a * tau_u / 2 + tau_s / 2 - 2 * a * tau_s * tau_u / (tau_s + tau_u)
    return math.sqrt(max(err2, 0.0) / (tau_s / 2))


class _Lowering:
    """Collects offenders and approximations while lowering one network."""

    def __init__(self, network: ir.Network) -> None:
        self.net = network
        self.offenders: list[tuple[str, str]] = []
        self.approximations: list[Approximation] = []

    def unsupported(self, key: str, element: str) -> None:
        assert FEATURES[key].lowering is Lowering.UNSUPPORTED, key
        self.offenders.append((key, element))

    def approximate(self, key: str, elements: list[str], note: str, cost: dict[str, float]) -> None:
        assert FEATURES[key].lowering is Lowering.APPROXIMATION, key
        if elements:
            self.approximations.append(Approximation(key, tuple(elements), note, cost))


def lower(
    network: ir.Network,
    *,
    max_bias_changes: int = MAX_BIAS_CHANGES,
    operating_point: float = OPERATING_POINT,
    mixed_tau: str = "approximate",
    conductance: str = "exact",
) -> LoweredNetwork:
    """Lower `network` to CUBA LIF compartments in volts (see the module docstring).

    `mixed_tau="error"` makes synapses with different time constants onto one neuron unsupported instead of
    approximated. `conductance="exact"` puts static undelayed exp_conductance synapses on `GapLIF`'s
    conductance register (the driving force E_rev − v as Brian2 has it); "linearised" lowers every one as the
    current |w|·(E_rev − v_op) (plain CUBA, one Dense fewer; spike inputs, delayed and plastic conductance
    synapses are always linearised). Raises `UnsupportedFeature` listing every unsupported element at once.
    """
    if mixed_tau not in ("approximate", "error"):
        raise ValueError(f"mixed_tau = {mixed_tau!r}; choose 'approximate' or 'error'")
    if conductance not in CONDUCTANCE_MODES:
        raise ValueError(f"conductance = {conductance!r}; choose one of {list(CONDUCTANCE_MODES)}")
    lw = _Lowering(network)
    n, dt = network.size, network.dt
    steps = int(round(network.duration / dt))
    nrn = _neurons(network, lw)
    syn = _Synapses(network, lw, nrn, operating_point, exact=conductance == "exact")
    for proj in network.projections:
        syn.add_projection(proj)
    inputs = _spike_inputs(network, steps, syn)
    _approximate_synapses(network, lw, syn, nrn, operating_point)
    _approximate_conductance_neurons(network, lw, syn)
    tau_u = _synaptic_tau(network, lw, syn, inputs, mixed_tau)
    _raise_unsupported(network, lw)

    kappa, decay_v, i_el, gap = _gap_coupling(syn, nrn, n, dt)
    weights, delayed_weights, plastic = _recurrent_weights(syn, tau_u, kappa, n)
    bias0, schedule = _bias(network, lw, nrn, i_el, kappa, steps, max_bias_changes)
    return LoweredNetwork(
        names=tuple(network.names),
        dt=dt,
        steps=steps,
        tau_u=tau_u,
        tau_v=nrn.tau_v,
        decay_u=_decay(dt, tau_u),
        decay_v=decay_v,
        v_th=nrn.v_th,
        bias=bias0,
        e_l=nrn.p["E_L"].copy(),
        weights=weights,
        input_spikes=np.stack(inputs.columns, axis=1) if inputs.columns else np.zeros((steps, 0), dtype=bool),
        input_weights=_input_weights(inputs, tau_u, kappa, n),
        input_names=tuple(inputs.names),
        bias_schedule=tuple(schedule),
        gap=gap,
        graded=_graded_matrix(syn, kappa, n),
        graded_mu=syn.graded_mu,
        graded_slope=syn.graded_slope,
        approximations=tuple(lw.approximations),
        refractory=nrn.refractory,
        v_reset=nrn.v_reset,
        delayed_weights=delayed_weights,
        # Brian2's exponential Euler holds w over a step, like I: w enters v through the same κ as any current.
        decay_w=np.where(nrn.b_w != 0, _decay(dt, nrn.tau_w), 0.0),
        adapt_b=nrn.b_w * kappa,
        plastic=plastic,
        conductance=_conductance_matrix(syn, tau_u, kappa, n),
        v_op=syn.v_op,
        metadata={
            "network": network.name,
            "kappa_v_per_a": kappa,
            "approximations": [
                {"feature": a.feature, "elements": list(a.elements), "note": a.note, "cost": a.cost}
                for a in lw.approximations
            ],
        },
    )


@dataclass
class _Neurons:
    """Per-neuron parameters gathered from the blocks (SI), and what lowering derives from them directly."""

    p: dict[str, np.ndarray]  # C_m, g_L, E_L, v_th, v_reset, t_ref, I_bias
    e_rev: dict[str, np.ndarray]  # E_e, E_i (conductance and graded synapses' reversal potentials)
    tau_w: np.ndarray  # adaptation τ_w (s), ∞ without adaptation
    b_w: np.ndarray  # adaptation increment b (A) per spike
    tau_v: np.ndarray  # C_m / g_L (s)
    v_th: np.ndarray  # V above rest
    refractory: np.ndarray  # steps
    v_reset: np.ndarray  # V from rest


def _neurons(network: ir.Network, lw: _Lowering) -> _Neurons:
    """Gather the blocks' parameters per neuron; record thresholds at or below rest (unsupported)."""
    names, n, dt = network.names, network.size, network.dt
    p = {k: np.zeros(n) for k in ("C_m", "g_L", "E_L", "v_th", "v_reset", "t_ref", "I_bias")}
    e_rev = {"E_e": np.zeros(n), "E_i": np.full(n, -0.09)}
    tau_w, b_w = np.full(n, np.inf), np.zeros(n)
    for block in network.blocks:
        for key in p:
            p[key][block.indices] = block.params[key]
        for key in e_rev:
            if key in block.params:
                e_rev[key][block.indices] = block.params[key]
        if block.model == "adaptive_lif":  # GapLIF's w register (custom process), exact up to quantization
            tau_w[block.indices] = block.params["tau_w"]
            b_w[block.indices] = block.params["b"]
    tau_v = np.where(p["g_L"] > 0, p["C_m"] / np.where(p["g_L"] > 0, p["g_L"], 1.0), np.inf)
    v_th = p["v_th"] - p["E_L"]
    for i in np.flatnonzero(v_th <= 0):
        lw.unsupported("param:threshold_at_rest", f"neuron {names[i]} (v_th − E_L = {v_th[i] * 1e3:g} mV)")
    # Refractory period and reset: `GapLIF` (custom process) reproduces Brian2's rule exactly. Brian2 lets a
    # neuron that spiked at step k integrate again at step k + R, R = timestep(t_ref, dt) (`neurongroup.py`:
    # `not_refractory = timestep(t - lastspike, dt) >= timestep(t_ref, dt)`), which is Loihi's refractory delay.
    refractory = ((p["t_ref"] + 1e-3 * dt) / dt).astype(np.int64)
    return _Neurons(p, e_rev, tau_w, b_w, tau_v, v_th, refractory, p["v_reset"] - p["E_L"])


class _Synapses:
    """A network's projections sorted by kind, in amperes: spiking edges (pre, post, A per spike, τ, label,
    delay in steps), gap junctions (pre, post, S), graded synapses (pre, post, A at full activation) with their
    presynaptic sigmoids, the stdp rules; and what the linearisations cost."""

    def __init__(
        self, network: ir.Network, lw: _Lowering, nrn: _Neurons, operating_point: float, exact: bool
    ) -> None:
        n = network.size
        self.names, self.dt = network.names, network.dt
        self.lw, self.nrn, self.exact = lw, nrn, exact
        self.v_op = operating_point * nrn.v_th  # V from rest
        # exact conductance synapses (GapLIF's g register): pre, post, |w| in S, τ
        self.cond_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []
        self.linearised_targets = np.zeros(n, dtype=bool)  # neurons receiving a linearised conductance
        self.edges: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, str, int]] = []
        self.gap_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.graded_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.graded_labels: list[str] = []
        self.graded_mu, self.graded_slope = np.zeros(n), np.zeros(n)
        self.graded_set = np.zeros(n, dtype=bool)
        self.linearised: list[str] = []
        self.drive_error = {"conductance": 0.0, "graded": 0.0}
        self.plastic_rules: dict[str, ir.PlasticityRule] = {}  # label → its stdp rule

    def driving_force(self, weight: np.ndarray, post: np.ndarray, kind: str | None) -> np.ndarray:
        """E_rev − v_op per synapse (E_e for w ≥ 0, else E_i). For a linearisation (`kind` "conductance" or
        "graded") the worst relative error on [E_L, v_th] is recorded; `kind` None (exact) records nothing."""
        p = self.nrn.p
        e = np.where(weight >= 0, self.nrn.e_rev["E_e"][post], self.nrn.e_rev["E_i"][post])
        v_op = p["E_L"][post] + self.v_op[post]
        force = e - v_op
        span = np.maximum(v_op - p["E_L"][post], p["v_th"][post] - v_op)
        if kind is not None and len(force):
            self.drive_error[kind] = max(
                self.drive_error[kind], float(np.max(span / np.abs(force).clip(1e-12)))
            )
        return force

    def current_weight(
        self, synapse: str, weight: np.ndarray, post: np.ndarray, label: str, exact: bool = False
    ) -> np.ndarray:
        """Amperes per spike: currents as they are; conductances times (E_rev − v_op), which is exact with
        the conductance register's −g·(v − v_op) beside it (`exact`), else a linearisation (recorded)."""
        if synapse == "exp_current":
            return weight
        if exact:
            return np.abs(weight) * self.driving_force(weight, post, None)
        self.linearised.append(label)
        self.linearised_targets[post] = True
        return np.abs(weight) * self.driving_force(weight, post, "conductance")

    def add_graded(self, proj: ir.Projection, label: str) -> None:
        """A graded sigmoid projection: amperes at full activation, and its presynaptic neurons' μ and s."""
        mu = (
            np.broadcast_to(np.asarray(proj.params["mu"], float), proj.pre.shape)
            - self.nrn.p["E_L"][proj.pre]
        )
        slope = (
            np.broadcast_to(np.asarray(proj.params["sigma"], float), proj.pre.shape) * 1e3
        )  # per mV → per V
        for k in np.unique(proj.pre):
            mine = proj.pre == k
            values = {(float(a), float(b)) for a, b in zip(mu[mine], slope[mine])}
            if self.graded_set[k]:
                values.add((float(self.graded_mu[k]), float(self.graded_slope[k])))
            if len(values) > 1:
                self.lw.unsupported("synapse:graded_mixed_sigmoid", f"{label} (neuron {self.names[k]})")
            self.graded_mu[k], self.graded_slope[k] = next(iter(values))
            self.graded_set[k] = True
        self.graded_parts.append(
            (proj.pre, proj.post, np.abs(proj.weight) * self.driving_force(proj.weight, proj.post, "graded"))
        )
        self.graded_labels.append(label)

    def add_projection(self, proj: ir.Projection) -> None:
        """File one projection under its kind; record unsupported plasticity and delays."""
        label = f"projection {proj.name}"
        learning = [r for r in proj.plasticity if r.rule in PLASTIC_RULES]
        for rule in proj.plasticity:
            if rule.rule not in PLASTIC_RULES:
                self.lw.unsupported(f"plasticity:{rule.rule}", f"{label} (rule {rule.name})")
            elif rule.rule == "reward_stdp" and len(learning) > 1:
                self.lw.unsupported(
                    "plasticity:reward_stdp_combined",
                    f"{label} (rule {rule.name}, with another learning rule)",
                )
            elif proj.synapse not in ("exp_current", "exp_conductance") or proj.params.get("delay", 0.0):
                what = (
                    f"delay {proj.params.get('delay', 0.0) * 1e3:g} ms"
                    if proj.params.get("delay")
                    else proj.synapse
                )
                self.lw.unsupported("plasticity:stdp_delay_or_synapse", f"{label} (rule {rule.name}, {what})")
            else:
                self.plastic_rules[label] = rule
        if proj.synapse == "graded_sigmoid":
            self.add_graded(proj, label)
            return
        if proj.synapse == "gap_junction":
            self.gap_parts.append((proj.pre, proj.post, np.abs(proj.weight)))
            return
        delay = _delay_steps(proj.params.get("delay", 0.0), self.dt)
        if delay > DELAY_MAX:
            self.lw.unsupported(
                "param:long_delay", f"{label} (delay {proj.params['delay'] * 1e3:g} ms = {delay} steps)"
            )
        exact = (
            self.exact and proj.synapse == "exp_conductance" and not delay and label not in self.plastic_rules
        )
        w = self.current_weight(proj.synapse, proj.weight, proj.post, label, exact)
        self.edges.append((proj.pre, proj.post, w, float(proj.params["tau"]), label, delay))
        if exact:
            self.cond_parts.append((proj.pre, proj.post, np.abs(proj.weight), float(proj.params["tau"])))


@dataclass
class _Inputs:
    """External spike inputs as raster columns (one per source and layer: k spikes in one step use k layers),
    each with its target neuron, amperes per spike, τ and name."""

    columns: list[np.ndarray] = field(default_factory=list)
    post: list[int] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    tau: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _spike_inputs(network: ir.Network, steps: int, syn: _Synapses) -> _Inputs:
    """Bin every input's spikes into steps as Brian2's generator does; delays shift the raster (exact)."""
    dt = network.dt
    out = _Inputs()
    for inp in network.spike_inputs:
        label = f"input {inp.name}"
        in_delay = _delay_steps(inp.params.get("delay", 0.0), dt)
        w = syn.current_weight(inp.synapse, inp.weight, inp.target, label)
        for k, times in enumerate(inp.spike_times):
            step_of = np.floor(np.asarray(times) / dt + 1e-3).astype(np.int64)  # Brian2's generator binning
            step_of = step_of + in_delay
            step_of = step_of[(step_of >= 0) & (step_of < steps)]
            counts = np.bincount(step_of, minlength=steps)
            for layer in range(int(counts.max()) if len(step_of) else 1):
                out.columns.append(counts > layer)
                out.post.append(int(inp.target[k]))
                out.weight.append(float(w[k]))
                out.tau.append(float(inp.params["tau"]))
                out.names.append(f"{inp.name}[{k}]" + (f"#{layer}" if layer else ""))
    return out


def _approximate_synapses(
    network: ir.Network, lw: _Lowering, syn: _Synapses, nrn: _Neurons, operating_point: float
) -> None:
    """Record the synaptic approximations with their costs: STDP through LearningDense, linearised
    conductances, graded sigmoids."""
    notes = {
        "stdp": "Lava LearningDense (fixed_pt), one per sign: 8-bit weights with stochastic rounding, one w_max per "
        "block (the clip at the largest w_max), τ in whole steps, traces saturating at 127",
        "reward_stdp": "Lava LearningDense + Loihi3FLearningRule (fixed_pt), one per sign and rule: eligibility in "
        "tag_1 decayed every 2^k steps, post trace and D from a fixed-point trace process, 8-bit weights with "
        "stochastic rounding, one w_max per block, τ₊ in whole steps",
    }
    for kind, note in notes.items():
        labels = sorted(label for label, rule in syn.plastic_rules.items() if rule.rule == kind)
        if labels:
            cost = _plastic_cost(network, syn, kind)
            lw.approximate(f"plasticity:{kind}", labels, note, cost)
    if syn.linearised:
        lw.approximate(
            "synapse:exp_conductance_linearised",
            syn.linearised,
            f"conductance × (E_rev − v_op), v_op = E_L + {operating_point:g}·(v_th − E_L)",
            {"max_driving_force_error": syn.drive_error["conductance"]},
        )
    if syn.graded_labels:
        lw.approximate(
            "synapse:graded_sigmoid",
            syn.graded_labels,
            "σ(s(v_pre − μ)) → hard sigmoid clip(½ + s(v_pre − μ)/4, 0, 1) sent as a graded message; "
            f"|w|·σ·(E_rev − v_op), v_op = E_L + {operating_point:g}·(v_th − E_L), added to v",
            {
                "max_sigmoid_error": _sigmoid_error(
                    syn.graded_mu, syn.graded_slope, syn.graded_set, nrn.p, nrn.v_th
                ),
                "max_driving_force_error": syn.drive_error["graded"],
            },
        )


def _plastic_cost(network: ir.Network, syn: _Synapses, kind: str) -> dict[str, float]:
    """The costs of lowering the `kind` projections: the spread of |w0| (one w_max per block and sign) and
    the rounding of the trace time constants held in whole steps (τ₋ too for stdp)."""
    dt = network.dt
    w_spread, tau_err = 0.0, 0.0
    keys = ("tau_plus", "tau_minus") if kind == "stdp" else ("tau_plus",)
    for proj in network.projections:
        rule = syn.plastic_rules.get(f"projection {proj.name}")
        if rule is None or rule.rule != kind or not len(proj.weight):
            continue
        mag = np.abs(proj.weight)
        for sign in (proj.weight > 0, proj.weight < 0):  # one LearningDense (one w_max) per sign
            if sign.any():
                w_spread = max(w_spread, 1.0 - float(mag[sign].min() / mag[sign].max()))
        for key in keys:
            tau = float(rule.params[key])
            tau_err = max(tau_err, abs(max(round(tau / dt), 1) * dt - tau) / tau)
    return {"w_max_spread": w_spread, "tau_rounding_error": tau_err}


def _approximate_conductance_neurons(network: ir.Network, lw: _Lowering, syn: _Synapses) -> None:
    """conductance_lif neurons whose input conductance is not all on the g register (linearised synapses or
    inputs, graded synapses): their τ_eff does not shorten with that input."""
    graded_targets = np.zeros(network.size, dtype=bool)
    for _, post, _ in syn.graded_parts:
        graded_targets[post] = True
    members = []
    for block in network.blocks:
        if block.model == "conductance_lif":
            hit = syn.linearised_targets[block.indices] | graded_targets[block.indices]
            members += [network.names[i] for i in np.asarray(block.indices)[hit]]
    lw.approximate(
        "neuron:conductance_lif_linearised",
        members,
        "τ_eff does not shorten with linearised conductance or graded input (its driving force is taken at v_op)",
        {},
    )


def _synaptic_tau(
    network: ir.Network, lw: _Lowering, syn: _Synapses, inputs: _Inputs, mixed_tau: str
) -> np.ndarray:
    """One synaptic time constant per neuron (0 without synaptic input): the τ carrying most charge Σ|w|·τ
    (ties: the longer τ). Other synapses' weights are later rescaled by τ_s/τ_u; with several τ onto one
    neuron that is an approximation (recorded), or unsupported with `mixed_tau="error"`.

    Vectorized (one bincount per distinct τ, summing in synapse order, edges before inputs), so the charges are
    the same floats a per-synapse loop adds up; neurons are reported in order of their first synapse.
    """
    n, names = network.size, network.names
    post = np.concatenate([e[1] for e in syn.edges] + [np.array(inputs.post, dtype=np.int64)]).astype(
        np.int64, copy=False
    )
    charge = np.concatenate(
        [np.abs(e[2]) * e[3] for e in syn.edges] + [np.abs(np.array(inputs.weight)) * inputs.tau]
    )
    taus = np.unique([e[3] for e in syn.edges] + inputs.tau)
    if len(taus) > 1:
        tau_of = np.concatenate([np.full(len(e[1]), e[3]) for e in syn.edges] + [np.array(inputs.tau)])
        which = np.searchsorted(taus, tau_of)
    by_tau = np.zeros((n, len(taus)))
    present = np.zeros((n, len(taus)), dtype=bool)
    for k in range(len(taus)):
        mine = which == k if len(taus) > 1 else slice(None)
        by_tau[:, k] = np.bincount(post[mine], weights=charge[mine], minlength=n)
        present[:, k] = np.bincount(post[mine], minlength=n) > 0
    tau_u = np.zeros(n)
    best = np.zeros(n, dtype=np.int64)
    if len(taus):
        top = np.where(present, by_tau, -np.inf).max(axis=1)
        ties = present & (by_tau == top[:, None])
        best = len(taus) - 1 - np.argmax(ties[:, ::-1], axis=1)  # the longest τ among the largest charges
        tau_u = np.where(present.any(axis=1), taus[best], 0.0)
    mixed = np.flatnonzero(present.sum(axis=1) > 1)
    if len(mixed):  # reported in order of each neuron's first synapse
        first = np.full(n, len(post))
        np.minimum.at(first, post, np.arange(len(post)))
        mixed = mixed[np.argsort(first[mixed], kind="stable")]
    rows, cols = np.nonzero(present[mixed])
    pairs = set(zip(cols.tolist(), best[mixed][rows].tolist()))
    shape_error = max([0.0, *(_psc_shape_error(float(taus[s]), float(taus[u])) for s, u in pairs)])
    if len(mixed) and mixed_tau == "error":
        for i in mixed:
            lw.offenders.append(("param:mixed_tau", f"neuron {names[i]}"))
    else:
        lw.approximate(
            "param:mixed_tau",
            [names[i] for i in mixed],
            "one du per neuron; other synapses' weights scaled by τ_s/τ_u (equal charge)",
            {"max_psc_shape_error": shape_error},
        )
    return tau_u


def _raise_unsupported(network: ir.Network, lw: _Lowering) -> None:
    """One `UnsupportedFeature` naming every unsupported element, if there are any."""
    if lw.offenders:
        lines = [f"{k} ({FEATURES[k].note}): {e}" for k, e in lw.offenders]
        raise UnsupportedFeature(
            f"network {network.name!r} cannot be lowered to Loihi: {len(lw.offenders)} unsupported element(s):\n  "
            + "\n  ".join(lines)
            + "\nSee the feature table (README 'Compiler: feature lowering') for what each lowering supports.",
            lw.offenders,
        )


def _gap_coupling(
    syn: _Synapses, nrn: _Neurons, n: int, dt: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, sp.csr_matrix]:
    """κ (V per A held over a step), the leak's decay share, the constant current from different E_L across
    junctions, and the gap matrix (both directions, no self-pairs; dimensionless per step)."""
    p = nrn.p
    if syn.gap_parts:
        a = np.concatenate([x[0] for x in syn.gap_parts])
        b = np.concatenate([x[1] for x in syn.gap_parts])
        g = np.concatenate([x[2] for x in syn.gap_parts])
        keep = a != b
        a, b, g = a[keep], b[keep], g[keep]
        gap_post, gap_pre, gap_g = np.r_[b, a], np.r_[a, b], np.r_[g, g]
    else:
        gap_post = gap_pre = np.zeros(0, dtype=np.int64)
        gap_g = np.zeros(0)
    # Brian2's exponential Euler treats everything linear in v as the leak: with a static total gap conductance
    # G, one step is v ← v·e^(−(g_L+G)dt/C) + κ·(g_L·E_L + Σ_j g_ij·v_j + I), κ = (1 − e^(−(g_L+G)dt/C))/(g_L+G).
    # So κ uses g_L + G, and the leak's share of the total decay is decay_v = d_tot − κ·G (the gap matrix
    # carries the rest: decay_v + Σ_j gap_ij = d_tot). Different E_L across a junction add a constant current.
    g_gap = np.bincount(gap_post, weights=gap_g, minlength=n)
    g_tot = p["g_L"] + g_gap
    d_tot = _decay(dt, np.where(g_tot > 0, p["C_m"] / np.where(g_tot > 0, g_tot, 1.0), np.inf))
    kappa = np.where(g_tot > 0, d_tot / np.where(g_tot > 0, g_tot, 1.0), dt / p["C_m"])
    decay_v = d_tot - kappa * g_gap
    i_el = np.bincount(gap_post, weights=gap_g * (p["E_L"][gap_pre] - p["E_L"][gap_post]), minlength=n)
    gap = sp.csr_matrix((gap_g * kappa[gap_post], (gap_post, gap_pre)), shape=(n, n))
    return kappa, decay_v, i_el, gap


def _graded_matrix(syn: _Synapses, kappa: np.ndarray, n: int) -> sp.csr_matrix:
    """Graded synapses: V per step into v at full activation (a current held over the step, like the bias)."""
    if not syn.graded_parts:
        return sp.csr_matrix((n, n))
    g_pre, g_post, g_amp = (np.concatenate(x) for x in zip(*syn.graded_parts))
    graded = sp.csr_matrix((g_amp * kappa[g_post], (g_post, g_pre)), shape=(n, n))
    graded.eliminate_zeros()
    return graded


def _sum_matrix(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int) -> sp.csr_matrix:
    """Post × pre from (post, pre, value) parts; duplicates (parallel synapses) are summed."""
    rows, cols, vals = zip(*parts) if parts else ([np.zeros(0, int)], [np.zeros(0, int)], [np.zeros(0)])
    if len(vals) > 1:  # one part is used as it is (no copies: 120 MB of fresh pages at 5M synapses)
        rows, cols, vals = (np.concatenate(rows),), (np.concatenate(cols),), (np.concatenate(vals),)
    out = sp.csr_matrix((vals[0], (rows[0], cols[0])), shape=(n, n))
    out.eliminate_zeros()
    return out


def _recurrent_weights(
    syn: _Synapses, tau_u: np.ndarray, kappa: np.ndarray, n: int
) -> tuple[sp.csr_matrix, tuple[tuple[int, sp.csr_matrix], ...], tuple[PlasticProjection, ...]]:
    """Spiking edges in V per step (rescaled to the target's τ_u): undelayed weights, delayed weights by
    delay, and the plastic (stdp, reward_stdp) projections."""
    by_delay: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = defaultdict(list)
    plastic: list[PlasticProjection] = []
    for pre, post, w, tau, label, delay in syn.edges:
        scaled = np.divide(tau, tau_u[post])  # w·(τ/τ_u)·κ, computed in one array
        np.multiply(w, scaled, out=scaled)
        scaled *= kappa[post]
        rule = syn.plastic_rules.get(label)
        if rule is None:
            by_delay[delay].append((post, pre, scaled))
            continue
        rp = rule.params
        reward = {}
        if rule.rule == "reward_stdp":
            steps = np.floor(np.asarray(rule.reward_times) / syn.dt + 1e-3).astype(np.int64)  # generator bins
            reward = dict(
                rule_name=rule.name,
                tau_c=float(rp["tau_c"]),
                tau_D=float(rp["tau_D"]),
                eta=float(rp["eta"]),
                reward_steps=steps,
                reward_amounts=np.asarray(rule.reward_amounts, dtype=float),
                modulators=np.asarray(rule.modulators, dtype=np.int64),
            )
        plastic.append(
            PlasticProjection(
                name=label.removeprefix("projection "),
                pre=np.asarray(pre, dtype=np.int64),
                post=np.asarray(post, dtype=np.int64),
                w0=np.abs(scaled),
                sign=np.where(scaled < 0, -1, 1).astype(np.int64),
                w_max=np.abs(scaled) * max(float(rp.get("w_max_scale", 2.0)), 1.0),  # as brian2_backend
                A_plus=float(rp["A_plus"]),
                A_minus=float(rp["A_minus"]),
                tau_plus=float(rp["tau_plus"]),
                tau_minus=float(rp["tau_minus"]),
                rule=rule.rule,
                **reward,
            )
        )
    weights = _sum_matrix(by_delay.pop(0, []), n)
    delayed = tuple((d, _sum_matrix(by_delay[d], n)) for d in sorted(by_delay))
    return weights, delayed, tuple(plastic)


def _conductance_matrix(syn: _Synapses, tau_u: np.ndarray, kappa: np.ndarray, n: int) -> sp.csr_matrix:
    """Exact conductance synapses, post × pre: κ·|w| per spike (rescaled to the target's τ_u like the weights),
    the fraction of (v − v_op) per step that one spike's conductance removes."""
    parts = [(post, pre, g * (tau / tau_u[post]) * kappa[post]) for pre, post, g, tau in syn.cond_parts]
    return _sum_matrix(parts, n)


def _input_weights(inputs: _Inputs, tau_u: np.ndarray, kappa: np.ndarray, n: int) -> sp.csr_matrix:
    """Neurons × input columns, V per step (rescaled to the target's τ_u like the recurrent weights)."""
    m = len(inputs.columns)
    post = np.array(inputs.post, dtype=np.int64)
    w = np.array(inputs.weight) * (np.array(inputs.tau) / np.where(len(post), tau_u[post], 1.0)) * kappa[post]
    return sp.csr_matrix((w, (post, np.arange(m))), shape=(n, m))


def _bias(
    network: ir.Network,
    lw: _Lowering,
    nrn: _Neurons,
    i_el: np.ndarray,
    kappa: np.ndarray,
    steps: int,
    max_bias_changes: int,
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """The bias at step 0 (V per step) and its schedule of changes from the current input; inputs changing
    more than `max_bias_changes` times are averaged over hold windows (an approximation, recorded)."""
    p, names = nrn.p, network.names
    bias0 = (p["I_bias"] + i_el) * kappa
    current = network.current
    if current is None or not len(current.values):
        return bias0, []
    values = np.zeros((steps, network.size))
    k = min(steps, len(current.values))
    values[:k, current.target] = current.values[:k]
    changed = np.flatnonzero(np.any(values[1:] != values[:-1], axis=1)) + 1
    if len(changed) > max_bias_changes:
        hold = math.ceil(steps / max_bias_changes)
        starts = np.arange(0, steps, hold)
        means = np.add.reduceat(values, starts, axis=0) / np.diff(np.r_[starts, steps])[:, None]
        approx = np.repeat(means, np.diff(np.r_[starts, steps]), axis=0)
        rms = float(np.sqrt(np.mean(values**2))) or 1.0
        lw.approximate(
            "input:current_varying",
            [names[i] for i in current.target],
            f"averaged over {hold}-step hold windows ({len(changed)} changes > {max_bias_changes})",
            {"relative_rms_error": float(np.sqrt(np.mean((approx - values) ** 2))) / rms},
        )
        values = approx
        changed = np.flatnonzero(np.any(values[1:] != values[:-1], axis=1)) + 1
    bias0 = (p["I_bias"] + i_el + values[0]) * kappa if steps else bias0
    return bias0, [(int(s), (p["I_bias"] + i_el + values[s]) * kappa) for s in changed]


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """clip(½ + x/4, 0, 1): the logistic's tangent at 0, clipped (`GapLIF`'s graded activation)."""
    return np.clip(0.5 + 0.25 * np.asarray(x, dtype=float), 0.0, 1.0)


def _sigmoid_error(
    mu: np.ndarray, slope: np.ndarray, used: np.ndarray, p: dict[str, np.ndarray], v_th: np.ndarray
) -> float:
    """Largest |hard sigmoid − logistic| over each graded presynaptic neuron's range [min(E_L, v_reset), v_th]."""
    worst = 0.0
    for k in np.flatnonzero(used):
        lo = min(0.0, p["v_reset"][k] - p["E_L"][k])
        x = slope[k] * (np.linspace(lo, v_th[k], 401) - mu[k])
        worst = max(worst, float(np.max(np.abs(hard_sigmoid(x) - 1 / (1 + np.exp(-x))))))
    return worst


def _delay_steps(delay: float, dt: float) -> int:
    """A delay in seconds as whole steps, rounded as Brian2's spike queue does (`round(delay / dt)`)."""
    return int(np.round(delay / dt))


def simulate_lowered(
    lowered: LoweredNetwork, steps: int | None = None, v_limit: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The lowered network's own float dynamics, Loihi's update in volts: (v after each step, spikes).

    Same step order as the emulator and `GapLIF`: u and the adaptation current w, then v with the gap input
    of the previous step, then the refractory hold, threshold and reset. With `lower`'s exact exponential-Euler
    coefficients this reproduces Brian2's current-based LIF run (up to float rounding); `calibrated_headroom`
    uses its minimum (`lowest_v`).
    `v_limit` (V, per neuron): clip v to ±v_limit before the threshold, as the 24-bit v register does.
    """
    steps = lowered.steps if steps is None else steps
    v_out, spikes_out = np.zeros((steps, lowered.n_neurons)), np.zeros((steps, lowered.n_neurons), dtype=bool)
    for k, v, spikes in _float_steps(lowered, steps, v_limit):
        v_out[k], spikes_out[k] = v, spikes
    return v_out, spikes_out


def lowest_v(lowered: LoweredNetwork, steps: int | None = None, threads: int | None = None) -> np.ndarray:
    """Each neuron's lowest v (V from rest, ≤ 0) over `simulate_lowered`'s run, in memory independent of steps.

    Networks without delayed synapses run through a numba-compiled loop (`calibration_run.lowest_v_loop`, the
    same floats as `_float_steps`: every sum in the same order; 7–20× faster on whole_worm, where the NumPy loop
    is bound by per-call overhead, about 3× at 100k neurons, where 118M scattered synaptic adds dominate);
    others, or without numba, through `_float_steps`. `threads`: 1 or 2 for the compiled loop (2 only without
    gap or graded couplings); by default two for large uncoupled networks on a machine with two free cores
    (`calibration_run.two_threads_suit`), the same floats either way.
    """
    steps = lowered.steps if steps is None else steps
    lowest = np.zeros(lowered.n_neurons)
    weights = lowered.weights.tocsr()
    if lowered.plastic:
        weights = (weights + lowered.plastic_weights()).tocsr()
    external = _SpikeProduct(lowered.input_weights)
    if (
        calibration_run is None
        or lowered.delayed_weights
        or lowered.conductance.nnz
        or not (weights.has_canonical_format and external.exact)
    ):
        for _, v, _ in _float_steps(lowered, steps, None):
            np.minimum(lowest, v, out=lowest)
        return lowest
    coupled = bool(lowered.gap.nnz or lowered.graded.nnz)
    if threads is None:
        threads = 2 if calibration_run.two_threads_suit(lowered.n_neurons, coupled) else 1
    if threads not in (1, 2) or (threads == 2 and coupled):
        raise ValueError(
            f"threads = {threads}: the float run takes 1 thread, or 2 for networks without couplings"
        )
    laplacian = (lowered.gap - sp.diags(np.asarray(lowered.gap.sum(axis=1)).ravel())).tocsr()
    changes = sorted(dict(lowered.bias_schedule).items())
    graded = lowered.graded.tocsr()
    neurons = (
        1 - lowered.decay_u,
        1 - lowered.decay_v,
        1 - lowered.decay_w,
        lowered.adapt_b,
        lowered.v_th,
        lowered.v_reset,
        np.maximum(lowered.refractory - 1, 0).astype(np.int32),
        np.vstack([lowered.bias, *(b for _, b in changes)]),
        np.array([k for k, _ in changes] + [-1], dtype=np.int64),
    )
    synapses = (weights.indptr, weights.indices, weights.data)
    inputs = (
        external.ptr.astype(np.int64),
        external.rows.astype(np.int64),
        external.vals,
        np.ascontiguousarray(lowered.input_spikes),
    )
    couplings = (
        laplacian.indptr.astype(np.int64),
        laplacian.indices.astype(np.int64),
        laplacian.data,
        graded.indptr.astype(np.int64),
        graded.indices.astype(np.int64),
        graded.data,
        lowered.graded_slope,
        lowered.graded_mu,
    )
    calibration_run.run_lowest_v(steps, neurons, synapses, inputs, couplings, lowest, threads)
    return lowest


def _float_steps(
    lowered: LoweredNetwork, steps: int, v_limit: np.ndarray | None
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """`simulate_lowered`'s loop, yielding (step, v, spikes) after each step (v is overwritten by the next).

    The same floats as a plain per-step transcription: products and sums in the same order, done in place;
    synaptic input gathered from the spiking columns only (`_SpikeProduct`), which adds the same terms in the
    same order as the CSR mat-vec with a 0/1 vector; the adaptation and refractory updates, and adding a
    zero input vector, skipped where they are identities (sums that start from +0.0 are never −0.0, so
    adding +0.0 changes nothing).
    """
    n = lowered.n_neurons
    u, v, a_in, gap_in = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    bias = lowered.bias
    changes = dict(lowered.bias_schedule)
    laplacian = (lowered.gap - sp.diags(np.asarray(lowered.gap.sum(axis=1)).ravel())).tocsr()
    weights = lowered.weights.tocsr()
    if lowered.plastic:  # plastic synapses at their initial weights (this float run does not learn)
        weights = (weights + lowered.plastic_weights()).tocsr()
    recurrent = _SpikeProduct(weights)
    delayed = [(d, _SpikeProduct(w)) for d, w in lowered.delayed_weights]
    external = _SpikeProduct(lowered.input_weights)
    ring = 1 + max((d for d, _ in lowered.delayed_weights), default=0)
    pending = np.zeros((ring, n))  # delayed synaptic input, by arrival step mod ring
    frozen = np.maximum(lowered.refractory - 1, 0)
    refractory = bool(frozen.any())
    count = np.zeros(n, dtype=np.int64)
    adaptive = bool(lowered.adapt_b.any() or lowered.decay_w.any())
    keep_u, keep_v, keep_w = 1 - lowered.decay_u, 1 - lowered.decay_v, 1 - lowered.decay_w
    w_adapt, spikes = np.zeros(n), np.zeros(n, dtype=bool)  # adaptation current; spikes of the previous step
    conductance = _SpikeProduct(lowered.conductance) if lowered.conductance.nnz else None
    g, g_in = np.zeros(n), np.zeros(n)  # conductance register and its input
    for k in range(steps):
        bias = changes.get(k, bias)
        np.multiply(u, keep_u, out=u)
        u += a_in
        if conductance is not None:  # −g·(v − v_op) with the previous step's v
            np.multiply(g, keep_u, out=g)
            g += g_in
            drive = g * (v - lowered.v_op)
        np.multiply(v, keep_v, out=v)
        v += u
        if conductance is not None:
            v -= drive
        if adaptive:
            np.multiply(w_adapt, keep_w, out=w_adapt)
            w_adapt += lowered.adapt_b * spikes
            v -= w_adapt
        v += bias
        v += gap_in
        if v_limit is not None:
            np.clip(v, -v_limit, v_limit, out=v)
        if refractory:
            held = count > 0
            v[held] = lowered.v_reset[held]
            count[held] -= 1
            spikes = (v > lowered.v_th) & ~held
        else:
            spikes = v > lowered.v_th
        fired = np.flatnonzero(spikes)
        v[fired] = lowered.v_reset[fired]
        if refractory:
            count[fired] = frozen[fired]
        yield k, v, spikes
        a_in = recurrent.of(fired)
        if conductance is not None:
            g_in = conductance.of(fired)
        a_in += pending[k % ring]
        pending[k % ring] = 0
        for d, w in delayed:
            pending[(k + d) % ring] += w.of(fired)
        if k < len(lowered.input_spikes) and lowered.input_spikes[k].any():
            a_in += external.of(np.flatnonzero(lowered.input_spikes[k]))
        gap_in = laplacian @ v
        if lowered.graded.nnz:
            gap_in = gap_in + lowered.graded @ hard_sigmoid(lowered.graded_slope * (v - lowered.graded_mu))


class _SpikeProduct:
    """`matrix @ s` for a 0/1 vector s given by its nonzero indices, from those columns only.

    scipy's CSR mat-vec adds w·s_j over each row's entries from 0.0 in index order; the terms with s_j = 0 add
    ±0.0 and change nothing, so summing the active columns' entries in ascending column order (a bincount over
    the CSC entries of the sorted active columns) gives the same floats, at a cost proportional to the spikes'
    fan-out instead of every synapse. Needs canonical CSR (sorted indices, no duplicates), as scipy builds it;
    otherwise the plain mat-vec is used.
    """

    def __init__(self, matrix: sp.spmatrix) -> None:
        self.csr = matrix.tocsr()
        self.exact = self.csr.has_canonical_format
        csc = self.csr.tocsc()
        csc.sort_indices()
        self.ptr, self.rows, self.vals = csc.indptr, csc.indices, csc.data
        self.shape = self.csr.shape

    def of(self, active: np.ndarray) -> np.ndarray:
        """`matrix @ s` with s = 1 at `active` (ascending column indices), else 0."""
        if not self.exact:
            s = np.zeros(self.shape[1])
            s[active] = 1.0
            return self.csr @ s
        starts, stops = self.ptr[active], self.ptr[active + 1]
        lengths = stops - starts
        total = int(lengths.sum())
        if not total:
            return np.zeros(self.shape[0])
        idx = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        return np.bincount(self.rows[idx], weights=self.vals[idx], minlength=self.shape[0])
