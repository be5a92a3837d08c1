"""Emulator of Lava 0.10's fixed-point LIF + Dense, bit-exact with `Loihi2SimCfg("fixed_pt")`.

It follows `PyLifModelBitAcc` and `PyDenseModelBitAcc` (lava-nc 0.10, `lava/proc/lif/models.py`,
`lava/proc/dense/models.py`) operation by operation, including the integer widths Lava's arithmetic happens in:
Dense sums in int64 and shifts by `weight_exp` after summing; its output travels on an int32 channel (wraps,
not saturated to 16 bit); inputs from several Dense add in int32; `a_in << 6` and `u` updates are int32; u wraps
once at 24 bit; v clips to ±(2²³ − 1).

Five extensions run here exactly as in `lava_runner`: graded sigmoid synapses (a second graded message
per neuron, its 12-bit hard-sigmoid activation, through graded Dense blocks into v like gap input); synaptic delays (`DelayDense`: each block's shifted
sum waits `delay` steps in a ring buffer before it joins a_in); a piecewise-constant bias schedule; gap junctions
(`GapLIF`: graded voltage messages `v >> gap_shift` through graded Dense blocks, whose int32 output adds to
v at the next step; the graded Dense computes `W.dot(msg)` in int32, so its sum wraps in int32);
`GapLIF`'s refractory period and reset to `v_reset` (see `FixedPointNetwork`); and `GapLIF`'s adaptation
register w (`w ← round(w·(2²⁴ − dw)/2²⁴) + adapt_b·s_prev`, int32; v receives `−(w >> w_shift)`).

Two engines compute the same integers: a numba-compiled step loop (the default when numba is installed; one
pass over the neurons per step and a scatter over the spiking neurons' fan-out, a few µs per step for the
whole worm) and a vectorized NumPy loop (one sparse mat-vec plus ~30 array operations per step, bound by
NumPy's per-call overhead: ~40 µs per step). Tests check that both give identical u, v and spikes.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools  # the kernel of `csr_matrix @ x`, minus its per-call dispatch cost

from wormchip.backends.learning_kernel import (
    PlasticRandoms,
    PlasticTables,
    RewardTables,
    initial_state,
    learn_jit,
    reward_initial_state,
    reward_step_jit,
)
from wormchip.backends.reward_learning import RewardLearningState
from wormchip.mappers.fixed_point import GRADED_HALF, W_DECAY_BITS, FixedPointNetwork
from wormchip.result import Result, Trace

UV_MAX = 2**23  # u, v are 24-bit signed
V_LIMIT = UV_MAX - 1
RECORDABLE = ("u", "v")
EMULATOR_RECORDABLE = (*RECORDABLE, "w")  # the emulator also records the adaptation register
W_ROUND = 2 ** (W_DECAY_BITS - 1)  # w's decay rounds half up: (w·f + 2²³) >> 24
ENGINES = ("auto", "numba", "numpy")
CHUNK_STEPS = 4096  # the numba loop's chunk: its input drive and spike raster exist one chunk at a time

try:  # numba is a dependency; without it (e.g. an unsupported platform) the NumPy loop runs instead
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None


def _wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap to int32, as numpy's unchecked int32 arithmetic (and Lava's int32 channels) do."""
    return x.astype(np.int32)


