"""The hardware-level network after quantization: integer Loihi LIF parameters and integer weight blocks.

`FixedPointNetwork` is what the quantizer produces and what later compiler passes (core partitioning, Lava
lowering) consume. Every field is range-checked against Loihi's register widths (Davies et al. 2018, IEEE Micro;
lava-nc 0.10 `lava/proc/lif/models.py`, `lava/proc/dense/models.py`), so an out-of-range value fails here,
loudly, instead of being silently clipped or wrapped on the chip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import scipy.sparse as sp

DECAY_MAX = 4095  # du, dv: 12-bit unsigned fraction of 4096
VTH_MAX = 2**17 - 1  # threshold mantissa: 17-bit unsigned; effective threshold vth << 6
BIAS_MANT_MIN, BIAS_MANT_MAX = -(2**12), 2**12 - 1  # 13-bit signed
BIAS_EXP_MIN, BIAS_EXP_MAX = 0, 7  # 3-bit unsigned
WEIGHT_MIN, WEIGHT_MAX = -256, 255  # raw 8-bit-plus-sign weight range Lava's Dense accepts before clipping
WEIGHT_EXP_MIN, WEIGHT_EXP_MAX = -7, 7
NUM_WEIGHT_BITS_MIN, NUM_WEIGHT_BITS_MAX = 1, 8
GAP_SHIFT_MIN, GAP_SHIFT_MAX = 0, 23  # graded voltage message v >> gap_shift (v is 24-bit signed)
# Refractory delay in steps: Loihi 1's per-compartment `refractDelay` is a 6-bit field (NxSDK `CxProfileCfg`;
# Davies et al. 2018). 0 and 1 both mean no refractory period.
REFRACTORY_MAX = 63
# Synaptic delay in steps: Loihi 2's 6-bit delay field (lava-nc 0.10 `PyDelayDenseModelBitAcc` rejects > 63).
DELAY_MAX = 63
V_RESET_LIMIT = 2**23 - 1  # v_reset lies in v's 24-bit signed range (v clips at ±(2²³ − 1))
# Adaptation register w (`GapLIF`, adaptive_lif): int32, with `w_shift` fractional bits below v's unit; its decay
# is a 24-bit fraction dw/2²⁴ (a 12-bit du-style decay is 2.3 % off at τ_w = 100 ms, dt = 0.1 ms).
W_DECAY_BITS = 24
DW_MAX = 2**W_DECAY_BITS - 1
W_SHIFT_MAX = 24
ADAPT_B_LIMIT = 2**31 - 1  # the increment per spike is an int32
# Graded sigmoid synapses (`GapLIF`): each neuron sends a hard-sigmoid activation of v as an unsigned message
# m = clip(GRADED_HALF + ((v − graded_mu)·graded_slope_mant >> graded_slope_shift), 0, 2·GRADED_HALF).
GRADED_BITS = 12
GRADED_HALF = 2 ** (GRADED_BITS - 1)
GRADED_MU_LIMIT = 2**24  # μ in v units, within twice v's range
GRADED_SLOPE_MANT_MAX = 2**16 - 1
GRADED_SLOPE_SHIFT_MAX = (
    47  # (v − μ)·mant fits int64 for any shift; 47 resolves 2⁻⁴⁷ message units per v unit
)
# Conductance register g (`GapLIF`, exp_conductance): int32, `conductance_shift` fractional bits; each step v gets
# −((g·(v − v_op)) >> conductance_shift) (int64 product, rounded), the driving force's v-dependent part.
CONDUCTANCE_SHIFT_MAX = 40
V_OP_LIMIT = 2**23 - 1  # v_op lies in v's 24-bit signed range


class SignMode(Enum):
    """Synapse sign mode, as Lava derives it from a whole Dense weight matrix (`determine_sign_mode`)."""

    MIXED = 1
    EXCITATORY = 2
    INHIBITORY = 3


def _check_range(name: str, values: np.ndarray, lo: int, hi: int) -> None:
    """Raise ValueError naming the field and the first offending value if any value lies outside [lo, hi]."""
    bad = np.flatnonzero((values < lo) | (values > hi))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name}[{i}] = {values.flat[i]} is outside [{lo}, {hi}] ({bad.size} value(s) out of range)"
        )


def _as_int_array(name: str, values: np.ndarray | list | int, n: int) -> np.ndarray:
    """Broadcast a scalar or length-n sequence of integers to an int64 array, rejecting non-integers."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must be integers, got non-integer values such as {arr.flat[0]!r}")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = np.full(n, arr)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one value per neuron), got {arr.shape}")
    out = arr.astype(np.int64)
    out.flags.writeable = False
    return out


