"""Quantize a `reward_stdp` (three-factor STDP) synapse block for Lava's `LearningDense` + `Loihi3FLearningRule`.

The rule (Brian2 semantics, `wormchip/backends/brian2_equations.py`; Izhikevich 2007, Cereb. Cortex 17:2443;
Frémaux & Gerstner 2016, Front. Neural Circuits 9:85): pairings feed an eligibility trace c instead of the
weight (pre spike: `apre += A₊; c += apost`; post spike: `apost += A₋; c += apre`, pre pathway first),
`τ_c dc/dt = −c`, and `dw/dt = η·c·D·w_max` with D a neuromodulator (dopamine) per post neuron that reward
pulses raise (`D += amount`) and that decays with τ_D.

On the chip (docs/compiler.md, "Three-factor STDP through LearningDense"):

- c is tag_1 (`t`), in units of `c_lsb`: `dt = ±V₊·y0·x1·d ± V₋·x0·y1·d − λ·u_k·t`. The pairing products carry
  tag_2 (`d`) = 32 on present synapses (0 elsewhere) as presence mask: their 20-bit products are shifted right
  by 5 bits, so d = 32 is neutral and absent entries never gain eligibility (hence never weight);
- the post trace y1 and the reward D come every step from a small fixed-point process
  (`wormchip.backends.reward_learning.RewardTraceUnit`): y1 is sent before this step's post spike is added,
  which is Brian2's pre-before-post order (Δt = 0 is pure LTP, no correction product needed); D is signed,
  sent as its positive part y2 = max(D, 0) and its negative part y3 = max(−D, 0) (Lava clips received post
  traces to [0, 127], so one trace cannot carry a negative reward);
- `dw = ±K·u_k·t·y2 ∓ K·u_k·t·y3` (two products, the second with the negated mantissa), applied every 2^k steps (Lava's decimated dependency u_k, one k per rule): the tag's
  decay λ = m·2^e ≥ 2⁻⁷ per update needs τ_c/2^k ≲ 128 steps, so slow eligibility (τ_c = 1 s at 1 ms) is
  decayed and read out every 2^k steps, the weight change scaled by 2^k;
- K = m·2^(e−5) LSB per (t·y2) per update is a single product (t·y2 is shifted by 5 bits), so c_lsb is
  derived from it: `c_lsb = K/(η·dt·2^k·D_lsb·W)`, W the weight LSB count of w_max (255).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from wormchip import ir
from wormchip.errors import QuantizationError
from wormchip.mappers.fixed_point import TRACE_MAX, TRACE_TAU_MAX, set_synapse_list
from wormchip.mappers.lower import LoweredNetwork, simulate_lowered
from wormchip.mappers.stdp import (
    SEED_STRIDE,
    U_SHIFT,
    W_TOP,
    choose_scale,
    impulse_max,
    mantissa_exponent,
    plastic_groups,
    terms_of,
)

MASK_PRESENT = 32  # tag_2 of a present synapse: neutral after the pairing products' 5-bit shift
TAG_MIN, TAG_MAX = -(2**8) - 1, 2**8 - 1  # tag_1 saturation in Lava's bit-approximate model
TRACE_FRAC_BITS = 8  # fractional bits of the trace process's y1 and D state
DECAY_BITS = 16  # the trace process's decay factors: round(2^16·e^(−1/τ))
DECIMATE_MAX = 9  # Lava reads the decimate exponent of `u<k>` as one digit
TAU_C_TOLERANCE = 0.025  # largest relative error of the eligibility decay per update before k grows
RATE_MAX_HZ = 100.0  # trace impulses stay below saturation (127) under periodic firing at this rate (bursts)
TAGS_PER_PAIRING = 16  # target tag increment of one full pairing (max |A|): headroom for ~16 pairings
FACTOR_WIDTHS = {"x1": 7, "y1": 7, "y2": 7, "y3": 7, "t": 9, "d": 9}  # lava.magma.core.learning.constants
MODULATOR_MARGIN = 1.25  # d_max above the D that modulator spikes reach in the float run


@dataclass(frozen=True)
class RewardProduct:
    """One product of a three-factor rule: `mantissa·2^exponent · dependency · Π factors`.

    Dependencies x0, y0 (spikes) and u (every 2^k steps); factors x1, y1, y2, y3 (traces), t (tag_1), d
    (tag_2)."""

    dependency: str
    factors: tuple[str, ...]
    mantissa: int
    exponent: int

    def __post_init__(self) -> None:
        if self.dependency not in ("x0", "y0", "u"):
            raise ValueError(f"dependency {self.dependency!r} must be x0, y0 or u")
        if not set(self.factors) <= set(FACTOR_WIDTHS):
            raise ValueError(f"factors {self.factors} must be among {sorted(FACTOR_WIDTHS)}")
        if not -8 <= self.mantissa <= 7 or self.mantissa == 0:
            raise ValueError(f"mantissa {self.mantissa!r} must be a nonzero integer in [-8, 7]")
        if not -7 <= self.exponent <= 8:
            raise ValueError(f"exponent {self.exponent!r} must be an integer in [-7, 8]")

    def text(self, decimate: int) -> str:
        """The term as Lava's parser reads it, sign in front (`- 1*2^-7 * u3 * t`)."""
        sign = "-" if self.mantissa < 0 else "+"
        dep = f"u{decimate}" if self.dependency == "u" else self.dependency
        return f"{sign} {abs(self.mantissa)}*2^{self.exponent} * " + " * ".join((dep, *self.factors))


