"""Quantize `stdp` projections into `PlasticBlock`s: Lava `LearningDense` + `Loihi2FLearningRule` (fixed_pt).

The mapping (docs/compiler.md, "STDP through LearningDense"; measured in the design study behind it):

- one block per sign and rule (SignMode.EXCITATORY, or INHIBITORY with the rule negated: Brian2 keeps a
  magnitude w ∈ [0, w_max] with a separate sign);
- the weight LSB of post neuron i is `s_i·2⁶·2^weight_exp` volts per step; `align_scales` makes the block's
  largest w_max map to 255 LSB (Lava's saturation, the exact w_max clip), coarsening s_i where needed;
- τ in whole steps; integer trace impulses I and scales V (units of 2⁻⁷ LSB, sums of m·2^e products) with
  V·I/128 = |A|·W, W the block's w_max in LSB (`choose_scale`), so E[Δw] per pairing is exact up to < 1 %;
- dw = ± V₊·t·y0·x1 ∓ V₋·t·x0·y1 ± (V₋I_y/4)·x0·y0·t·t (V₋ may take two products): the last term removes
  the same-step LTD Lava counts (Brian2 runs the pre pathway first, so Δt = 0 is pure LTP); t_epoch = 1;
- t = tag_1 = 32 on present synapses, 0 elsewhere: LearningDense learns every matrix entry, and the
  engine's 5-bit right shift of 20-bit products makes t = 32 neutral; x0·y0·t·t is shifted by 8 bits, so
  there t·t counts 4 (hence /4; a plain x0·y0·t is not shifted, counts 32, and would quantize the LTD
  amplitude to 0.25 LSB: 2.7 % off at the default A₋).
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import cache

import numpy as np

from wormchip.errors import QuantizationError
from wormchip.mappers.fixed_point import (
    TAG_PRESENT,
    TRACE_MAX,
    TRACE_TAU_MAX,
    WEIGHT_EXP_MAX,
    WEIGHT_EXP_MIN,
    LearningProduct,
    PlasticBlock,
)
from wormchip.mappers.lower import LoweredNetwork, PlasticProjection

W_TOP = 255  # w_max ↔ 255 LSB: Lava's 8-bit saturation is then the w_max clip
U_SHIFT = 6
RATE_MAX_HZ = 20.0  # expected peak rate: trace impulses stay below saturation (127) at this periodic rate
SEED_STRIDE = 4  # a block's TraceRandoms use rng_seed … rng_seed + 3
# The Δt = 0 term x0·y0·t·t: factor widths 1 + 9 + 9 (+ 4 mantissa) − 15 = 8 bits shifted out, so on a present
# synapse it is worth 32·32 >> 8 = 4 times its scale (0 on absent ones); its value must be a multiple of 4.
FIX_FACTORS = ("y0", "t", "t")
FIX_GAIN = TAG_PRESENT**2 >> 8


@cache
def _single_terms() -> tuple[int, ...]:
    """Every m·2^k (1 ≤ m ≤ 7, k = e + 7 in 0…15): one product's scale in units of 2⁻⁷ LSB."""
    return tuple(sorted({m << k for m in range(1, 8) for k in range(16)}))


def terms_of(value: int, n_terms: int) -> list[int] | None:
    """`value` (units of 2⁻⁷ LSB) as ≤ n_terms single-product scales, greedy from the largest; None if not."""
    if value == 0:
        return []
    single = _single_terms()
    if value in single:
        return [value]
    if n_terms <= 1:
        return None
    for a in reversed(single):
        if a < value:
            rest = terms_of(value - a, n_terms - 1)
            if rest is not None:
                return [a, *rest]
    return None


def mantissa_exponent(value: int) -> tuple[int, int]:
    """A single-product scale m·2^k as Lava's (mantissa m ≤ 7, exponent e = k − 7)."""
    k = 0
    while value % 2 == 0 and value > 7:
        value //= 2
        k += 1
    return value, k - 7


@cache
def _scales(n_terms: int) -> np.ndarray:
    """Every scale (units of 2⁻⁷ LSB) that ≤ n_terms (1 or 2) products can make."""
    single = _single_terms()
    if n_terms == 1:
        return np.array(single)
    return np.array(sorted({a + b for a in single for b in single} | set(single)))