def sign_mode_of(weights: sp.spmatrix | np.ndarray) -> SignMode:
    """Lava's sign mode of a weight matrix: excitatory if all ≥ 0, inhibitory if all ≤ 0, else mixed.

    Entries absent from a sparse matrix count as zeros, exactly as in the dense matrix Lava receives.
    """
    if sp.issparse(weights):
        values = weights.data if weights.format in ("csr", "csc", "coo") else weights.tocoo().data
        if weights.nnz < weights.shape[0] * weights.shape[1]:
            values = np.append(values, 0)
    else:
        values = np.asarray(weights)
    if values.size == 0:
        return SignMode.EXCITATORY
    lo, hi = int(values.min()), int(values.max())
    if lo >= 0:
        return SignMode.EXCITATORY
    if hi <= 0:
        return SignMode.INHIBITORY
    return SignMode.MIXED


def lava_dense_weights(weights: sp.spmatrix | np.ndarray, num_weight_bits: int = 8) -> sp.csr_matrix:
    """The weights Lava's fixed-point Dense actually uses, as int64 CSR (post × pre).

    Mirrors `PyDenseModelBitAcc.run_spk` on its first step (lava-nc 0.10, `lava/utils/weightutils.py`):
    sign mode from the matrix; clip to [-256, 255] (mixed), [0, 255] (excitatory) or [-255, 0] (inhibitory);
    then drop `t = 8 - num_weight_bits + is_mixed` low bits, `(w >> t) << t`, on the magnitude for inhibitory
    blocks. So default 8-bit mixed weights become even (rounded towards −∞).
    """
    mode = sign_mode_of(weights)
    w = sp.csr_matrix(weights, dtype=np.int64, copy=True)
    data = w.data
    if mode is not SignMode.MIXED and num_weight_bits == 8 and (data.size == 0 or np.abs(data).max() <= 255):
        w.eliminate_zeros()  # single-sign 8-bit weights in range: Lava's clip and shifts change nothing
        return w
    if mode is SignMode.INHIBITORY:
        data = -data
    mixed = int(mode is SignMode.MIXED)
    data = np.clip(data, -256 * mixed, 255)
    t = 8 - num_weight_bits + mixed
    data = (data >> t) << t
    if mode is SignMode.INHIBITORY:
        data = -data
    w.data = data
    w.eliminate_zeros()
    return w