def _exp_shift(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    """Dense's exponent, applied to the int64 sum (`<<` for positive, arithmetic `>>` for negative)."""
    return acc << weight_exp if weight_exp > 0 else acc >> -weight_exp


def _decay(x: np.ndarray, factor: np.ndarray, prod: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """`sign(x·f) · (|x·f| >> 12)` (x·f/4096 truncated towards zero) in int64, into `prod`."""
    np.multiply(x, factor, out=prod)
    np.right_shift(prod, 63, out=tmp)  # −1 where negative, else 0
    np.bitwise_and(tmp, 4095, out=tmp)
    np.add(prod, tmp, out=prod)
    np.right_shift(prod, 12, out=prod)
    return prod


def run_emulator(
    net: FixedPointNetwork,
    steps: int,
    record: tuple[str, ...] | list[str] = RECORDABLE,
    engine: str = "auto",
    weight_every: int | None = None,
) -> Result:
    """Simulate `net` for `steps` steps; spikes always, u/v/w traces (unit "fixed-point") for names in `record`
    ("w": the adaptation register, with `w_shift` fractional bits; Lava records u and v only).

    Step k (0-based) is Lava's time step k + 1; spike and sample times are `k * net.dt` seconds. `engine`:
    "numba" (compiled loop), "numpy" (vectorized loop) or "auto" (numba when installed); results are identical.

    Plastic networks (`net.plastic`, stdp through LearningDense) learn on both engines, bit-exact with Lava
    (`wormchip.backends.learning`, `learning_kernel`). Their weights come back in `Result.weights[projection]` (`plastic_weight_traces`): at time 0 and after the last
    step, and every `weight_every` steps if given. Three-factor blocks (`net.reward_plastic`, reward_stdp)
    too (`wormchip.backends.reward_learning`, `learning_kernel`), their trace process fed by the LIF spikes.
    """
    unknown = set(record) - set(EMULATOR_RECORDABLE)
    if unknown:
        raise ValueError(f"cannot record {sorted(unknown)}; choose from {list(EMULATOR_RECORDABLE)}")
    if steps < 0:
        raise ValueError(f"steps = {steps} must be ≥ 0")
    if engine not in ENGINES:
        raise ValueError(f"engine = {engine!r}; choose from {list(ENGINES)}")
    if engine == "numba" and numba is None:
        raise ValueError("engine 'numba' needs the numba package, which is not installed")
    if weight_every is not None and weight_every < 1:
        raise ValueError(f"weight_every = {weight_every} must be ≥ 1 steps")
    use_numba = engine == "numba" or (engine == "auto" and numba is not None)
    t0 = time.perf_counter()
    n = net.n_neurons
    u_rec = np.empty((steps, n) if "u" in record else (0, n), dtype=np.int32)
    v_rec = np.empty((steps, n) if "v" in record else (0, n), dtype=np.int32)
    w_rec = np.empty((steps, n) if "w" in record else (0, n), dtype=np.int32)
    samples: list[tuple[int, list[np.ndarray]]] = []
    if use_numba:
        events = _numba_run(
            _Prepared(net, steps, whole_drive=False), u_rec, v_rec, w_rec, weight_every, samples
        )
    else:
        raster = np.zeros((steps, n), dtype=bool)
        _numpy_loop(_prepare(net, steps), raster, u_rec, v_rec, w_rec, weight_every, samples)
        events = np.nonzero(raster)
    traces = {key: vals for key, vals in (("u", u_rec), ("v", v_rec), ("w", w_rec)) if key in record}
    result = result_from_events(
        net,
        steps,
        events,
        traces,
        {
            "backend": "emulator",
            "engine": "numba" if use_numba else "numpy",
            "steps": steps,
            "wall_time_s": time.perf_counter() - t0,
        },
    )
    if net.plastic or net.reward_plastic:
        result.weights = plastic_weight_traces(net, samples)
    return result


def _numba_run(
    prep: _Prepared,
    u_rec: np.ndarray,
    v_rec: np.ndarray,
    w_rec: np.ndarray,
    weight_every: int | None = None,
    samples: list | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The compiled loop over the whole run in chunks of `CHUNK_STEPS`: the input drive and the spike raster
    exist one chunk at a time, so memory does not grow with the run's length when nothing is recorded.
    Plastic weights are sampled into `samples` at 0, every `weight_every` steps and at the end (chunks end
    there). Returns the spikes as (steps, neurons) index arrays."""
    args = list(prep.kernel_args())
    state = KernelState(prep)
    kernel = _kernel()
    spike_steps, spike_neurons = [], []
    plastic = bool(prep.plastic or prep.net.reward_plastic) and samples is not None
    increments = prep.increments()
    if plastic:
        samples.append((0, state.weights()))
    ends = {*range(CHUNK_STEPS, prep.steps, CHUNK_STEPS), prep.steps}
    if plastic and weight_every:
        ends |= set(range(weight_every, prep.steps, weight_every))
    bounds = [0, *sorted(e for e in ends if e > 0)]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        args[1], args[7] = stop - start, prep.drive(start, stop)
        state.chunk_args(args, start, stop, increments)
        raster = np.zeros((stop - start, prep.n), dtype=bool)
        recs = [rec[start:stop] if len(rec) else rec for rec in (u_rec, v_rec, w_rec)]
        kernel(*args, raster, *recs, start, *state.arrays())
        k, i = np.nonzero(raster)
        spike_steps.append(k + start)
        spike_neurons.append(i)
        if plastic and (stop == prep.steps or (weight_every and stop % weight_every == 0)):
            samples.append((stop, state.weights()))
    empty = np.zeros(0, dtype=np.int64)
    return np.concatenate(spike_steps or [empty]), np.concatenate(spike_neurons or [empty])


def plastic_weight_traces(
    net: FixedPointNetwork, samples: list[tuple[int, list[np.ndarray]]]
) -> dict[str, Trace]:
    """`Result.weights` of a plastic network: one `Trace` per projection, channels `pre->post`, values the
    signed integer weights (unit "fixed-point": LSB of the block, `<< weight_exp` into a_in), at the sampled
    steps (`samples`: (step, one matrix per block of `net.plastic` then `net.reward_plastic`); time = step·dt,
    the weights after `step` steps)."""
    samples = sorted(samples, key=lambda s: s[0])
    times = np.array([step for step, _ in samples], dtype=float) * net.dt
    parts: dict[str, list[tuple[list[str], np.ndarray]]] = {}
    names = net.neuron_names
    for b, block in enumerate((*net.plastic, *net.reward_plastic)):
        values = (
            np.stack([mats[b][block.syn_post, block.syn_pre] for _, mats in samples]) if samples else None
        )
        proj = np.array(block.syn_projection)
        for name in dict.fromkeys(block.syn_projection):
            sel = proj == name
            channels = [f"{names[i]}->{names[j]}" for i, j in zip(block.syn_pre[sel], block.syn_post[sel])]
            vals = values[:, sel] if values is not None else np.zeros((0, int(sel.sum())))
            parts.setdefault(name, []).append((channels, vals))
    out = {}
    for name, pieces in parts.items():
        channels = [c for ch, _ in pieces for c in ch]
        out[name] = Trace(times, channels, np.concatenate([v for _, v in pieces], axis=1), "fixed-point")
    return out


class _Prepared:
    """Everything the step loops need, as flat integer arrays (shared by both engines)."""

    def __init__(self, net: FixedPointNetwork, steps: int, whole_drive: bool = True) -> None:
        n = net.n_neurons
        self.n, self.steps = n, steps
        self.net = net
        self.input_blocks = [(b.effective_weights().T.tocsr(), b.weight_exp) for b in net.input_weights]
        # External input does not depend on the state: all of a run's Dense outputs at once (the NumPy loop), or
        # chunk by chunk (`drive`, the numba loop: memory independent of the run's length).
        self.input_drive = self.drive(0, steps) if whole_drive else np.zeros((0, n), dtype=np.int32)
        # Recurrent blocks stacked into one matrix (n_blocks·n rows): one mat-vec per step, per-row exponents.
        self.n_blocks = len(net.weights)
        self.stacked = sp.vstack(
            [b.effective_weights() for b in net.weights] or [sp.csr_matrix((0, n))], format="csr"
        ).astype(np.int64)
        self.exps = np.repeat([b.weight_exp for b in net.weights], n).astype(np.int64)
        # Delays: block b's sum computed at step k joins a_in at the end of step k + delay (ring of slots).
        self.delays = np.array([b.delay for b in net.weights], dtype=np.int64)
        self.row_delays = np.repeat(self.delays, n).astype(np.int64)
        self.ring = net.max_delay + 1
        # Gap junctions and graded synapses: graded Dense blocks stacked the same way; their sums wrap in int32
        # (int32 dot). With graded synapses the message vector has 2n entries, [v >> gap_shift, activation],
        # and each block reads its half (gap blocks the first, graded blocks the second).
        self.graded = bool(net.graded_weights)
        self.msg_width = 2 * n if self.graded else n
        empty = sp.csr_matrix((n, n))
        graded_blocks = [
            *(sp.hstack([b.effective_weights(), empty]) for b in net.gap_weights),
            *(sp.hstack([empty, b.effective_weights()]) for b in net.graded_weights),
        ]
        all_gap = (*net.gap_weights, *net.graded_weights)
        self.n_gap = len(all_gap)
        if self.graded:
            self.gap_stacked = sp.vstack(graded_blocks, format="csr").astype(np.int64)
        else:
            self.gap_stacked = sp.vstack(
                [b.effective_weights() for b in net.gap_weights] or [sp.csr_matrix((0, n))], format="csr"
            ).astype(np.int64)
        self.gap_exps = np.array([b.weight_exp for b in all_gap], dtype=np.int64)
        self.graded_mu = net.graded_mu.astype(np.int64)
        self.graded_mant = net.graded_slope_mant.astype(np.int64)
        self.graded_shift = net.graded_slope_shift.astype(np.int64)
        self.graded_round = np.left_shift(1, self.graded_shift) >> 1
        self.gap_shift = net.gap_shift
        self.u_factor = (4096 - (net.du + 1)).astype(np.int64)  # Lava's ds_offset: du = 0 still leaks 1/4096
        self.v_factor = (4096 - net.dv).astype(np.int64)
        bias, changes = net.bias_at(steps)
        self.bias_table = np.stack([bias, *(b for _, b in changes)]).astype(np.int64)
        self.change_steps = np.array([0, *(s for s, _ in changes), steps + 1], dtype=np.int64)
        self.vth = (net.vth << 6).astype(np.int64)
        self.refractory = net.refractory.astype(np.int64)
        self.v_reset = net.v_reset.astype(np.int64)
        # Adaptation register w (GapLIF): decays by dw/2²⁴ (rounded), + adapt_b after a spike; v gets −(w >> shift).
        self.adaptive = net.has_adaptation
        self.w_factor = (2**W_DECAY_BITS - net.dw).astype(np.int64)
        self.adapt_b = net.adapt_b.astype(np.int64)
        self.w_shift = net.w_shift.astype(np.int64)
        self.plastic = net.plastic
        # Conductance register g (GapLIF): its Dense blocks stacked like the recurrent ones, into g_in.
        self.conductance = bool(net.conductance_weights)
        self.cond_stacked = sp.vstack(
            [b.effective_weights() for b in net.conductance_weights] or [sp.csr_matrix((0, n))], format="csr"
        ).astype(np.int64)
        self.cond_exps = np.array([b.weight_exp for b in net.conductance_weights], dtype=np.int64)
        self.v_op = net.v_op.astype(np.int64)
        self.cond_shift = net.conductance_shift
        self.cond_round = (1 << self.cond_shift) >> 1

    def drive(self, start: int, stop: int) -> np.ndarray:
        """Input drive of steps [start, stop): each block's Dense output wrapped to the int32 channel, summed in
        int32 like Lava's InPort (steps past the input raster carry none)."""
        drive = np.zeros((stop - start, self.n), dtype=np.int32)
        if not self.input_blocks:
            return drive
        raster = np.zeros((stop - start, self.net.n_inputs), dtype=np.int64)
        given = self.net.input_spikes[start:stop]
        raster[: len(given)] = given
        inputs = sp.csr_matrix(raster)
        for weights_t, exp in self.input_blocks:
            drive += _wrap32(_exp_shift((inputs @ weights_t).toarray(), exp))
        return drive

    def kernel_args(self) -> tuple:
        """Arguments of the numba kernel: the recurrent matrix by column (the spiking neurons' fan-out)."""
        csc = self.stacked.tocsc()
        csc.sort_indices()
        cond = self.cond_stacked.tocsc()
        cond.sort_indices()
        gap = self.gap_stacked
        return (
            self.n,
            self.steps,
            self.u_factor,
            self.v_factor,
            self.vth,
            self.bias_table,
            self.change_steps,
            self.input_drive,
            csc.indptr.astype(np.int64),
            csc.indices.astype(np.int64),
            csc.data.astype(np.int64),
            self.exps,
            self.row_delays,
            int(self.ring),
            gap.indptr.astype(np.int64),
            gap.indices.astype(np.int64),
            gap.data.astype(np.int64),
            self.gap_exps,
            int(self.gap_shift),
            bool(self.graded),
            self.graded_mu,
            self.graded_mant,
            self.graded_shift,
            self.graded_round,
            self.refractory,
            self.v_reset,
            bool(self.adaptive),
            self.w_factor,
            self.adapt_b,
            self.w_shift,
            bool(self.conductance),
            cond.indptr.astype(np.int64),
            cond.indices.astype(np.int64),
            cond.data.astype(np.int64),
            self.cond_exps,
            self.v_op,
            int(self.cond_shift),
            int(self.cond_round),
            *PlasticTables(self.plastic, self.n).args(),
            np.zeros((len(self.plastic), 0, 3)),  # the chunk's random numbers (`PlasticRandoms.draw`)
            *RewardTables(self.net.reward_plastic, self.n).args(),
            np.zeros((len(self.net.reward_plastic), 0, 3)),  # the chunk's random numbers
            np.zeros((len(self.net.reward_plastic), 0), dtype=np.int64),  # the chunk's D increments
        )

    def increments(self) -> np.ndarray:
        """Each reward block's D increment per step of the run (blocks × steps, int64; writable)."""
        out = np.zeros((len(self.net.reward_plastic), self.steps), dtype=np.int64)
        for b, block in enumerate(self.net.reward_plastic):
            given = block.reward[: self.steps]
            out[b, : len(given)] = given
        return out


class KernelState:
    """The numba kernel's state between chunks of a run: registers, synaptic input in flight, counters.

    Zeros are the state before step 0. `arrays()` is the tail of the kernel's arguments, in order; the kernel
    updates them in place, so a run split into chunks computes exactly the integers of one long run.
    """

    def __init__(self, prep: _Prepared) -> None:
        n = prep.n
        self.u = np.zeros(n, np.int64)
        self.v = np.zeros(n, np.int64)
        self.a_in = np.zeros(n, np.int64)
        self.gap_in = np.zeros(n, np.int64)
        self.msg = np.zeros(2 * n if prep.graded else n, np.int64)
        self.acc = np.zeros(prep.n_blocks * n, np.int64)
        self.pending = np.zeros((prep.ring, n), np.int64)
        self.ref_count = np.zeros(n, np.int64)
        self.fired = np.zeros(n, np.bool_)
        self.w = np.zeros(n, np.int64)
        self.change_at = np.zeros(1, np.int64)  # index of the bias row in use
        # plastic blocks: weights (blocks, n, n), traces x1 and y1 (blocks, n), their random streams
        self.p_w, self.p_x1, self.p_y1 = initial_state(prep.plastic, n)
        self.randoms = PlasticRandoms(prep.plastic)
        self.g = np.zeros(n, np.int64)  # conductance register, its input and the Dense sums
        self.g_in = np.zeros(n, np.int64)
        self.g_acc = np.zeros(len(prep.cond_exps) * n, np.int64)
        # reward blocks: weights, tags, x1 and the trace process's (y1, D), their random streams
        self.r_w, self.r_tag, self.r_x1, self.r_ty = reward_initial_state(prep.net.reward_plastic, n)
        self.reward_randoms = PlasticRandoms(prep.net.reward_plastic, RewardLearningState)

    def weights(self) -> list[np.ndarray]:
        """Every learning block's current weights: the stdp blocks, then the reward blocks."""
        return [*self.p_w.copy(), *self.r_w.copy()]

    def chunk_args(self, args: list, start: int, stop: int, increments: np.ndarray) -> None:
        """Put the random numbers of steps [start, stop) and the reward blocks' D increments (`increments`,
        blocks × steps of the run) into the kernel's arguments (`_Prepared.kernel_args`, in place)."""
        args[-8] = self.randoms.draw(stop - start)
        args[-2] = self.reward_randoms.draw(stop - start)
        args[-1] = increments[:, start:stop]

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The state arrays in the kernel's argument order."""
        return (
            self.u,
            self.v,
            self.a_in,
            self.gap_in,
            self.msg,
            self.acc,
            self.pending,
            self.ref_count,
            self.fired,
            self.w,
            self.change_at,
            self.p_w,
            self.p_x1,
            self.p_y1,
            self.g,
            self.g_in,
            self.g_acc,
            self.r_w,
            self.r_tag,
            self.r_x1,
            self.r_ty,
        )


def _prepare(net: FixedPointNetwork, steps: int) -> _Prepared:
    """The integer arrays of `net` for a run of `steps` steps."""
    return _Prepared(net, steps)


def _numpy_loop(
    p: _Prepared,
    raster: np.ndarray,
    u_rec: np.ndarray,
    v_rec: np.ndarray,
    w_rec: np.ndarray,
    weight_every: int | None = None,
    samples: list | None = None,
) -> None:
    """The vectorized NumPy step loop (the reference implementation; used when numba is missing, and for
    plastic networks: each `PlasticBlock` is a `LearningDenseState`, each `RewardPlasticBlock` a
    `RewardLearningState` with its `RewardTraceUnit`, all sampled into `samples`)."""
    from wormchip.backends.learning import LearningDenseState
    from wormchip.backends.reward_learning import RewardTraceUnit

    plastic = [LearningDenseState(b) for b in p.plastic]
    reward = [(RewardLearningState(b), RewardTraceUnit(b)) for b in p.net.reward_plastic]
    learners = [*plastic, *(state for state, _ in reward)]
    increments = p.increments()
    if learners and samples is not None:
        samples.append((0, [s.w.copy() for s in learners]))
    n, steps, n_blocks, n_gap = p.n, p.steps, p.n_blocks, p.n_gap
    stacked, gap_stacked = p.stacked, p.gap_stacked
    left, right = np.maximum(p.exps, 0), np.maximum(-p.exps, 0)
    shift_left, shift_right = bool(left.any()), bool(right.any())
    gap_acc = np.zeros(n_gap * n, dtype=np.int64)
    gap_acc32 = np.zeros(n_gap * n, dtype=np.int32)
    gap_msg = np.zeros(p.msg_width, dtype=np.int32)  # [v >> gap_shift, graded activation]
    graded_x = np.zeros(n, dtype=np.int64)
    gap_in = np.zeros(n, dtype=np.int32)  # gap input at step k: computed from v at step k − 1
    u_factor, v_factor = p.u_factor, p.v_factor
    change_idx = 0
    bias = p.bias_table[0]
    vth = p.vth.astype(np.int32)
    refractory_used = bool(np.any(p.refractory > 1))
    ref_steps = np.maximum(p.refractory - 1, 0).astype(np.int32)  # frozen steps after a spike
    ref_count = np.zeros(n, dtype=np.int32)
    held = np.zeros(n, dtype=bool)
    v_reset = p.v_reset.astype(np.int32)
    u = np.zeros(n, dtype=np.int32)  # Lava keeps u, v in int32 arrays
    v = np.zeros(n, dtype=np.int32)
    a_in = np.zeros(n, dtype=np.int32)  # LIF input at step k: Dense outputs computed at step k − 1
    act = np.zeros(n, dtype=np.int32)
    prod = np.zeros(n, dtype=np.int64)
    tmp = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=bool)
    lo = np.zeros(n, dtype=bool)
    fired = np.zeros(n, dtype=bool)
    acc = np.zeros(n_blocks * n, dtype=np.int64)
    pending = np.zeros((p.ring, n), dtype=np.int64)  # delayed Dense sums, slot (arrival step) mod ring
    record_u, record_v, record_w = len(u_rec) > 0, len(v_rec) > 0, len(w_rec) > 0
    adaptive = p.adaptive
    w = np.zeros(n, dtype=np.int32)  # adaptation register (GapLIF's Var w), int32
    w_prod = np.zeros(n, dtype=np.int64)
    w_term = np.zeros(n, dtype=np.int32)
    conductance, n_cond = p.conductance, len(p.cond_exps)
    g = np.zeros(n, dtype=np.int32)  # conductance register (GapLIF's Var g), int32
    g_in = np.zeros(n, dtype=np.int32)  # its input at step k: Dense outputs computed at step k − 1
    g_term = np.zeros(n, dtype=np.int64)
    g_acc = np.zeros(n_cond * n, dtype=np.int64)

    for k in range(steps):
        if k == p.change_steps[change_idx + 1]:
            change_idx += 1
            bias = p.bias_table[change_idx]
        # u = decay(u) + (a_in << 6), in int32; then one 24-bit wrap: u > 2²³ → u − 2²⁴, u ≤ −2²³ → u + 2²⁴.
        np.left_shift(a_in, 6, out=act)
        np.add(_decay(u, u_factor, prod, tmp), act, out=prod)
        np.copyto(u, prod, casting="unsafe")
        np.greater(u, UV_MAX, out=hi)
        np.less_equal(u, -UV_MAX, out=lo)
        np.subtract(u, 2 * UV_MAX, out=u, where=hi)
        np.add(u, 2 * UV_MAX, out=u, where=lo)
        if adaptive:  # w = round(w·(2²⁴ − dw)/2²⁴) + adapt_b·(spike of step k − 1), stored as int32
            np.multiply(w, p.w_factor, out=w_prod)
            np.add(w_prod, W_ROUND, out=w_prod)
            np.right_shift(w_prod, W_DECAY_BITS, out=w_prod)
            np.add(w_prod, p.adapt_b, out=w_prod, where=fired)
            np.copyto(w, w_prod, casting="unsafe")
            np.right_shift(w, p.w_shift, out=w_term, casting="unsafe")
        if conductance:  # g = decay(g) + g_in (int32); term = (g·(v − v_op) + r) >> shift, int64, old v
            _decay(g, u_factor, prod, tmp)
            np.add(prod, g_in, out=prod)
            np.copyto(g, prod, casting="unsafe")
            np.subtract(v, p.v_op, out=g_term)
            np.multiply(g_term, g, out=g_term)
            np.add(g_term, p.cond_round, out=g_term)
            np.right_shift(g_term, p.cond_shift, out=g_term)
        # v = decay(v) + u − (w >> w_shift) − g term + bias, in int32, clipped to ±(2²³ − 1); spike where
        # v > vth << 6.
        _decay(v, v_factor, prod, tmp)
        np.add(prod, u, out=prod)
        np.add(prod, bias, out=prod)
        if n_gap:
            np.add(prod, gap_in, out=prod)
        if adaptive:
            np.subtract(prod, w_term, out=prod)
        if conductance:
            np.subtract(prod, g_term, out=prod)
        np.copyto(v, prod, casting="unsafe")
        np.maximum(v, -V_LIMIT, out=v)
        np.minimum(v, V_LIMIT, out=v)
        np.greater(v, vth, out=fired)
        if refractory_used:  # refractory neurons hold v at v_reset and cannot spike
            np.greater(ref_count, 0, out=held)
            np.copyto(v, v_reset, where=held)
            np.subtract(ref_count, 1, out=ref_count, where=held)
            np.logical_and(fired, ~held, out=fired)
            np.copyto(ref_count, ref_steps, where=fired)
        np.copyto(v, v_reset, where=fired)
        raster[k] = fired
        if record_u:
            u_rec[k] = u
        if record_v:
            v_rec[k] = v
        if record_w:
            w_rec[k] = w
        # Dense: int64 sums of the spiking columns, shifted by weight_exp, sent as int32, summed in int32.
        acc.fill(0)
        _sparsetools.csr_matvec(n_blocks * n, n, stacked.indptr, stacked.indices, stacked.data, fired, acc)
        if shift_left:
            np.left_shift(acc, left, out=acc)
        if shift_right:
            np.right_shift(acc, right, out=acc)
        np.copyto(a_in, p.input_drive[k])
        if p.ring > 1:  # sums computed `delay` steps ago arrive now
            slot = k % p.ring
            np.add(a_in, pending[slot], out=a_in, casting="unsafe")
            pending[slot] = 0
        for b in range(n_blocks):  # int64 + int32 computed in int64, stored wrapped: int32 arithmetic
            d = p.delays[b]
            if d:
                target = pending[(k + d) % p.ring]
                np.add(target, acc[b * n : (b + 1) * n], out=target)
            else:
                np.add(a_in, acc[b * n : (b + 1) * n], out=a_in, casting="unsafe")
        if conductance:  # the conductance Dense: like the recurrent blocks, undelayed, into g_in
            g_acc.fill(0)
            _sparsetools.csr_matvec(
                n_cond * n,
                n,
                p.cond_stacked.indptr,
                p.cond_stacked.indices,
                p.cond_stacked.data,
                fired,
                g_acc,
            )
            g_in.fill(0)
            for b, e in enumerate(p.cond_exps):
                np.add(g_in, _exp_shift(g_acc[b * n : (b + 1) * n], int(e)), out=g_in, casting="unsafe")
        for state in plastic:  # LearningDense: output with this step's weights, then learn from the spikes
            np.add(a_in, _wrap32(state.output(fired)), out=a_in, casting="unsafe")
            state.learn(fired, fired)
        for (state, traces), inc in zip(reward, increments):  # y1 and D from the trace process
            np.add(a_in, _wrap32(state.output(fired)), out=a_in, casting="unsafe")
            mods = int(fired[state.block.modulators].sum())  # D += 1 per modulator spike, this step
            y = traces.step(fired, int(inc[k]) + mods * state.block.modulator_increment)
            state.learn(k, fired, fired, *y)
        if (
            learners
            and samples is not None
            and (k + 1 == steps or (weight_every and (k + 1) % weight_every == 0))
        ):
            samples.append((k + 1, [s.w.copy() for s in learners]))
        if n_gap:
            # GapLIF sends v >> gap_shift; each graded Dense: int32 W.dot(msg), shifted in int32, summed in int32.
            np.right_shift(v, p.gap_shift, out=gap_msg[:n])
            if p.graded:  # hard sigmoid: clip(2¹¹ + ((v − μ)·mant + r >> shift), 0, 2¹²), int64, rounded
                np.subtract(v, p.graded_mu, out=graded_x)
                np.multiply(graded_x, p.graded_mant, out=graded_x)
                np.add(graded_x, p.graded_round, out=graded_x)
                np.right_shift(graded_x, p.graded_shift, out=graded_x)
                np.add(graded_x, GRADED_HALF, out=graded_x)
                np.clip(graded_x, 0, 2 * GRADED_HALF, out=graded_x)
                np.copyto(gap_msg[n:], graded_x, casting="unsafe")
            gap_acc.fill(0)
            _sparsetools.csr_matvec(
                n_gap * n,
                p.msg_width,
                gap_stacked.indptr,
                gap_stacked.indices,
                gap_stacked.data,
                gap_msg,
                gap_acc,
            )
            np.copyto(gap_acc32, gap_acc, casting="unsafe")
            gap_in.fill(0)
            for b, e in enumerate(p.gap_exps):
                part = gap_acc32[b * n : (b + 1) * n]
                if e > 0:
                    np.left_shift(part, e, out=part)
                elif e < 0:
                    np.right_shift(part, -e, out=part)
                np.add(gap_in, part, out=gap_in)


def _wrap32_scalar(x: int) -> int:
    """Two's-complement wrap of an int64 to the int32 range (numba-compiled inside the kernel)."""
    return ((x + 2147483648) & 4294967295) - 2147483648


def _learning_output(w: np.ndarray, b: int, e: int, n: int, fired: np.ndarray, a_in: np.ndarray) -> None:
    """A (Learning)Dense block b's output for the spikes `fired`, shifted by `e` and wrapped to int32, into
    a_in (numba-compiled inside the kernel)."""
    for i in range(n):
        s = 0
        for j in range(n):
            if fired[j]:
                s += w[b, i, j]
        a_in[i] += _wrap32_jit(s << e if e > 0 else s >> -e)


def _step_loop(
    n: int,
    steps: int,
    u_factor: np.ndarray,
    v_factor: np.ndarray,
    vth: np.ndarray,
    bias_table: np.ndarray,
    change_steps: np.ndarray,
    input_drive: np.ndarray,
    col_ptr: np.ndarray,
    col_rows: np.ndarray,
    col_w: np.ndarray,
    row_exps: np.ndarray,
    row_delays: np.ndarray,
    ring: int,
    gap_ptr: np.ndarray,
    gap_cols: np.ndarray,
    gap_w: np.ndarray,
    gap_exps: np.ndarray,
    gap_shift: int,
    graded: bool,
    graded_mu: np.ndarray,
    graded_mant: np.ndarray,
    graded_shift: np.ndarray,
    graded_round: np.ndarray,
    refractory: np.ndarray,
    v_reset: np.ndarray,
    adaptive: bool,
    w_factor: np.ndarray,
    adapt_b: np.ndarray,
    w_shift: np.ndarray,
    conductance: bool,
    cond_ptr: np.ndarray,
    cond_rows: np.ndarray,
    cond_w: np.ndarray,
    cond_exps: np.ndarray,
    v_op: np.ndarray,
    cond_shift: int,
    cond_round: int,
    p_tag: np.ndarray,
    p_exp: np.ndarray,
    p_sign: np.ndarray,
    p_x_impulse: np.ndarray,
    p_y_impulse: np.ndarray,
    p_x_decay: np.ndarray,
    p_y_decay: np.ndarray,
    p_n_products: np.ndarray,
    p_dep: np.ndarray,
    p_factors: np.ndarray,
    p_mant: np.ndarray,
    p_shift: np.ndarray,
    p_exp7: np.ndarray,
    p_rand: np.ndarray,
    r_ints: np.ndarray,
    r_floats: np.ndarray,
    r_products: np.ndarray,
    r_mask: np.ndarray,
    r_mod: np.ndarray,
    r_rand: np.ndarray,
    r_inc: np.ndarray,
    raster: np.ndarray,
    u_rec: np.ndarray,
    v_rec: np.ndarray,
    w_rec: np.ndarray,
    k0: int,
    u: np.ndarray,
    v: np.ndarray,
    a_in: np.ndarray,
    gap_in: np.ndarray,
    msg: np.ndarray,
    acc: np.ndarray,
    pending: np.ndarray,
    ref_count: np.ndarray,
    fired: np.ndarray,
    w: np.ndarray,
    change_at: np.ndarray,
    p_w: np.ndarray,
    p_x1: np.ndarray,
    p_y1: np.ndarray,
    g: np.ndarray,
    g_in: np.ndarray,
    g_acc: np.ndarray,
    r_w: np.ndarray,
    r_tag: np.ndarray,
    r_x1: np.ndarray,
    r_ty: np.ndarray,
) -> None:
    """`steps` steps from global step `k0`, scalar by scalar, with the integer widths of the NumPy loop
    (compiled by numba). The state (u … w, `KernelState`) is read and left in the arrays passed in, so a run
    can continue in chunks (the closed loop's stepping session); `input_drive` and the records are indexed
    from the chunk's first step, `change_steps` and the delay ring by global step.

    Everything is int64 here; each place where Lava computes in int32 wraps explicitly with `_wrap32_jit`.
    """
    n_rows = len(row_exps)
    n_gap = len(gap_exps)
    record_u, record_v, record_w = u_rec.shape[0] > 0, v_rec.shape[0] > 0, w_rec.shape[0] > 0
    w_round = 1 << 23  # W_ROUND: w's decay, (w·f + 2²³) >> 24
    change_idx = change_at[0]
    for k_local in range(steps):
        k = k0 + k_local
        if k == change_steps[change_idx + 1]:
            change_idx += 1
        n_fired = 0
        for i in range(n):
            p = u[i] * u_factor[i]
            dec = -((-p) >> 12) if p < 0 else p >> 12
            x = _wrap32_jit(dec + _wrap32_jit(a_in[i] << 6))
            if x > 8388608:
                x -= 16777216
            elif x <= -8388608:
                x += 16777216
            u[i] = x
            w_term = 0
            if adaptive:  # fired[i] still holds the spike of step k − 1
                wi = (w[i] * w_factor[i] + w_round) >> 24
                if fired[i]:
                    wi += adapt_b[i]
                wi = _wrap32_jit(wi)
                w[i] = wi
                w_term = wi >> w_shift[i]
            g_term = 0
            if conductance:  # g = decay(g) + g_in (int32); (g·(v − v_op) + r) >> shift with the old v
                p = g[i] * u_factor[i]
                gi = _wrap32_jit((-((-p) >> 12) if p < 0 else p >> 12) + g_in[i])
                g[i] = gi
                g_term = (gi * (v[i] - v_op[i]) + cond_round) >> cond_shift
            p = v[i] * v_factor[i]
            dec = -((-p) >> 12) if p < 0 else p >> 12
            y = _wrap32_jit(dec + x + bias_table[change_idx, i] + gap_in[i] - w_term - g_term)
            if y > 8388607:
                y = 8388607
            elif y < -8388607:
                y = -8388607
            spike = False
            if ref_count[i] > 0:
                y = v_reset[i]
                ref_count[i] -= 1
            elif y > vth[i]:
                spike = True
                y = v_reset[i]
                if refractory[i] > 1:
                    ref_count[i] = refractory[i] - 1
            v[i] = y
            fired[i] = spike
            n_fired += spike
            raster[k_local, i] = spike
            if record_u:
                u_rec[k_local, i] = x
            if record_v:
                v_rec[k_local, i] = y
            if record_w:
                w_rec[k_local, i] = w[i]
        # Dense: scatter the spiking neurons' columns into int64 sums, shift per block, wrap to int32.
        if n_fired:
            acc[:] = 0
            for j in range(n):
                if fired[j]:
                    for q in range(col_ptr[j], col_ptr[j + 1]):
                        acc[col_rows[q]] += col_w[q]
        for i in range(n):
            a_in[i] = input_drive[k_local, i]
        if ring > 1:  # delayed sums arriving now
            slot = k % ring
            for i in range(n):
                a_in[i] += pending[slot, i]
                pending[slot, i] = 0
        if n_fired:
            for r in range(n_rows):
                e = row_exps[r]
                s = acc[r] << e if e > 0 else acc[r] >> -e
                d = row_delays[r]
                if d:
                    pending[(k + d) % ring, r % n] += s
                else:
                    a_in[r % n] += s
        if conductance:  # the conductance Dense into g_in: int64 sums per block, shifted, int32 sum
            n_cond = len(cond_exps)
            for r in range(n_cond * n):
                g_acc[r] = 0
            if n_fired:
                for j in range(n):
                    if fired[j]:
                        for q in range(cond_ptr[j], cond_ptr[j + 1]):
                            g_acc[cond_rows[q]] += cond_w[q]
            for i in range(n):
                g_in[i] = 0
            for r in range(n_cond * n):
                e = cond_exps[r // n]
                g_in[r % n] += g_acc[r] << e if e > 0 else g_acc[r] >> -e
            for i in range(n):
                g_in[i] = _wrap32_jit(g_in[i])
        for b in range(len(p_exp)):  # LearningDense: output with this step's weights, then learn
            if n_fired:
                _learning_output_jit(p_w, b, p_exp[b], n, fired, a_in)
            learn_jit(
                b, n, fired, n_fired, p_w, p_x1, p_y1, p_tag, p_sign, p_x_impulse, p_y_impulse, p_x_decay,
                p_y_decay, p_n_products, p_dep, p_factors, p_mant, p_shift, p_exp7,
                p_rand[b, k_local, 0], p_rand[b, k_local, 1], p_rand[b, k_local, 2],
            )  # fmt: skip
        for b in range(len(r_ints)):  # three-factor LearningDense: the same, then its trace process
            if n_fired:
                _learning_output_jit(r_w, b, r_ints[b, 0], n, fired, a_in)
            reward_step_jit(
                b, n, k, fired, n_fired, r_inc[b, k_local], r_w, r_tag, r_x1, r_ty, r_ints, r_floats,
                r_products, r_mask, r_mod, r_rand[b, k_local, 0], r_rand[b, k_local, 1], r_rand[b, k_local, 2],
            )  # fmt: skip
        if n_fired or ring > 1:
            for i in range(n):
                a_in[i] = _wrap32_jit(a_in[i])
        if n_gap:
            # GapLIF's graded messages v >> gap_shift (and the graded activation, columns n…2n − 1);
            # graded Dense: int32 dot, int32 shift, int32 sum.
            for i in range(n):
                msg[i] = v[i] >> gap_shift
                gap_in[i] = 0
                if graded:
                    x = (v[i] - graded_mu[i]) * graded_mant[i] + graded_round[i]
                    x = GRADED_HALF + (x >> graded_shift[i])
                    msg[n + i] = min(max(x, 0), 2 * GRADED_HALF)
            for b in range(n_gap):
                e = gap_exps[b]
                for i in range(n):
                    r = b * n + i
                    total = 0
                    for q in range(gap_ptr[r], gap_ptr[r + 1]):
                        total += gap_w[q] * msg[gap_cols[q]]
                    total = _wrap32_jit(total)
                    total = _wrap32_jit(total << e) if e > 0 else total >> -e
                    gap_in[i] += total
            for i in range(n):
                gap_in[i] = _wrap32_jit(gap_in[i])
    change_at[0] = change_idx


if numba is not None:  # compiled lazily, on the first call, and cached on disk (`cache=True`)
    _wrap32_jit = numba.njit(cache=True, inline="always")(_wrap32_scalar)
    _learning_output_jit = numba.njit(cache=True)(_learning_output)
    _step_kernel = numba.njit(cache=True, nogil=True)(_step_loop)


def _kernel() -> object:
    """The numba-compiled `_step_loop`."""
    return _step_kernel


def result_from_raster(
    net: FixedPointNetwork, spikes: np.ndarray, traces: dict[str, np.ndarray], metadata: dict
) -> Result:
    """Build a `Result` from a spike raster and state samples (both steps × n); step k is at `k * dt` s."""
    return result_from_events(net, spikes.shape[0], np.nonzero(spikes), traces, metadata)


def result_from_events(
    net: FixedPointNetwork,
    steps: int,
    events: tuple[np.ndarray, np.ndarray],
    traces: dict[str, np.ndarray],
    metadata: dict,
) -> Result:
    """Build a `Result` from spikes as (step, neuron) index arrays and state samples (steps × n)."""
    spike_step, spike_neuron = events
    order = np.lexsort((spike_step, spike_neuron))
    spike_step, spike_neuron = spike_step[order], spike_neuron[order]
    bounds = np.searchsorted(spike_neuron, np.arange(net.n_neurons + 1))
    spike_times = {
        name: spike_step[bounds[i] : bounds[i + 1]] * net.dt for i, name in enumerate(net.neuron_names)
    }
    return Result(
        neuron_names=list(net.neuron_names),
        duration=steps * net.dt,
        dt=net.dt,
        spike_times=spike_times,
        traces={
            key: Trace(
                times=np.arange(steps) * net.dt,
                channels=list(net.neuron_names),
                values=vals,
                unit="fixed-point",
            )
            for key, vals in traces.items()
        },
        metadata=metadata,
    )