def choose_scale(
    target: float, impulse_max: int, coincidence: bool = False, n_terms: int = 1
) -> tuple[int, int]:
    """(impulse I ≤ impulse_max, scale V of ≤ n_terms products) with V·I/128 closest to `target` LSB; ties:
    larger I. `coincidence`: also require V·I/4 to be a whole number of ≤ 2 products (the x0·y0·t·t term)."""
    values = _scales(n_terms)
    best = None
    for impulse in range(1, impulse_max + 1):
        ideal = target * 128 / impulse
        for v in values[np.argsort(np.abs(values - ideal))[:8]]:
            v = int(v)
            if coincidence and ((v * impulse) % FIX_GAIN or terms_of(v * impulse // FIX_GAIN, 2) is None):
                continue
            key = (round(abs(v * impulse / 128 / target - 1), 6), -impulse)
            if best is None or key < best[0]:
                best = (key, impulse, v)
            break
    if best is None:
        raise QuantizationError(f"no trace impulse and scale represent {target:.4g} LSB per pairing")
    return best[1], best[2]


def impulse_max(tau_s: float, rate_hz: float) -> int:
    """Largest impulse I whose trace stays ≤ 127 under periodic firing at `rate_hz`: 127·(1 − e^(−1/(rτ)))."""
    return max(1, min(TRACE_MAX, int(TRACE_MAX * -math.expm1(-1.0 / (rate_hz * tau_s)))))


def plastic_groups(lowered: LoweredNetwork) -> dict[tuple, list[tuple[PlasticProjection, np.ndarray]]]:
    """Plastic synapses grouped by (sign, A₊, A₋, τ₊ steps, τ₋ steps) for stdp and by ("reward_stdp", sign,
    rule name) for reward_stdp (`wormchip.mappers.reward_stdp`): one LearningDense each, in projection order."""
    out: dict[tuple, list[tuple[PlasticProjection, np.ndarray]]] = defaultdict(list)
    for proj in lowered.plastic:
        if proj.rule == "reward_stdp":  # one rule, one D per post neuron: its blocks group by rule name
            for sign in (1, -1):
                sel = proj.sign == sign
                if sel.any():
                    out[("reward_stdp", sign, proj.rule_name)].append((proj, sel))
            continue
        taus = []
        for key in ("tau_plus", "tau_minus"):
            steps = max(int(round(getattr(proj, key) / lowered.dt)), 1)
            if steps > TRACE_TAU_MAX:
                raise QuantizationError(
                    f"projection {proj.name}: {key} = {getattr(proj, key) * 1e3:g} ms is {steps} steps of "
                    f"{lowered.dt * 1e3:g} ms, more than the {TRACE_TAU_MAX}-step trace time constant field"
                )
            taus.append(steps)
        for sign in (1, -1):
            sel = proj.sign == sign
            if sel.any():
                out[(sign, proj.A_plus, proj.A_minus, *taus)].append((proj, sel))
    return out


def _row_wmax(n: int, members: list[tuple[PlasticProjection, np.ndarray]]) -> np.ndarray:
    """Largest w_max (V per step) of the group's synapses onto each neuron (0 where none)."""
    out = np.zeros(n)
    for proj, sel in members:
        np.maximum.at(out, proj.post[sel], proj.w_max[sel])
    return out


def align_scales(lowered: LoweredNetwork, s: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Coarsen the voltage scale s of plastic post neurons so each block's w_max maps to 255 LSB.

    Per block, one exponent e: the largest that keeps every (not yet aligned) row's s_i unchanged or coarser,
    s_i = w_max_i/(255·2⁶·2^e) (and that fits rows an earlier block aligned). Returns (s, exponents).
    """
    s = s.copy()
    locked = np.zeros(len(s), dtype=bool)
    exps = []
    for members in plastic_groups(lowered).values():
        wmax = _row_wmax(len(s), members)
        rows = wmax > 0
        ratio = wmax / (W_TOP * 2**U_SHIFT * s)
        free, fixed = rows & ~locked, rows & locked
        e = math.floor(math.log2(ratio[free].min())) if free.any() else WEIGHT_EXP_MIN
        if fixed.any():
            e = max(e, math.ceil(math.log2(ratio[fixed].max())))
        e = int(np.clip(e, WEIGHT_EXP_MIN, WEIGHT_EXP_MAX))
        s[free] = np.maximum(s[free], wmax[free] / (W_TOP * 2**U_SHIFT * 2.0**e))
        locked |= rows
        exps.append(e)
    return s, exps


def plastic_blocks(
    lowered: LoweredNetwork, s: np.ndarray, exps: list[int], rate_max_hz: float = RATE_MAX_HZ
) -> tuple[tuple[PlasticBlock, ...], dict[str, float], list[str]]:
    """The `PlasticBlock`s at voltage scale `s` (from `align_scales`), the amplitude errors and notes."""
    n = lowered.n_neurons
    blocks, notes = [], []
    amp_err = {"stdp_ltp_amplitude": 0.0, "stdp_ltd_amplitude": 0.0, "stdp_w_max_clip": 0.0}
    for b, (key, members) in enumerate(plastic_groups(lowered).items()):
        if key[0] == "reward_stdp":  # `wormchip.mappers.reward_stdp.network_reward_blocks`
            continue
        sign, a_plus, a_minus, tau_x, tau_y = key
        e = exps[b]
        lsb = s * 2**U_SHIFT * 2.0**e  # V per step per weight LSB, per post neuron
        weights = np.zeros((n, n), dtype=np.int64)
        tag = np.zeros((n, n), dtype=np.int64)
        posts, pres, names, wmax_lsb = [], [], [], []
        for proj, sel in members:
            post, pre = proj.post[sel], proj.pre[sel]
            if np.any(tag[post, pre]) or len(set(zip(post.tolist(), pre.tolist()))) < len(post):
                raise QuantizationError(
                    f"projection {proj.name}: parallel plastic synapses between one pair of neurons "
                    "(a LearningDense holds one weight per pair)"
                )
            weights[post, pre] = sign * np.clip(np.round(proj.w0[sel] / lsb[post]), 0, W_TOP).astype(np.int64)
            tag[post, pre] = TAG_PRESENT
            posts.append(post)
            pres.append(pre)
            names += [proj.name] * len(post)
            wmax_lsb.append(proj.w_max[sel] / lsb[post])
        wmax_lsb = np.concatenate(wmax_lsb)
        amp_err["stdp_w_max_clip"] = max(
            amp_err["stdp_w_max_clip"],
            float(np.max(np.abs(np.minimum(wmax_lsb.max(), W_TOP) / wmax_lsb - 1))),
        )
        w_ref = float(min(wmax_lsb.max(), W_TOP))  # the amplitude's reference: the block's (clipped) w_max
        i_x, v_plus = choose_scale(abs(a_plus) * w_ref, impulse_max(tau_x * lowered.dt, rate_max_hz))
        i_y, v_minus = choose_scale(
            abs(a_minus) * w_ref, impulse_max(tau_y * lowered.dt, rate_max_hz), coincidence=True, n_terms=2
        )
        products = []
        if a_plus:
            m, ex = mantissa_exponent(v_plus)
            products.append(LearningProduct("y0", ("t", "x1"), int(sign * np.sign(a_plus) * m), ex))
        if a_minus:
            for term in terms_of(v_minus, 2):
                m, ex = mantissa_exponent(term)
                products.append(LearningProduct("x0", ("t", "y1"), int(sign * np.sign(a_minus) * m), ex))
            for term in terms_of(v_minus * i_y // FIX_GAIN, 2):
                m, ex = mantissa_exponent(term)
                products.append(LearningProduct("x0", FIX_FACTORS, int(-sign * np.sign(a_minus) * m), ex))
        if a_plus:
            amp_err["stdp_ltp_amplitude"] = max(
                amp_err["stdp_ltp_amplitude"], abs(v_plus * i_x / 128 / (abs(a_plus) * w_ref) - 1)
            )
        if a_minus:
            amp_err["stdp_ltd_amplitude"] = max(
                amp_err["stdp_ltd_amplitude"], abs(v_minus * i_y / 128 / (abs(a_minus) * w_ref) - 1)
            )
        block = PlasticBlock(
            weights=weights,
            tag=tag,
            sign=sign,
            weight_exp=e,
            x1_impulse=i_x,
            x1_tau=tau_x,
            y1_impulse=i_y,
            y1_tau=tau_y,
            products=tuple(products),
            rng_seed=SEED_STRIDE * b,
            syn_post=np.concatenate(posts),
            syn_pre=np.concatenate(pres),
            syn_projection=tuple(names),
            w_max=wmax_lsb,
        )
        blocks.append(block)
        notes.append(
            f"plastic block {b} ({'excitatory' if sign > 0 else 'inhibitory'}, {len(names)} synapses): "
            f"weight_exp {e}, w_max {w_ref:.4g} LSB, impulses {i_x}/{i_y}, τ {tau_x}/{tau_y} steps, "
            f"dw = {block.dw()}"
        )
    return tuple(blocks), amp_err, notes