@dataclass(frozen=True, eq=False)
class WeightBlock:
    """One integer weight matrix (post × pre) with a shared exponent; maps to one Lava Dense (one core, later).

    The synaptic input a block delivers is `(W @ s) << weight_exp` (or `>> -weight_exp`), applied after summing
    (Lava's Dense; nengo-loihi instead scales each weight, which differs). `delay` (steps, 0…63): a spike at
    step k reaches u at step k + 1 + delay (Lava's `DelayDense`, which shifts each delay's sum separately; 0 is
    a plain Dense).
    """

    weights: sp.csr_matrix
    weight_exp: int = 0
    num_weight_bits: int = 8
    delay: int = 0

    def __post_init__(self) -> None:
        w = self.weights
        if not sp.issparse(w):
            w = np.asarray(w)
            if w.ndim != 2:
                raise ValueError(f"weights must be a 2-D matrix (post × pre), got shape {w.shape}")
        w = sp.csr_matrix(w)
        if w.dtype.kind == "f" and np.any(w.data != np.round(w.data)):
            raise ValueError("weights must be integers, got non-integer values")
        if w.dtype.kind not in "iubf":
            raise ValueError(f"weights must be integers, got dtype {w.dtype}")
        w = w.astype(np.int64)
        w.sum_duplicates()
        _check_range("weights.data", w.data, WEIGHT_MIN, WEIGHT_MAX)
        if int(self.weight_exp) != self.weight_exp or not WEIGHT_EXP_MIN <= self.weight_exp <= WEIGHT_EXP_MAX:
            raise ValueError(
                f"weight_exp = {self.weight_exp!r} is outside [{WEIGHT_EXP_MIN}, {WEIGHT_EXP_MAX}]"
            )
        if (
            int(self.num_weight_bits) != self.num_weight_bits
            or not NUM_WEIGHT_BITS_MIN <= self.num_weight_bits <= NUM_WEIGHT_BITS_MAX
        ):
            raise ValueError(
                f"num_weight_bits = {self.num_weight_bits!r} is outside "
                f"[{NUM_WEIGHT_BITS_MIN}, {NUM_WEIGHT_BITS_MAX}]"
            )
        if int(self.delay) != self.delay or not 0 <= self.delay <= DELAY_MAX:
            raise ValueError(
                f"delay = {self.delay!r} steps is outside [0, {DELAY_MAX}] (Loihi 2's 6-bit delay)"
            )
        object.__setattr__(self, "delay", int(self.delay))
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "weight_exp", int(self.weight_exp))
        object.__setattr__(self, "num_weight_bits", int(self.num_weight_bits))

    @property
    def shape(self) -> tuple[int, int]:
        """(post, pre)."""
        return self.weights.shape

    @property
    def sign_mode(self) -> SignMode:
        """Sign mode Lava will derive for this block."""
        return sign_mode_of(self.weights)

    def effective_weights(self) -> sp.csr_matrix:
        """Weights after Lava's clipping and truncation (see `lava_dense_weights`)."""
        return lava_dense_weights(self.weights, self.num_weight_bits)


# Plastic blocks (`stdp` through Lava's LearningDense, fixed_pt; docs/compiler.md "STDP through LearningDense").
TRACE_MAX = 127  # 7-bit traces x1, y1 (lava.magma.core.learning.constants.W_TRACE)
TRACE_TAU_MAX = 255  # the hardware's 8-bit trace time constant field (Lava's Python model does not check it)
LEARNING_DEPENDENCIES = ("x0", "y0")
LEARNING_FACTORS = {"x0": 1, "y0": 1, "x1": 7, "y1": 7, "t": 9}  # bit widths (FACTOR_TO_WIDTH_DICT)
TAG_PRESENT = 32  # tag_1 of a present synapse: the engine's 5-bit right shift makes it exactly neutral


@dataclass(frozen=True)
class LearningProduct:
    """One product of a Loihi 2 learning rule: `mantissa·2^exponent · dependency · Π factors` (Lava's
    `Product`: mantissa 4-bit signed, −7 ≤ exponent ≤ 8; factors among x0, y0, x1, y1 and t = tag_1)."""

    dependency: str
    factors: tuple[str, ...]
    mantissa: int
    exponent: int

    def __post_init__(self) -> None:
        if self.dependency not in LEARNING_DEPENDENCIES:
            raise ValueError(f"dependency {self.dependency!r} must be one of {LEARNING_DEPENDENCIES}")
        bad = [f for f in self.factors if f not in LEARNING_FACTORS]
        if bad:
            raise ValueError(f"factors {bad} must be among {sorted(LEARNING_FACTORS)}")
        if int(self.mantissa) != self.mantissa or not -8 <= self.mantissa <= 7 or self.mantissa == 0:
            raise ValueError(f"mantissa {self.mantissa!r} must be a nonzero integer in [-8, 7]")
        if int(self.exponent) != self.exponent or not -7 <= self.exponent <= 8:
            raise ValueError(f"exponent {self.exponent!r} must be an integer in [-7, 8]")

    def text(self) -> str:
        """The term as Lava's rule parser reads it, with its sign in front (`+ 5*2^-7 * y0 * t * x1`)."""
        sign = "-" if self.mantissa < 0 else "+"
        return f"{sign} {abs(self.mantissa)}*2^{self.exponent} * " + " * ".join(
            (self.dependency, *self.factors)
        )