@dataclass(frozen=True, eq=False)
class RewardPlasticBlock:
    """One three-factor plastic matrix (n_post × n_pre): a `LearningDense` with a `Loihi3FLearningRule`.

    `weights` in [0, 255] (`sign` +1, EXCITATORY) or [−255, 0] (−1, INHIBITORY), 0 where `mask` (tag_2) is 0;
    `dt_products` learn the eligibility tag_1 (starting at 0), `dw_products` the weight, u every
    2^`decimate` steps. Pre trace x1: `x1_impulse`, `x1_tau` steps (Lava's). Post trace y1 and reward D
    (y2 = max(D, 0), y3 = max(−D, 0)) come from the trace process: `y1_impulse`, decays `y1_decay`/`d_decay`
    (×2⁻¹⁶ per step), D in units of `d_lsb` (y2 = 1 is D = d_lsb, |D| saturates at 127·d_lsb); `c_lsb`: the eligibility c of one tag unit. `rng_seed`: Lava's trace streams.
    `syn_post`, `syn_pre`, `syn_projection`, `w_max`: the synapses, their projections and bounds in weight LSB
    (the clip is at 255), as `PlasticBlock`'s; `reward`: the D increment per step in the trace process's fixed
    point (`reward_increment`; steps past its end get none), for a block inside a network; each spike of the
    neurons `modulators` (network indices) adds `modulator_increment` (D += 1) in the same step.
    """

    weights: np.ndarray
    mask: np.ndarray
    sign: int
    weight_exp: int
    x1_impulse: int
    x1_tau: int
    y1_impulse: int
    y1_decay: int
    d_decay: int
    d_lsb: float
    c_lsb: float
    decimate: int
    dt_products: tuple[RewardProduct, ...]
    dw_products: tuple[RewardProduct, ...]
    rng_seed: int = 0
    syn_post: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    syn_pre: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    syn_projection: tuple[str, ...] = ()
    w_max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reward: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    modulators: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    modulator_increment: int = 0

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.int64)
        mask = np.asarray(self.mask, dtype=np.int64)
        lo, hi = (0, W_TOP) if self.sign > 0 else (-W_TOP, 0)
        if w.ndim != 2 or mask.shape != w.shape:
            raise ValueError("weights and mask must be matrices of one shape (post × pre)")
        if self.sign not in (1, -1) or np.any((w < lo) | (w > hi)):
            raise ValueError(f"sign must be ±1 and the weights within [{lo}, {hi}]")
        if not np.all((mask == 0) | (mask == MASK_PRESENT)) or np.any(w[mask == 0] != 0):
            raise ValueError(f"mask must hold 0 or {MASK_PRESENT}, with zero weights where it is 0")
        for name in ("x1_impulse", "y1_impulse"):
            if not 0 <= getattr(self, name) <= TRACE_MAX:
                raise ValueError(f"{name} must be in [0, {TRACE_MAX}]")
        if not 1 <= self.x1_tau <= TRACE_TAU_MAX or not 0 <= self.decimate <= DECIMATE_MAX:
            raise ValueError(f"x1_tau must be in [1, {TRACE_TAU_MAX}] and decimate in [0, {DECIMATE_MAX}]")
        set_synapse_list(self, mask, "the mask's")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "mask", mask)
        object.__setattr__(self, "reward", np.asarray(self.reward, dtype=np.int64))
        object.__setattr__(self, "modulators", np.asarray(self.modulators, dtype=np.int64))

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    def dt(self) -> str:
        """The rule's dt (tag_1) string."""
        return _series(self.dt_products, self.decimate)

    def dw(self) -> str:
        """The rule's dw string."""
        return _series(self.dw_products, self.decimate)

    def reward_increment(self, amount: float) -> int:
        """A reward pulse `amount` (added to D, either sign) in the trace process's fixed point (D/d_lsb·2⁸)."""
        return int(round(amount / self.d_lsb * 2**TRACE_FRAC_BITS))


