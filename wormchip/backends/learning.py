"""Bit-exact NumPy re-implementation of Lava 0.10's fixed-point learning Dense, for `PlasticBlock`s.

It follows `PyLearningDenseModelBitApproximate` (lava-nc 0.10, `lava/proc/dense/models.py`) with its
`LearningConnectionModelBitApproximate` (`lava/magma/core/model/py/connection.py`) and
`LearningRuleApplierBitApprox` (`lava/magma/core/learning/learning_rule_applier.py`), restricted to what
`wormchip.mappers.stdp` emits: a `Loihi2FLearningRule` with t_epoch = 1, binary spikes, integer trace
impulses, dense weights, EXCITATORY or INHIBITORY sign mode, products over x0, y0, x1, y1 and t (tag_1).
It is Lava's *bit-approximate* Python model, not Loihi silicon.

Per step (Lava's time step k + 1 for emulator step k):
1. the block's output uses the weights as they are before this step's learning (`output`), like a Dense;
2. random draws, in Lava's order: each `TraceRandom` (x: seeds rng_seed, rng_seed + 1; y: rng_seed + 2,
   rng_seed + 3) advances twice in `recv_traces` (after the pre and after the post spikes), then
   `ConnVarRandom` (always seed 2: Lava ignores rng_seed there) once in `run_lrn`. Each advance draws one
   uniform float for the decay; the impulse draws (integers) only matter for fractional impulses, which
   wormchip never uses, and come from separate generators, so they are skipped;
3. traces: `x1 ← floor(e^(−1/τ)·x1) + (r_decay < frac)`, then `+ impulse` on a spike, clipped to [0, 127];
4. accumulator `w << 7`; for each product in order: `dep · Π clip(factor, −2^width, 2^width − 1) · m`,
   `>> max(0, Σ widths + 4 − 15)`, `<< (e + 7)`, saturated to ±(2¹⁵ − 1) (−2¹⁵ − 1 below), summed and saturated;
5. `max(0, ·)` (excitatory) or `min(0, ·)` (inhibitory); stochastic rounding to a multiple of 2⁷ with one
   `r_conn` for the whole matrix; `>> 7`; clip to [0, 255] or [−255, 0].

Only entries whose row (post) or column (pre) spiked can change (every other accumulator is an exact multiple
of 2⁷, which the rounding leaves alone), so only those are computed.
"""

from __future__ import annotations

import numpy as np

from wormchip.mappers.fixed_point import LEARNING_FACTORS, TRACE_MAX, PlasticBlock

ACC_MAX = 2**15 - 1
ACC_MIN = -(2**15) - 1
CONN_SEED = 2  # lava.magma.core.learning.random.ConnVarRandom's default, used whatever rng_seed is
W_S_MANT = 4
W_ACCUMULATOR_U = 15

#: One product of a learning rule, prepared for `apply_products`: dependency, factors, mantissa, the right
#: shift max(0, Σ factor widths + W_S_MANT − W_ACCUMULATOR_U) and the left shift exponent + 7.
Product = tuple[str, tuple[str, ...], int, int, int]


def trace_randoms(seed: int) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """Lava's decay streams of TraceRandom(x), TraceRandom(y) and ConnVarRandom, past their construction draws."""
    streams = (
        np.random.default_rng(seed=seed),  # TraceRandom(x).decay stream
        np.random.default_rng(seed=seed + 2),  # TraceRandom(y).decay stream
        np.random.default_rng(seed=CONN_SEED),
    )
    for rng in streams:  # the draws made at construction
        rng.random(1)
    return streams


def prepared_products(products, widths: dict[str, int]) -> list[Product]:
    """`Product`s of rule products (with `dependency`, `factors`, `mantissa`, `exponent`), factor `widths`."""
    return [
        (
            p.dependency,
            p.factors,
            p.mantissa,
            max(0, sum(widths[f] for f in p.factors) + W_S_MANT - W_ACCUMULATOR_U),
            p.exponent + 7,
        )
        for p in products
    ]


def apply_products(
    acc: np.ndarray, products: list[Product], values: dict, widths: dict[str, int]
) -> np.ndarray:
    """Lava's bit-approximate applier: each product `dep · Π clip(factor) · m >> shift << exp7`, saturated to
    ±(2¹⁵ − 1) (−2¹⁵ − 1 below) and accumulated, saturated, onto `acc`."""
    for dep, factors, mant, shift, exp7 in products:
        val = np.broadcast_to(values[dep], acc.shape).astype(np.int64)
        for f in factors:
            width = widths[f]
            val = val * np.clip(values[f], -(2**width), 2**width - 1)
        val = ((val * mant) >> shift) << exp7
        acc = np.clip(acc + np.clip(val, ACC_MIN, ACC_MAX), ACC_MIN, ACC_MAX)
    return acc