def set_synapse_list(block: object, matrix: np.ndarray, matrix_name: str) -> None:
    """Check and normalise a plastic block's synapse list (`syn_post`, `syn_pre`, `syn_projection`, `w_max`):
    one entry per synapse, exactly the nonzero entries of `matrix` (the block's tag or mask), so the weight
    read-out and the learning engines agree on which synapses exist. Shared by both kinds of plastic block."""
    post = np.asarray(block.syn_post, dtype=np.int64)
    pre = np.asarray(block.syn_pre, dtype=np.int64)
    if post.shape != pre.shape or len(block.syn_projection) != len(post) or len(block.w_max) != len(post):
        raise ValueError("syn_post, syn_pre, syn_projection and w_max must have one entry per synapse")
    if len(post) and not np.array_equal(
        np.sort(np.flatnonzero(matrix.ravel())), np.sort(post * matrix.shape[1] + pre)
    ):
        raise ValueError(f"the synapse list must match {matrix_name} nonzero entries (one synapse per entry)")
    object.__setattr__(block, "syn_post", post)
    object.__setattr__(block, "syn_pre", pre)
    object.__setattr__(block, "syn_projection", tuple(block.syn_projection))
    object.__setattr__(block, "w_max", np.asarray(block.w_max, dtype=float))


@dataclass(frozen=True, eq=False)
class PlasticBlock:
    """One plastic weight matrix: a Lava `LearningDense` (n × n, post × pre) with a `Loihi2FLearningRule`.

    `weights`: dense int matrix, in [0, 255] (`sign` +1, SignMode.EXCITATORY) or [−255, 0] (−1, INHIBITORY),
    delivering `(W @ s) << weight_exp` like a Dense. `tag`: tag_1, `TAG_PRESENT` where a synapse exists and 0
    elsewhere (every product carries the factor t, so absent entries never learn). The rule: `products` (dw),
    traces x1 (pre) and y1 (post) with integer impulses and time constants in steps, `t_epoch = 1`, random
    streams seeded by `rng_seed`. `syn_post`, `syn_pre`, `syn_projection`: the block's synapses and the
    projection each came from; `w_max`: each synapse's bound in weight LSB (the clip is at 255).
    """

    weights: np.ndarray
    tag: np.ndarray
    sign: int
    weight_exp: int
    x1_impulse: int
    x1_tau: int
    y1_impulse: int
    y1_tau: int
    products: tuple[LearningProduct, ...]
    rng_seed: int
    syn_post: np.ndarray
    syn_pre: np.ndarray
    syn_projection: tuple[str, ...]
    w_max: np.ndarray

    def __post_init__(self) -> None:
        w = np.asarray(self.weights)
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise ValueError(f"plastic weights must be a square matrix (post × pre), got shape {w.shape}")
        if w.dtype.kind == "f" and np.any(w != np.round(w)):
            raise ValueError("plastic weights must be integers")
        w = w.astype(np.int64)
        if self.sign not in (1, -1):
            raise ValueError(f"sign = {self.sign!r} must be +1 or -1")
        lo, hi = (0, 255) if self.sign > 0 else (-255, 0)
        _check_range("plastic weights", w.ravel(), lo, hi)
        tag = np.asarray(self.tag).astype(np.int64)
        if tag.shape != w.shape or not np.all((tag == 0) | (tag == TAG_PRESENT)):
            raise ValueError(f"tag must have the weights' shape and hold 0 or {TAG_PRESENT}")
        if np.any(w[tag == 0] != 0):
            raise ValueError("plastic weights must be 0 where tag is 0 (no synapse)")
        if int(self.weight_exp) != self.weight_exp or not WEIGHT_EXP_MIN <= self.weight_exp <= WEIGHT_EXP_MAX:
            raise ValueError(
                f"weight_exp = {self.weight_exp!r} is outside [{WEIGHT_EXP_MIN}, {WEIGHT_EXP_MAX}]"
            )
        for name in ("x1_impulse", "y1_impulse"):
            v = getattr(self, name)
            if int(v) != v or not 0 <= v <= TRACE_MAX:
                raise ValueError(f"{name} = {v!r} must be an integer in [0, {TRACE_MAX}]")
        for name in ("x1_tau", "y1_tau"):
            v = getattr(self, name)
            if int(v) != v or not 1 <= v <= TRACE_TAU_MAX:
                raise ValueError(f"{name} = {v!r} steps must be an integer in [1, {TRACE_TAU_MAX}]")
        products = tuple(self.products)
        if not products or not all(isinstance(p, LearningProduct) for p in products):
            raise ValueError("products must be a non-empty tuple of LearningProduct")
        set_synapse_list(self, tag, "tag's")
        for arr in (w, tag):
            arr.flags.writeable = False
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "products", products)
        for name in ("weight_exp", "x1_impulse", "x1_tau", "y1_impulse", "y1_tau", "rng_seed"):
            object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    def dw(self) -> str:
        """The rule's dw string for `Loihi2FLearningRule`."""
        text = " ".join(p.text() for p in self.products)
        return text[2:] if text.startswith("+ ") else text

    def synapse_weights(self, weights: np.ndarray | None = None) -> np.ndarray:
        """The (given or initial) matrix's value at each synapse, in `syn_*` order."""
        w = self.weights if weights is None else np.asarray(weights)
        return w[self.syn_post, self.syn_pre]