def _series(products: tuple[RewardProduct, ...], decimate: int) -> str:
    text = " ".join(p.text(decimate) for p in products)
    return text[2:] if text.startswith("+ ") else text


def decay_factor(tau_steps: float) -> int:
    """The trace process's per-step decay round(2^16·e^(−1/τ))."""
    return int(round(2**DECAY_BITS * math.exp(-1.0 / tau_steps)))


def eligibility_decay(tau_c_steps: float) -> tuple[int, int]:
    """(decimate k, λ in units of 2⁻⁷): the tag decays by λ·2⁻⁷·t every 2^k steps, λ one product m·2^j.

    The smallest k whose λ is within `TAU_C_TOLERANCE` of 1 − e^(−2^k/τ_c), else the most accurate k."""
    best = None
    for k in range(DECIMATE_MAX + 1):
        ideal = -math.expm1(-(2**k) / tau_c_steps) * 128
        value = _nearest_single(ideal)
        err = abs(value / ideal - 1)
        if err <= TAU_C_TOLERANCE:
            return k, value
        if best is None or err < best[0]:
            best = (err, k, value)
    return best[1], best[2]


def _nearest_single(ideal: float) -> int:
    """The single-product scale m·2^j (units of 2⁻⁷, j ≤ 15) nearest to `ideal` in ratio."""
    candidates = [m << j for m in range(1, 8) for j in range(16)]
    return min(candidates, key=lambda v: abs(math.log(v / ideal)))


