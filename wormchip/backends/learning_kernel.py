"""The numba engine's learning: `PlasticBlock`s as flat integer tables and compiled per-step functions.

The same integers as `wormchip.backends.learning.LearningDenseState` (the NumPy engine, bit-exact with Lava's
`PyLearningDenseModelBitApproximate`): the block's output with the weights before this step's learning, then
trace decay with stochastic rounding, impulses, the products of the rule, the sign clamp and the stochastic
rounding of the weight. The random numbers come from the same NumPy generators, drawn a chunk of steps at a
time outside the compiled loop (`PlasticRandoms.draw`; `Generator.random(n)` yields the same doubles as n
calls of `random(1)`), so the kernel itself is deterministic.
"""

from __future__ import annotations

import numpy as np

from wormchip.backends.learning import ACC_MAX, ACC_MIN, LearningDenseState
from wormchip.backends.reward_learning import RewardLearningState
from wormchip.mappers.fixed_point import LEARNING_FACTORS, TRACE_MAX, PlasticBlock
from wormchip.mappers.reward_stdp import DECAY_BITS, TAG_MAX, TAG_MIN, TRACE_FRAC_BITS
from wormchip.mappers.reward_stdp import FACTOR_WIDTHS as REWARD_FACTOR_WIDTHS

FACTOR_CODES = ("x0", "y0", "x1", "y1", "t")  # index = code in the tables
FACTOR_WIDTHS = np.array([LEARNING_FACTORS[f] for f in FACTOR_CODES], dtype=np.int64)
MAX_FACTORS = 4  # factors per product the tables hold (wormchip's rules use at most 3)


class PlasticTables:
    """The static part of every block of a network: tags, exponents, signs, impulses, decays, products."""

    def __init__(self, blocks: tuple[PlasticBlock, ...], n: int) -> None:
        states = [LearningDenseState(b) for b in blocks]
        nb = len(blocks)
        n_prod = max((len(s.products) for s in states), default=0)
        self.tag = np.zeros((nb, n, n) if nb else (0, 0, 0), dtype=np.int64)
        self.exp = np.array([b.weight_exp for b in blocks], dtype=np.int64)
        self.sign = np.array([b.sign for b in blocks], dtype=np.int64)
        self.x_impulse = np.array([b.x1_impulse for b in blocks], dtype=np.int64)
        self.y_impulse = np.array([b.y1_impulse for b in blocks], dtype=np.int64)
        self.x_decay = np.array([s.x_decay for s in states], dtype=np.float64)
        self.y_decay = np.array([s.y_decay for s in states], dtype=np.float64)
        self.n_products = np.array([len(s.products) for s in states], dtype=np.int64)
        self.dep = np.zeros((nb, n_prod), dtype=np.int64)
        self.factors = np.full((nb, n_prod, MAX_FACTORS), -1, dtype=np.int64)
        self.mant = np.zeros((nb, n_prod), dtype=np.int64)
        self.shift = np.zeros((nb, n_prod), dtype=np.int64)
        self.exp7 = np.zeros((nb, n_prod), dtype=np.int64)
        for b, state in enumerate(states):
            self.tag[b] = state.tag
            for q, (dep, factors, mant, shift, exp7) in enumerate(state.products):
                if len(factors) > MAX_FACTORS or exp7 < 0:
                    raise ValueError(f"plastic block {b}: product {q} is outside the numba engine's tables")
                self.dep[b, q] = FACTOR_CODES.index(dep)
                self.factors[b, q, : len(factors)] = [FACTOR_CODES.index(f) for f in factors]
                self.mant[b, q], self.shift[b, q], self.exp7[b, q] = mant, shift, exp7

    def args(self) -> tuple[np.ndarray, ...]:
        """The kernel's plastic arguments, in order."""
        return (
            self.tag,
            self.exp,
            self.sign,
            self.x_impulse,
            self.y_impulse,
            self.x_decay,
            self.y_decay,
            self.n_products,
            self.dep,
            self.factors,
            self.mant,
            self.shift,
            self.exp7,
        )


class PlasticRandoms:
    """Each block's random streams (Lava's order, as `LearningDenseState` and `RewardLearningState`), drawn
    a chunk at a time."""

    def __init__(self, blocks: tuple, state: type = LearningDenseState) -> None:
        self.states = [state(b) for b in blocks]

    def draw(self, steps: int) -> np.ndarray:
        """(blocks, steps, 3) float64: per step the x-trace, y-trace and weight-rounding random numbers."""
        out = np.zeros((len(self.states), steps, 3))
        for b, s in enumerate(self.states):
            out[b, :, 0] = s.x_rng.random(2 * steps)[1::2]  # two advances per step, the second is used
            out[b, :, 1] = s.y_rng.random(2 * steps)[1::2]
            out[b, :, 2] = s.conn_rng.random(steps)
        return out


