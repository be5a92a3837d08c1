"""Three-factor STDP in fixed point: the trace process and a bit-exact NumPy model of Lava's LearningDense.

`RewardTraceUnit` is the small fixed-point process that sends a `RewardPlasticBlock` its post trace y1 and
reward D (its positive part as y2, its negative part as y3) every step; Lava runs the same code (`wormchip.backends.lava_reward`), so it is exact there
by construction. `RewardLearningState` re-implements Lava 0.10's `PyLearningDenseModelBitApproximate` with a
`Loihi3FLearningRule` (lava/magma/core/model/py/connection.py, learning_rule_applier.py), for what
`wormchip.mappers.reward_stdp` emits, t_epoch = 1:

1. the output uses the weights before this step's learning (as a Dense);
2. random draws as for two-factor STDP (`wormchip.backends.learning`): each TraceRandom advances twice, then
   ConnVarRandom (seed 2) once; one uniform each for x decay, y decay and the rounding of both tag_1 and w;
3. x1: decay with stochastic rounding, impulse on a pre spike, clip to 127. The received y1, y2, y3 are
   decayed once with Lava's 3F post time constant 2¹⁶ − 1 (one random number for all; mostly the identity);
4. dt and dw are both evaluated on the step's old tag_1 and weights (u = 1 when Lava's time step k + 1 is a
   multiple of 2^decimate), each product `dep·Π clip(factor)·m >> max(0, Σwidths + 4 − 15) << (e + 7)`,
   saturated to ±2¹⁵, summed; w: sign clamp; both rounded with the same random number at 2⁷, `>> 7`,
   clipped (w to [0, 255] or [−255, 0], tag_1 to [−257, 255]).
"""

from __future__ import annotations

import numpy as np

from wormchip.backends.learning import (
    apply_products,
    dense_output,
    prepared_products,
    stochastic_decay,
    stochastic_round,
    trace_randoms,
)
from wormchip.mappers.fixed_point import TRACE_MAX
from wormchip.mappers.reward_stdp import (
    DECAY_BITS,
    FACTOR_WIDTHS,
    TAG_MAX,
    TAG_MIN,
    TRACE_FRAC_BITS,
    RewardPlasticBlock,
)

Y_TAU_3F = 2**16 - 1  # Loihi3FLearningRule's y1/y2/y3 tau: np.iinfo(np.uint16).max
HALF = 1 << (TRACE_FRAC_BITS - 1)