def reward_block(
    pre: np.ndarray,
    post: np.ndarray,
    w0: np.ndarray,
    shape: tuple[int, int],
    params: dict[str, float],
    dt: float,
    sign: int = 1,
    d_max: float = 4.0,
    rng_seed: int = 0,
    rate_max_hz: float = RATE_MAX_HZ,
    w_top: float = W_TOP,
    weight_exp: int = 0,
    projection: str = "",
) -> tuple[RewardPlasticBlock, dict[str, float]]:
    """The block of synapses `pre[k] → post[k]` with initial weights `w0[k]` as fractions of 255 LSB (in [0, 1]).

    `params`: the `reward_stdp` rule in SI (A_plus, A_minus, tau_plus, tau_minus, tau_c, tau_D, eta); `d_max`:
    the |D| that saturates y2 or y3 (127); `w_top`: w_max in weight LSB, which scales dw (255 unless the block's rows
    were scaled before, `network_reward_blocks`); `weight_exp`: the Dense exponent into a_in; `projection`: the
    synapses' projection name. Returns the block and the relative errors of what was rounded (`ltp_amplitude`,
    `ltd_amplitude`, `tau_c`, `y1_tau`, `tau_D`)."""
    p = params
    weights, mask = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
    weights[post, pre] = sign * np.clip(np.round(np.asarray(w0) * W_TOP), 0, W_TOP).astype(np.int64)
    mask[post, pre] = MASK_PRESENT
    tau_x = max(int(round(p["tau_plus"] / dt)), 1)
    if tau_x > TRACE_TAU_MAX:
        raise QuantizationError(f"tau_plus = {p['tau_plus'] * 1e3:g} ms is more than {TRACE_TAU_MAX} steps")
    k, lam = eligibility_decay(p["tau_c"] / dt)
    d_lsb = d_max / TRACE_MAX
    per_unit = p["eta"] * dt * 2**k * d_lsb * w_top  # LSB per update per (c·y2) unit of c
    a_ref = max(abs(p["A_plus"]), abs(p["A_minus"]))
    k_scale = _nearest_single(per_unit * a_ref / TAGS_PER_PAIRING * 2**12)  # K in units of 2⁻¹²
    c_lsb = k_scale / 2**12 / per_unit
    i_x, v_plus = choose_scale(abs(p["A_plus"]) / c_lsb, impulse_max(tau_x * dt, rate_max_hz))
    i_y, v_minus = choose_scale(
        abs(p["A_minus"]) / c_lsb, impulse_max(p["tau_minus"], rate_max_hz), n_terms=2
    )
    dt_products = [_product("y0", ("x1", "d"), np.sign(p["A_plus"]), v_plus)]
    dt_products += [_product("x0", ("y1", "d"), np.sign(p["A_minus"]), v) for v in terms_of(v_minus, 2)]
    dt_products.append(_product("u", ("t",), -1, lam))
    m, e = mantissa_exponent(k_scale)  # k_scale = m·2^(e+7) in units of 2⁻¹²: K = m·2^(e−5)
    block = RewardPlasticBlock(
        weights=weights,
        mask=mask,
        sign=sign,
        weight_exp=weight_exp,
        x1_impulse=i_x,
        x1_tau=tau_x,
        y1_impulse=i_y,
        y1_decay=decay_factor(p["tau_minus"] / dt),
        d_decay=decay_factor(p["tau_D"] / dt),
        d_lsb=d_lsb,
        c_lsb=c_lsb,
        decimate=k,
        dt_products=tuple(dt_products),
        dw_products=(
            RewardProduct("u", ("t", "y2"), sign * m, e),
            RewardProduct("u", ("t", "y3"), -sign * m, e),
        ),
        rng_seed=rng_seed,
        syn_post=post,
        syn_pre=pre,
        syn_projection=(projection,) * len(post),
        w_max=np.full(len(post), float(w_top)),
    )
    errors = {
        "ltp_amplitude": abs(v_plus * i_x / 128 * c_lsb / abs(p["A_plus"]) - 1),
        "ltd_amplitude": abs(v_minus * i_y / 128 * c_lsb / abs(p["A_minus"]) - 1),
        "tau_c": abs(lam / 128 / -math.expm1(-(2**k) * dt / p["tau_c"]) - 1),
        "y1_tau": _tau_error(block.y1_decay, p["tau_minus"] / dt),
        "tau_D": _tau_error(block.d_decay, p["tau_D"] / dt),
    }
    return block, errors


def _product(dependency: str, factors: tuple[str, ...], sign: float, value: int) -> RewardProduct:
    """A product whose scale is `value` units of 2⁻⁷ (a single m·2^(e+7)), with `sign`."""
    m, e = mantissa_exponent(value)
    return RewardProduct(dependency, factors, int(sign) * m, e)


def _tau_error(decay: int, tau_steps: float) -> float:
    """Relative error of the time constant a fixed-point decay factor gives."""
    return abs(-1.0 / math.log(decay / 2**DECAY_BITS) / tau_steps - 1)