def stochastic_decay(trace: np.ndarray, factor: float, r: float) -> np.ndarray:
    """Lava's trace decay: floor(factor·trace) + (r < its fraction)."""
    v = factor * trace
    return (np.floor(v) + (r < v % 1)).astype(np.int64)


def stochastic_round(acc: np.ndarray, r: float) -> np.ndarray:
    """Stochastic rounding to a multiple of 2⁷ with one random number for the whole matrix."""
    q = acc / 128
    return ((np.floor(q) + (r < q % 1)) * 128).astype(np.int64)


def dense_output(w: np.ndarray, fired: np.ndarray, weight_exp: int) -> np.ndarray:
    """A (Learning)Dense's a_out for the spikes `fired` (int64, before the int32 channel)."""
    acc = w[:, fired].sum(axis=1)
    return acc << weight_exp if weight_exp > 0 else acc >> -weight_exp


class LearningDenseState:
    """The running state of one `PlasticBlock`: weights, traces x1 (pre) and y1 (post), random streams."""

    def __init__(self, block: PlasticBlock) -> None:
        self.block = block
        self.w = block.weights.astype(np.int64).copy()
        self.tag = block.tag
        n_post, n_pre = self.w.shape
        self.x1 = np.zeros(n_pre, dtype=np.int64)
        self.y1 = np.zeros(n_post, dtype=np.int64)
        self.x_rng, self.y_rng, self.conn_rng = trace_randoms(block.rng_seed)
        # Lava: np.exp(-t / taus) with t = 1 and integer taus, times the trace (float64)
        self.x_decay = float(np.exp(-1 / np.array([block.x1_tau]))[0])
        self.y_decay = float(np.exp(-1 / np.array([block.y1_tau]))[0])
        self.lo, self.hi = (0, 255) if block.sign > 0 else (-255, 0)
        self.products = prepared_products(block.products, LEARNING_FACTORS)

    def output(self, fired: np.ndarray) -> np.ndarray:
        """The block's a_out for the spikes `fired` (int64, before the int32 channel), with this step's weights."""
        return dense_output(self.w, fired, self.block.weight_exp)

    def learn(self, pre: np.ndarray, post: np.ndarray) -> None:
        """One step of learning with this step's pre (columns) and post (rows) spikes."""
        for _ in range(2):  # recv_traces advances both TraceRandoms twice
            rx = self.x_rng.random(1)[0]
            ry = self.y_rng.random(1)[0]
        r_conn = self.conn_rng.random(1)[0]
        b = self.block
        self.x1 = stochastic_decay(self.x1, self.x_decay, rx)
        self.x1[pre] = np.clip(self.x1[pre] + b.x1_impulse, 0, TRACE_MAX)
        self.y1 = stochastic_decay(self.y1, self.y_decay, ry)
        self.y1[post] = np.clip(self.y1[post] + b.y1_impulse, 0, TRACE_MAX)
        rows, cols = np.flatnonzero(post), np.flatnonzero(pre)
        if len(rows):
            self._update(rows, np.arange(self.w.shape[1]), pre, post, r_conn)
        if len(cols):
            others = np.flatnonzero(~post)
            if len(others):
                self._update(others, cols, pre, post, r_conn)

    def _update(
        self, rows: np.ndarray, cols: np.ndarray, pre: np.ndarray, post: np.ndarray, r: float
    ) -> None:
        """Apply the rule to the sub-matrix rows × cols (Lava's applier and rounding, entry by entry)."""
        ix = np.ix_(rows, cols)
        acc = self.w[ix] << 7
        values = {
            "x0": pre[cols].astype(np.int64)[None, :],
            "y0": post[rows].astype(np.int64)[:, None],
            "x1": self.x1[cols][None, :],
            "y1": self.y1[rows][:, None],
            "t": self.tag[ix],
        }
        acc = apply_products(acc, self.products, values, LEARNING_FACTORS)
        acc = np.maximum(0, acc) if self.block.sign > 0 else np.minimum(0, acc)
        self.w[ix] = np.clip(stochastic_round(acc, r) >> 7, self.lo, self.hi)