class RewardTraceUnit:
    """Post trace y1 and reward D per post neuron (the block's rows, or `n_post` of them for one core's
    piece), integers with 8 fractional bits.

    Each step: y1 decays, is sent (rounded, ≤ 127), then gains `y1_impulse` per post spike (Brian2's
    pre-before-post order: a same-step pre spike sees the trace without this spike). D is sent as it was
    after the previous step (Brian2's state update reads it before this step's events), its positive part as
    y2 and its negative part as y3 (Lava clips received traces below 0), then decays (its magnitude, so
    either sign decays alike) and gains the step's reward increment (`RewardPlasticBlock.reward_increment`),
    |D| saturating at 127."""

    def __init__(self, block: RewardPlasticBlock, n_post: int | None = None) -> None:
        n_post = block.shape[0] if n_post is None else n_post
        self.y1 = np.zeros(n_post, dtype=np.int64)
        self.d = np.zeros(n_post, dtype=np.int64)
        self.impulse = block.y1_impulse << TRACE_FRAC_BITS
        self.y1_decay, self.d_decay = block.y1_decay, block.d_decay

    def step(self, post: np.ndarray, reward: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y1, y2, y3) to send this step, for the post spikes `post` and the reward increment `reward`."""
        top = TRACE_MAX << TRACE_FRAC_BITS
        self.y1 = (self.y1 * self.y1_decay) >> DECAY_BITS
        y1 = np.minimum((self.y1 + HALF) >> TRACE_FRAC_BITS, TRACE_MAX)
        y2 = np.minimum((np.maximum(self.d, 0) + HALF) >> TRACE_FRAC_BITS, TRACE_MAX)
        y3 = np.minimum((np.maximum(-self.d, 0) + HALF) >> TRACE_FRAC_BITS, TRACE_MAX)
        self.y1 = np.minimum(self.y1 + self.impulse * post, top)
        decayed = np.sign(self.d) * ((np.abs(self.d) * self.d_decay) >> DECAY_BITS)
        self.d = np.clip(decayed + reward, -top, top)
        return y1.astype(np.int64), y2.astype(np.int64), y3.astype(np.int64)


class RewardLearningState:
    """The running state of one `RewardPlasticBlock`: weights, tag_1, the pre trace x1, random streams."""

    def __init__(self, block: RewardPlasticBlock) -> None:
        self.block = block
        self.w = block.weights.copy()
        self.tag = np.zeros_like(self.w)
        self.x1 = np.zeros(block.shape[1], dtype=np.int64)
        self.x_rng, self.y_rng, self.conn_rng = trace_randoms(block.rng_seed)
        self.x_decay = float(np.exp(-1 / np.array([block.x1_tau]))[0])
        self.y_decay = float(np.exp(-1 / np.array([Y_TAU_3F]))[0])
        self.period = 2**block.decimate
        self.w_lo, self.w_hi = (0, 255) if block.sign > 0 else (-255, 0)
        self.dw_products = prepared_products(block.dw_products, FACTOR_WIDTHS)
        self.dt_products = prepared_products(block.dt_products, FACTOR_WIDTHS)

    def output(self, fired: np.ndarray) -> np.ndarray:
        """The block's a_out for the pre spikes `fired`, with this step's (not yet learnt) weights."""
        return dense_output(self.w, fired, self.block.weight_exp)

    def learn(
        self, step: int, pre: np.ndarray, post: np.ndarray, y1: np.ndarray, y2: np.ndarray, y3: np.ndarray
    ) -> None:
        """Learning at emulator step `step` (Lava's time step + 1) from the spikes and the received y1..y3."""
        for _ in range(2):
            rx = self.x_rng.random(1)[0]
            ry = self.y_rng.random(1)[0]
        r = self.conn_rng.random(1)[0]
        b = self.block
        self.x1 = stochastic_decay(self.x1, self.x_decay, rx)
        self.x1[pre] = np.clip(self.x1[pre] + b.x1_impulse, 0, TRACE_MAX)
        u = int((step + 1) % self.period == 0)
        if not (u or pre.any() or post.any()):
            return  # every product is 0: accumulators are exact multiples of 2⁷, rounding keeps them
        values = {
            "x0": pre.astype(np.int64)[None, :],
            "y0": post.astype(np.int64)[:, None],
            "u": np.int64(u),
            "x1": self.x1[None, :],
            "y1": stochastic_decay(y1, self.y_decay, ry)[:, None],
            "y2": stochastic_decay(y2, self.y_decay, ry)[:, None],
            "y3": stochastic_decay(y3, self.y_decay, ry)[:, None],
            "t": self.tag,
            "d": b.mask,
        }
        w = apply_products(self.w << 7, self.dw_products, values, FACTOR_WIDTHS)
        w = np.maximum(0, w) if b.sign > 0 else np.minimum(0, w)
        tag = apply_products(self.tag << 7, self.dt_products, values, FACTOR_WIDTHS)
        self.w = np.clip(stochastic_round(w, r) >> 7, self.w_lo, self.w_hi)
        self.tag = np.clip(stochastic_round(tag, r) >> 7, TAG_MIN, TAG_MAX)


def run_reward_block(
    block: RewardPlasticBlock,
    pre: np.ndarray,
    post: np.ndarray,
    reward: np.ndarray,
    sample_every: int,
) -> dict[str, np.ndarray]:
    """Drive `block` with spike rasters `pre` (steps × n_pre), `post` (steps × n_post) and per-step reward
    increments `reward` (steps, fixed point); return `weights` and `tags` (samples × post × pre) after every
    `sample_every` steps, and `output` (steps × n_post, the block's a_out)."""
    state, traces = RewardLearningState(block), RewardTraceUnit(block)
    steps = len(pre)
    weights, tags, output = [], [], np.zeros((steps, block.shape[0]), dtype=np.int64)
    for k in range(steps):
        output[k] = state.output(pre[k])
        state.learn(k, pre[k], post[k], *traces.step(post[k], int(reward[k])))
        if (k + 1) % sample_every == 0:
            weights.append(state.w.copy())
            tags.append(state.tag.copy())
    return {"weights": np.array(weights), "tags": np.array(tags), "output": output}