def reward_block_from_ir(
    network: ir.Network, projection: str, d_max: float | None = None, rng_seed: int = 0
) -> tuple[RewardPlasticBlock, np.ndarray, dict[str, float]]:
    """The block of one `reward_stdp` projection of an IR network (n × n, network neuron order) and its
    reward raster (per-step D increments over `network.duration`, fixed point) and errors (`reward_block`).

    Weights start at |w|/w_max = 1/w_max_scale, as Brian2's; the block's own weight scale (`weight_exp` 0) is
    not aligned with the LIF voltage scale: the block runs driven by spike rasters (`run_reward_block`).
    `d_max` defaults to the largest |D| the reward pulses reach. Modulator neurons, delays and synapses other
    than exp_current/exp_conductance raise `QuantizationError`."""
    proj = next((p for p in network.projections if p.name == projection), None)
    rule = next((r for r in proj.plasticity if r.rule == "reward_stdp"), None) if proj else None
    if rule is None:
        raise QuantizationError(f"network {network.name!r} has no reward_stdp projection {projection!r}")
    if (
        len(rule.modulators)
        or proj.params.get("delay")
        or proj.synapse not in ("exp_current", "exp_conductance")
    ):
        raise QuantizationError(
            f"projection {projection}: modulator neurons, delays and {proj.synapse} synapses are not handled "
            "by the one-block path (modulator neurons run in networks: lower, quantize)"
        )
    steps = int(round(network.duration / network.dt))
    pulses = np.floor(np.asarray(rule.reward_times) / network.dt + 1e-3).astype(np.int64)
    inside = (pulses >= 0) & (pulses < steps)
    amounts = np.zeros(steps)
    np.add.at(amounts, pulses[inside], np.asarray(rule.reward_amounts, dtype=float)[inside])
    if d_max is None:
        d_max = max(
            float(np.max(np.abs(_d_trajectory(amounts, rule.params["tau_D"] / network.dt)), initial=0.0)),
            1e-9,
        )
    w0 = np.full(len(proj.pre), 1.0 / max(float(rule.params.get("w_max_scale", 2.0)), 1.0))
    n = network.size
    sign = -1 if np.all(proj.weight < 0) else 1
    if np.any(np.sign(proj.weight) == -sign):
        raise QuantizationError(f"projection {projection}: one sign per reward_stdp projection")
    block, errors = reward_block(
        proj.pre, proj.post, w0, (n, n), rule.params, network.dt, sign, d_max, rng_seed
    )
    reward = np.array([block.reward_increment(a) for a in amounts], dtype=np.int64)
    return block, reward, errors


def _d_trajectory(amounts: np.ndarray, tau_steps: float) -> np.ndarray:
    """D after each step under the reward increments `amounts` (exponential decay per step)."""
    out, d, decay = np.zeros(len(amounts)), 0.0, math.exp(-1.0 / tau_steps)
    for k, a in enumerate(amounts):
        d = d * decay + a
        out[k] = d
    return out