REWARD_CODES = (
    "x0",
    "y0",
    "u",
    "x1",
    "y1",
    "y2",
    "t",
    "d",
    "y3",
)  # 3F dependencies and factors: code = index
REWARD_WIDTHS = tuple(REWARD_FACTOR_WIDTHS.get(f, 0) for f in REWARD_CODES)
# Columns of `RewardTables.ints`; `RewardTables.products[b, rule, q]` = (dependency, mantissa, right shift,
# left shift, factor codes … (−1 after the last)), rule 0 = dt (tag_1), 1 = dw.
R_EXP, R_SIGN, R_X_IMPULSE, R_PERIOD, R_Y_IMPULSE, R_Y_DECAY, R_D_DECAY, R_N_DT, R_N_DW, R_MOD_INC = range(10)
P_DEP, P_MANT, P_SHIFT, P_EXP7, P_FACTORS = range(5)


class RewardTables:
    """The static part of a network's `RewardPlasticBlock`s for the numba kernel: integer parameters
    (`R_*` columns), the x-trace and 3F y decays, the dt and dw products, the presence masks and the
    modulator neurons (1 where a neuron's spikes raise the block's D)."""

    def __init__(self, blocks: tuple, n: int) -> None:
        states = [RewardLearningState(b) for b in blocks]
        nb = len(blocks)
        n_prod = max((max(len(s.dt_products), len(s.dw_products)) for s in states), default=0)
        self.ints = np.zeros((nb, 10), dtype=np.int64)
        self.modulators = np.zeros((nb, n), dtype=np.int64)
        self.floats = np.zeros((nb, 2), dtype=np.float64)
        self.products = np.full((nb, 2, n_prod, P_FACTORS + MAX_FACTORS), -1, dtype=np.int64)
        self.mask = np.zeros((nb, n, n) if nb else (0, 0, 0), dtype=np.int64)
        for b, (block, state) in enumerate(zip(blocks, states)):
            self.ints[b] = (
                block.weight_exp,
                block.sign,
                block.x1_impulse,
                state.period,
                block.y1_impulse << TRACE_FRAC_BITS,
                block.y1_decay,
                block.d_decay,
                len(state.dt_products),
                len(state.dw_products),
                block.modulator_increment,
            )
            self.modulators[b, block.modulators] = 1
            self.floats[b] = state.x_decay, state.y_decay
            self.mask[b] = block.mask
            for rule, products in enumerate((state.dt_products, state.dw_products)):
                for q, (dep, factors, mant, shift, exp7) in enumerate(products):
                    if len(factors) > MAX_FACTORS or exp7 < 0:
                        raise ValueError(
                            f"reward block {b}: product {q} is outside the numba engine's tables"
                        )
                    row = self.products[b, rule, q]
                    row[:P_FACTORS] = REWARD_CODES.index(dep), mant, shift, exp7
                    row[P_FACTORS : P_FACTORS + len(factors)] = [REWARD_CODES.index(f) for f in factors]

    def args(self) -> tuple[np.ndarray, ...]:
        """The kernel's reward-block arguments, in order."""
        return self.ints, self.floats, self.products, self.mask, self.modulators


def reward_initial_state(blocks: tuple, n: int) -> tuple[np.ndarray, ...]:
    """Weights and tags (blocks, n, n), x1 (blocks, n) and the trace process's y1 and D (blocks, 2, n)."""
    nb = len(blocks)
    w = np.zeros((nb, n, n) if nb else (0, 0, 0), dtype=np.int64)
    for b, block in enumerate(blocks):
        w[b] = block.weights
    return w, np.zeros_like(w), np.zeros((nb, n), dtype=np.int64), np.zeros((nb, 2, n), dtype=np.int64)