@dataclass(frozen=True, eq=False)
class BiasChange:
    """From step `step` (0-based) on, neuron i's bias is `bias_mant[i] << bias_exp[i]` (until the next change).

    Piecewise-constant current stimuli (step, pulse, touch) lower to a few of these; Lava runs in segments
    and sets the LIF's `bias_mant`/`bias_exp` Vars between them.
    """

    step: int
    bias_mant: np.ndarray
    bias_exp: np.ndarray


@dataclass(frozen=True, eq=False)
class FixedPointNetwork:
    """A quantized LIF network in Loihi's integer units, ready for the emulator or Lava.

    Neuron i: current decay `du[i]`, voltage decay `dv[i]` (fractions of 4096), threshold mantissa `vth[i]`
    (effective threshold `vth << 6`), bias `bias_mant[i] << bias_exp[i]`. Recurrent synapses are the sum of
    `weights` blocks (each n × n). External input is a boolean raster `input_spikes[step, k]` fed through
    `input_weights` blocks (each n × n_inputs); steps past the end of the raster carry no input. A spike
    (neuron or input) at step t reaches the current u at step t + 1 (+ the block's `delay`; input blocks have
    delay 0: `lower` shifts delayed inputs' spikes in the raster instead). `dt` is the step length in seconds.

    `bias_schedule`: `BiasChange`s with strictly increasing steps ≥ 1 replace the bias from their step on.
    Gap junctions (`gap_weights`, each n × n, post × pre): every neuron also sends its voltage after the spike
    reset as a graded message `v >> gap_shift`; each block delivers `(G @ msg) << weight_exp` (int32, Lava's
    graded Dense), and the sum adds to v at the next step, like a bias: `v = decay(v) + u + bias + gap`.
    Off-diagonal entries carry g_ij, the diagonal −Σ_j g_ij, so the input is Σ_j g_ij (v_j − v_i).

    Refractory period and reset (`GapLIF`, a custom process; Lava's own LIF has neither): after a spike at step
    k, v is set to `v_reset[i]` and held there, with no spike possible, for steps k + 1 … k + `refractory[i]` − 1
    (Loihi 1's `refractDelay`, the same count as Brian2's `timestep(t_ref, dt)`); u keeps integrating. The
    defaults (0, 0) are Lava's LIF: reset to 0, no refractory period.

    Adaptation (`GapLIF`'s second current register w: adaptive_lif's spike-triggered current). At each step,
    before v's update, `w ← ((w·(2²⁴ − dw[i]) + 2²³) >> 24) + adapt_b[i]·s` (int64 product, rounded half up,
    stored as int32), s the neuron's spike of the previous step; then `v = decay(v) + u − (w >> w_shift[i]) +
    bias + gap`. So w has `w_shift[i]` fractional bits below v's unit and decays by dw/2²⁴ per step (24-bit,
    rounded: a 12-bit, truncating decay like u's is percent-level off for τ_w ≫ dt and biases w). The
    defaults (0, 0, 0) are no adaptation.

    Graded sigmoid synapses (`GapLIF`): after the spike reset every neuron also sends the message
    `m = clip(2¹¹ + (((v − graded_mu)·graded_slope_mant + r) >> graded_slope_shift), 0, 2¹²)` (int64,
    rounded: r = 2^(shift − 1), 0 for shift 0; a hard sigmoid of v in 12 bits) on a second graded port; `graded_weights` blocks (post × pre) deliver
    `(G @ m) << weight_exp` (int32, Lava's graded Dense), which adds to v at the next step with the gap input.

    Conductance synapses (`GapLIF`'s register g): `conductance_weights` blocks (post × pre, ≥ 0) carry each
    static undelayed exp_conductance synapse's |w| as a conductance per step with `conductance_shift` fractional
    bits. Each step, before v's update, `g ← decay(g) + g_in` (u's 12-bit decay du, int32; g_in the blocks'
    Dense sums of the previous step's spikes, like a_in) and v gets `−((g·(v − v_op[i]) + r) >> shift)` (int64,
    r = 2^(shift − 1); v the previous step's). The same synapses' Dense weights into u carry |w|·(E_rev − v_op),
    so u − g·(v − v_op) is Σ|w|·(E_rev − v): the exact driving force (and the input-dependent τ_eff).

    Plastic synapses (`stdp`): `plastic` holds one `PlasticBlock` (a Lava `LearningDense`) per sign and rule;
    they deliver like recurrent weight blocks and learn from the neurons' own spikes. () for static networks.
    Three-factor synapses (`reward_stdp`): `reward_plastic` holds one `RewardPlasticBlock` (a `LearningDense`
    with a `Loihi3FLearningRule` and its trace process) per sign and rule, with its reward raster; they deliver
    and learn the same way, the trace process fed by the post neurons' spikes.
    """

    neuron_names: tuple[str, ...]
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    weights: tuple[WeightBlock, ...] = ()
    input_spikes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    input_weights: tuple[WeightBlock, ...] = ()
    dt: float = 1e-3
    bias_schedule: tuple[BiasChange, ...] = ()
    gap_weights: tuple[WeightBlock, ...] = ()
    gap_shift: int = 0
    refractory: np.ndarray | int = 0
    v_reset: np.ndarray | int = 0
    dw: np.ndarray | int = 0
    adapt_b: np.ndarray | int = 0
    w_shift: np.ndarray | int = 0
    graded_weights: tuple[WeightBlock, ...] = ()
    graded_mu: np.ndarray | int = 0
    graded_slope_mant: np.ndarray | int = 0
    graded_slope_shift: np.ndarray | int = 0
    plastic: tuple[PlasticBlock, ...] = ()
    conductance_weights: tuple[WeightBlock, ...] = ()
    v_op: np.ndarray | int = 0
    conductance_shift: int = 0
    reward_plastic: tuple = ()

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.neuron_names)
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"neuron_names must be unique; {dup!r} appears more than once")
        n = len(names)
        object.__setattr__(self, "neuron_names", names)
        for name, lo, hi in (
            ("du", 0, DECAY_MAX),
            ("dv", 0, DECAY_MAX),
            ("vth", 0, VTH_MAX),
            ("bias_mant", BIAS_MANT_MIN, BIAS_MANT_MAX),
            ("bias_exp", BIAS_EXP_MIN, BIAS_EXP_MAX),
            ("refractory", 0, REFRACTORY_MAX),
            ("v_reset", -V_RESET_LIMIT, V_RESET_LIMIT),
            ("dw", 0, DW_MAX),
            ("adapt_b", -ADAPT_B_LIMIT, ADAPT_B_LIMIT),
            ("w_shift", 0, W_SHIFT_MAX),
            ("graded_mu", -GRADED_MU_LIMIT, GRADED_MU_LIMIT),
            ("graded_slope_mant", 0, GRADED_SLOPE_MANT_MAX),
            ("graded_slope_shift", 0, GRADED_SLOPE_SHIFT_MAX),
            ("v_op", -V_OP_LIMIT, V_OP_LIMIT),
        ):
            arr = _as_int_array(name, getattr(self, name), n)
            _check_range(name, arr, lo, hi)
            object.__setattr__(self, name, arr)

        spikes = np.asarray(self.input_spikes)
        if spikes.ndim != 2:
            raise ValueError(f"input_spikes must be 2-D (steps × n_inputs), got shape {spikes.shape}")
        if spikes.dtype != bool:
            if not np.all((spikes == 0) | (spikes == 1)):
                raise ValueError("input_spikes must be boolean (or 0/1)")
            spikes = spikes.astype(bool)
        spikes = spikes.copy()
        spikes.flags.writeable = False
        object.__setattr__(self, "input_spikes", spikes)

        for attr, cols in (
            ("weights", n),
            ("input_weights", spikes.shape[1]),
            ("gap_weights", n),
            ("graded_weights", n),
            ("conductance_weights", n),
        ):
            blocks = tuple(self._as_blocks(attr))
            for i, block in enumerate(blocks):
                if block.shape != (n, cols):
                    raise ValueError(f"{attr}[{i}] has shape {block.shape}, expected ({n}, {cols})")
                if attr != "weights" and block.delay:
                    raise ValueError(
                        f"{attr}[{i}] has delay {block.delay}: only recurrent weight blocks carry delays "
                        "(delay input spikes in the raster instead)"
                    )
            object.__setattr__(self, attr, blocks)
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt = {self.dt!r} must be a positive number of seconds")
        object.__setattr__(self, "dt", float(self.dt))
        object.__setattr__(self, "bias_schedule", self._checked_schedule(n))
        if int(self.gap_shift) != self.gap_shift or not GAP_SHIFT_MIN <= self.gap_shift <= GAP_SHIFT_MAX:
            raise ValueError(f"gap_shift = {self.gap_shift!r} is outside [{GAP_SHIFT_MIN}, {GAP_SHIFT_MAX}]")
        object.__setattr__(self, "gap_shift", int(self.gap_shift))
        shift = self.conductance_shift
        if int(shift) != shift or not 0 <= shift <= CONDUCTANCE_SHIFT_MAX:
            raise ValueError(f"conductance_shift = {shift!r} is outside [0, {CONDUCTANCE_SHIFT_MAX}]")
        object.__setattr__(self, "conductance_shift", int(shift))
        for i, block in enumerate(self.conductance_weights):
            if block.weights.nnz and block.weights.data.min() < 0:
                raise ValueError(f"conductance_weights[{i}] has negative weights: conductances are ≥ 0")
        plastic = (self.plastic,) if isinstance(self.plastic, PlasticBlock) else tuple(self.plastic)
        for i, block in enumerate(plastic):
            if not isinstance(block, PlasticBlock):
                raise ValueError(f"plastic[{i}] must be a PlasticBlock, got {type(block).__name__}")
            if block.shape != (n, n):
                raise ValueError(f"plastic[{i}] has shape {block.shape}, expected ({n}, {n})")
        object.__setattr__(self, "plastic", plastic)
        reward = tuple(self.reward_plastic)
        if reward:
            from wormchip.mappers.reward_stdp import RewardPlasticBlock  # imports this module
        for i, block in enumerate(reward):
            if not isinstance(block, RewardPlasticBlock):
                raise ValueError(
                    f"reward_plastic[{i}] must be a RewardPlasticBlock, got {type(block).__name__}"
                )
            if block.shape != (n, n):
                raise ValueError(f"reward_plastic[{i}] has shape {block.shape}, expected ({n}, {n})")
        object.__setattr__(self, "reward_plastic", reward)

    def _checked_schedule(self, n: int) -> tuple[BiasChange, ...]:
        """Bias changes with integer steps ≥ 1, strictly increasing, and in-range per-neuron biases."""
        changes = [self.bias_schedule] if isinstance(self.bias_schedule, BiasChange) else self.bias_schedule
        out: list[BiasChange] = []
        last = 0
        for k, change in enumerate(changes):
            if not isinstance(change, BiasChange):
                raise ValueError(f"bias_schedule[{k}] must be a BiasChange, got {type(change).__name__}")
            if int(change.step) != change.step or change.step <= last:
                raise ValueError(
                    f"bias_schedule[{k}].step = {change.step!r} must be an integer > {last} "
                    "(steps ≥ 1, strictly increasing; step 0's bias is bias_mant/bias_exp)"
                )
            last = int(change.step)
            fields = {}
            for name, lo, hi in (
                ("bias_mant", BIAS_MANT_MIN, BIAS_MANT_MAX),
                ("bias_exp", BIAS_EXP_MIN, BIAS_EXP_MAX),
            ):
                arr = _as_int_array(f"bias_schedule[{k}].{name}", getattr(change, name), n)
                _check_range(f"bias_schedule[{k}].{name}", arr, lo, hi)
                fields[name] = arr
            out.append(BiasChange(last, **fields))
        return tuple(out)

    def _as_blocks(self, attr: str) -> list[WeightBlock]:
        value = getattr(self, attr)
        blocks = [value] if isinstance(value, WeightBlock) else list(value)
        for i, block in enumerate(blocks):
            if not isinstance(block, WeightBlock):
                raise ValueError(f"{attr}[{i}] must be a WeightBlock, got {type(block).__name__}")
        return blocks

    @property
    def n_neurons(self) -> int:
        return len(self.neuron_names)

    @property
    def has_refractory_or_reset(self) -> bool:
        """Whether any neuron needs the refractory period or a nonzero reset (so `GapLIF`, not Lava's LIF)."""
        return bool(np.any(self.refractory > 1) or np.any(self.v_reset != 0))

    @property
    def has_adaptation(self) -> bool:
        """Whether any neuron has an adaptation current (so `GapLIF`, with its w register)."""
        return bool(np.any(self.adapt_b != 0))

    @property
    def needs_gap_lif(self) -> bool:
        """Whether the network needs `GapLIF` rather than Lava's LIF: gap junctions, graded or conductance
        synapses, a refractory period, a reset ≠ 0 or adaptation."""
        return (
            bool(self.gap_weights or self.graded_weights or self.conductance_weights)
            or self.has_refractory_or_reset
            or self.has_adaptation
        )

    def graded_messages(self, v: np.ndarray) -> np.ndarray:
        """The graded activation messages (int64) every neuron sends for voltages `v` (its hard sigmoid)."""
        x = (np.asarray(v, dtype=np.int64) - self.graded_mu) * self.graded_slope_mant
        x = x + (np.left_shift(1, self.graded_slope_shift) >> 1)  # round to nearest
        return np.clip(GRADED_HALF + (x >> self.graded_slope_shift), 0, 2 * GRADED_HALF)

    @property
    def max_delay(self) -> int:
        """The longest recurrent synaptic delay in steps (0: no delays)."""
        return max((b.delay for b in self.weights), default=0)

    @property
    def n_inputs(self) -> int:
        return self.input_spikes.shape[1]

    @property
    def n_synapses(self) -> int:
        """Stored recurrent and input synapses (nonzero raw weights), over all blocks."""
        return sum(b.weights.nnz for b in (*self.weights, *self.input_weights, *self.conductance_weights))

    def bias_at(self, steps: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        """Effective int64 bias `mant << exp` at step 0 and the (step, bias) changes before `steps`."""
        changes = [(c.step, c.bias_mant << c.bias_exp) for c in self.bias_schedule if c.step < steps]
        return self.bias_mant << self.bias_exp, changes

    def input_at(self, steps: int) -> np.ndarray:
        """The input raster cut or zero-padded to exactly `steps` rows (what both backends play)."""
        out = np.zeros((steps, self.n_inputs), dtype=bool)
        m = min(steps, self.input_spikes.shape[0])
        out[:m] = self.input_spikes[:m]
        return out