def network_reward_blocks(
    lowered: LoweredNetwork,
    s: np.ndarray,
    exps: list[int],
    rate_max_hz: float = RATE_MAX_HZ,
    d_max: float | None = None,
) -> tuple[tuple[RewardPlasticBlock, ...], dict[str, float], list[str]]:
    """The `RewardPlasticBlock`s of a lowered network's `reward_stdp` projections, one per sign and rule
    (`plastic_groups`), at voltage scale `s` with the exponents `align_scales` chose (w_max ↔ 255 LSB, as
    for pair STDP), with their reward rasters; the errors (largest over blocks) and notes.

    Weights and their bounds are in the block's LSB (`s_i·2⁶·2^e` V per step); dw is scaled to the block's
    largest w_max (one amplitude per block, as `plastic_blocks`). `d_max` (the |D| that saturates y2 or y3)
    defaults to the largest |D| the rule's pulses reach (with modulator neurons, plus 1 per modulator spike of the
    lowered network's float run at its initial weights, `simulate_lowered`, with a 25 % margin), or 1 when
    nothing raises D; `rng_seed` = 4·(group index)."""
    n, dt = lowered.n_neurons, lowered.dt
    blocks, notes = [], []
    errors = {
        "reward_ltp_amplitude": 0.0,
        "reward_ltd_amplitude": 0.0,
        "reward_tau_c": 0.0,
        "reward_w_max_clip": 0.0,
    }
    for b, (key, members) in enumerate(plastic_groups(lowered).items()):
        if key[0] != "reward_stdp":
            continue
        _, sign, rule_name = key
        e = exps[b]
        lsb = s * 2**U_SHIFT * 2.0**e  # V per step per weight LSB, per post neuron
        post = np.concatenate([proj.post[sel] for proj, sel in members])
        pre = np.concatenate([proj.pre[sel] for proj, sel in members])
        if len(set(zip(post.tolist(), pre.tolist()))) < len(post):
            raise QuantizationError(
                f"reward_stdp rule {rule_name}: parallel plastic synapses between one pair of neurons "
                "(a LearningDense holds one weight per pair)"
            )
        w0 = np.concatenate([proj.w0[sel] for proj, sel in members]) / lsb[post]
        wmax = np.concatenate([proj.w_max[sel] for proj, sel in members]) / lsb[post]
        w_ref = float(min(wmax.max(), W_TOP))
        first = members[0][0]
        params = {
            "A_plus": first.A_plus,
            "A_minus": first.A_minus,
            "tau_plus": first.tau_plus,
            "tau_minus": first.tau_minus,
            "tau_c": first.tau_c,
            "tau_D": first.tau_D,
            "eta": first.eta,
        }
        amounts = np.zeros(lowered.steps)
        inside = (first.reward_steps >= 0) & (first.reward_steps < lowered.steps)
        np.add.at(amounts, first.reward_steps[inside], first.reward_amounts[inside])
        block_d_max = d_max
        if block_d_max is None:
            expected = amounts
            if len(first.modulators):  # D += 1 per modulator spike: from the float run, with a margin
                spikes = simulate_lowered(lowered)[1]
                expected = amounts + spikes[:, first.modulators].sum(axis=1)
            reached = float(np.max(np.abs(_d_trajectory(expected, first.tau_D / dt)), initial=0.0))
            reached *= MODULATOR_MARGIN if len(first.modulators) else 1.0
            block_d_max = reached if reached > 0 else 1.0
        block, err = reward_block(
            pre,
            post,
            w0 / W_TOP,
            (n, n),
            params,
            dt,
            sign,
            block_d_max,
            SEED_STRIDE * b,
            rate_max_hz,
            w_ref,
            e,
        )
        names = tuple(proj.name for proj, sel in members for _ in range(int(sel.sum())))
        reward = np.array([block.reward_increment(a) for a in amounts], dtype=np.int64)
        block = replace(
            block,
            syn_projection=names,
            w_max=wmax,
            reward=reward,
            modulators=first.modulators,
            modulator_increment=block.reward_increment(1.0) if len(first.modulators) else 0,
        )
        errors["reward_ltp_amplitude"] = max(errors["reward_ltp_amplitude"], err["ltp_amplitude"])
        errors["reward_ltd_amplitude"] = max(errors["reward_ltd_amplitude"], err["ltd_amplitude"])
        errors["reward_tau_c"] = max(errors["reward_tau_c"], err["tau_c"])
        errors["reward_w_max_clip"] = max(
            errors["reward_w_max_clip"], float(np.max(np.abs(w_ref / wmax - 1)))
        )
        blocks.append(block)
        notes.append(
            f"reward block {len(blocks) - 1} (rule {rule_name}, {'excitatory' if sign > 0 else 'inhibitory'}, "
            f"{len(post)} synapses): weight_exp {e}, w_max {w_ref:.4g} LSB, D saturates at {block_d_max:.4g}, "
            f"dt = {block.dt()}, dw = {block.dw()}"
        )
    return tuple(blocks), errors, notes