def initial_state(blocks: tuple[PlasticBlock, ...], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights (blocks, n, n) and traces x1, y1 (blocks, n) before step 0, int64."""
    nb = len(blocks)
    w = np.zeros((nb, n, n) if nb else (0, 0, 0), dtype=np.int64)
    for b, block in enumerate(blocks):
        w[b] = block.weights
    return w, np.zeros((nb, n), dtype=np.int64), np.zeros((nb, n), dtype=np.int64)


def _decay_trace(trace: int, factor: float, r: float) -> int:
    """`floor(f·x) + (r < frac(f·x))`: Lava's stochastically rounded trace decay."""
    v = factor * trace
    return int(np.floor(v)) + (1 if r < v % 1.0 else 0)


def _entry(b, i, j, fired, w, x1, y1, tag, sign, n_products, dep, factors, mant, shift, exp7, r) -> int:
    """One synapse's new weight: Lava's accumulator, products, sign clamp and stochastic rounding."""
    acc = w[b, i, j] << 7
    for q in range(n_products[b]):
        val = 0
        for code in range(MAX_FACTORS + 1):  # the dependency (code slot 0), then the factors
            c = dep[b, q] if code == 0 else factors[b, q, code - 1]
            if c < 0:
                break
            if c == 0:
                x = 1 if fired[j] else 0
            elif c == 1:
                x = 1 if fired[i] else 0
            elif c == 2:
                x = x1[b, j]
            elif c == 3:
                x = y1[b, i]
            else:
                x = tag[b, i, j]
            if code == 0:
                val = x
            else:
                width = FACTOR_WIDTHS_T[c]
                val *= min(max(x, -(1 << width)), (1 << width) - 1)
        val = ((val * mant[b, q]) >> shift[b, q]) << exp7[b, q]
        acc = min(max(acc + min(max(val, ACC_MIN), ACC_MAX), ACC_MIN), ACC_MAX)
    acc = max(0, acc) if sign[b] > 0 else min(0, acc)
    qv = acc / 128.0
    rounded = int(np.floor(qv)) + (1 if r < qv % 1.0 else 0)
    lo, hi = (0, 255) if sign[b] > 0 else (-255, 0)
    return min(max(rounded, lo), hi)


def _learn(
    b, n, fired, n_fired, w, x1, y1, tag, sign, x_impulse, y_impulse, x_decay, y_decay,
    n_products, dep, factors, mant, shift, exp7, rx, ry, rc,
) -> None:  # fmt: skip
    """One step of block b's learning from this step's spikes (pre = columns, post = rows)."""
    for j in range(n):
        x1[b, j] = _decay_trace_jit(x1[b, j], x_decay[b], rx)
        y1[b, j] = _decay_trace_jit(y1[b, j], y_decay[b], ry)
        if fired[j]:
            x1[b, j] = min(max(x1[b, j] + x_impulse[b], 0), TRACE_MAX)
            y1[b, j] = min(max(y1[b, j] + y_impulse[b], 0), TRACE_MAX)
    if n_fired == 0:
        return
    for i in range(n):  # rows that spiked: every column; other rows: the columns that spiked
        for j in range(n):
            if fired[i] or fired[j]:
                w[b, i, j] = _entry_jit(
                    b, i, j, fired, w, x1, y1, tag, sign, n_products, dep, factors, mant, shift, exp7, rc
                )


def _reward_value(b, i, j, code, fired, u, x1, y1, y2, y3, tag, mask) -> int:
    """The value of dependency or factor `code` (`REWARD_CODES`) at synapse (i, j) of reward block b."""
    if code == 0:
        return 1 if fired[j] else 0
    if code == 1:
        return 1 if fired[i] else 0
    if code == 2:
        return u
    if code == 3:
        return x1[b, j]
    if code == 4:
        return y1[i]
    if code == 5:
        return y2[i]
    if code == 6:
        return tag[b, i, j]
    if code == 7:
        return mask[b, i, j]
    return y3[i]


def _reward_apply(b, rule, acc, i, j, fired, u, x1, y1, y2, y3, tag, mask, ints, products) -> int:
    """Lava's bit-approximate applier over the products of rule 0 (dt) or 1 (dw), onto `acc`."""
    for q in range(ints[b, R_N_DT + rule]):
        row = products[b, rule, q]
        val = _reward_value_jit(b, i, j, row[P_DEP], fired, u, x1, y1, y2, y3, tag, mask)
        for f in range(MAX_FACTORS):
            c = row[P_FACTORS + f]
            if c < 0:
                break
            width = REWARD_WIDTHS_T[c]
            x = _reward_value_jit(b, i, j, c, fired, u, x1, y1, y2, y3, tag, mask)
            val *= min(max(x, -(1 << width)), (1 << width) - 1)
        val = ((val * row[P_MANT]) >> row[P_SHIFT]) << row[P_EXP7]
        acc = min(max(acc + min(max(val, ACC_MIN), ACC_MAX), ACC_MIN), ACC_MAX)
    return acc


def _round7(acc: int, r: float) -> int:
    """Stochastic rounding to a multiple of 2⁷, then `>> 7`."""
    qv = acc / 128.0
    return int(np.floor(qv)) + (1 if r < qv % 1.0 else 0)


def _reward_step(
    b, n, k, fired, n_fired, inc, w, tag, x1, ty, ints, floats, products, mask, mod, rx, ry, rc,
) -> None:  # fmt: skip
    """One step of reward block b after its output: the trace process (`RewardTraceUnit.step` with this
    step's spikes and D increment `inc` plus its modulator spikes'), then `RewardLearningState.learn` at
    emulator step k."""
    for i in range(n):
        if mod[b, i] and fired[i]:
            inc += ints[b, R_MOD_INC]
    y1 = np.empty(n, dtype=np.int64)
    y2 = np.empty(n, dtype=np.int64)
    y3 = np.empty(n, dtype=np.int64)
    half = 1 << (TRACE_FRAC_BITS - 1)
    top = TRACE_MAX << TRACE_FRAC_BITS
    for i in range(n):
        ty[b, 0, i] = (ty[b, 0, i] * ints[b, R_Y_DECAY]) >> DECAY_BITS
        y1[i] = min((ty[b, 0, i] + half) >> TRACE_FRAC_BITS, TRACE_MAX)
        d = ty[b, 1, i]
        y2[i] = min((max(d, 0) + half) >> TRACE_FRAC_BITS, TRACE_MAX)
        y3[i] = min((max(-d, 0) + half) >> TRACE_FRAC_BITS, TRACE_MAX)
        if fired[i]:
            ty[b, 0, i] = min(ty[b, 0, i] + ints[b, R_Y_IMPULSE], top)
        decayed = (
            (d * ints[b, R_D_DECAY]) >> DECAY_BITS if d >= 0 else -((-d * ints[b, R_D_DECAY]) >> DECAY_BITS)
        )
        ty[b, 1, i] = min(max(decayed + inc, -top), top)
    for j in range(n):
        x1[b, j] = _decay_trace_jit(x1[b, j], floats[b, 0], rx)
        if fired[j]:
            x1[b, j] = min(max(x1[b, j] + ints[b, R_X_IMPULSE], 0), TRACE_MAX)
    u = 1 if (k + 1) % ints[b, R_PERIOD] == 0 else 0
    if not (u or n_fired):
        return
    for i in range(n):  # the received y1, y2, y3 decay once more (Lava's 3F post τ), one random number
        y1[i] = _decay_trace_jit(y1[i], floats[b, 1], ry)
        y2[i] = _decay_trace_jit(y2[i], floats[b, 1], ry)
        y3[i] = _decay_trace_jit(y3[i], floats[b, 1], ry)
    lo, hi = (0, 255) if ints[b, R_SIGN] > 0 else (-255, 0)
    for i in range(n):
        for j in range(n):
            if mask[b, i, j] == 0 or not (u or fired[i] or fired[j]):
                continue  # absent synapses stay 0; without u or a spike every product is 0
            acc_w = _reward_apply_jit(
                b, 1, w[b, i, j] << 7, i, j, fired, u, x1, y1, y2, y3, tag, mask, ints, products
            )
            acc_w = max(0, acc_w) if ints[b, R_SIGN] > 0 else min(0, acc_w)
            acc_t = _reward_apply_jit(
                b, 0, tag[b, i, j] << 7, i, j, fired, u, x1, y1, y2, y3, tag, mask, ints, products
            )
            w[b, i, j] = min(max(_round7_jit(acc_w, rc), lo), hi)
            tag[b, i, j] = min(max(_round7_jit(acc_t, rc), TAG_MIN), TAG_MAX)


FACTOR_WIDTHS_T = tuple(int(x) for x in FACTOR_WIDTHS)  # a tuple: a compile-time constant in numba
REWARD_WIDTHS_T = tuple(int(x) for x in REWARD_WIDTHS)

try:
    import numba
except ImportError:  # pragma: no cover - the NumPy engine runs without numba
    numba = None

learn_jit = reward_step_jit = None  # without numba the NumPy engine learns (`wormchip.backends.learning`)
if numba is not None:
    _decay_trace_jit = numba.njit(cache=True, inline="always")(_decay_trace)
    _entry_jit = numba.njit(cache=True)(_entry)
    learn_jit = numba.njit(cache=True)(_learn)
    _reward_value_jit = numba.njit(cache=True, inline="always")(_reward_value)
    _reward_apply_jit = numba.njit(cache=True)(_reward_apply)
    _round7_jit = numba.njit(cache=True, inline="always")(_round7)
    reward_step_jit = numba.njit(cache=True)(_reward_step)
