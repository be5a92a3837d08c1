"""Vectorized NumPy emulator of Lava 0.10's fixed-point LIF + Dense, bit-exact with `Loihi2SimCfg("fixed_pt")`.

It follows `PyLifModelBitAcc` and `PyDenseModelBitAcc` (lava-nc 0.10, `lava/proc/lif/models.py`,
`lava/proc/dense/models.py`) operation by operation, including the integer widths Lava's arithmetic happens in:
Dense sums in int64 and shifts by `weight_exp` after summing; its output travels on an int32 channel (wraps,
not saturated to 16 bit); inputs from several Dense add in int32; `a_in << 6` and `u` updates are int32; u wraps
once at 24 bit; v clips to ±(2²³ − 1). One step is one sparse mat-vec plus ~30 in-place array operations,
tens of times faster than Lava's one-OS-process-per-Process simulation (docs/lava.md has measurements).

Two extensions run here exactly as in `lava_runner`: a piecewise-constant bias schedule, and gap junctions
(`GapLIF`: graded voltage messages `v >> gap_shift` through graded Dense blocks, whose int32 output adds to
v at the next step; the graded Dense computes `W.dot(msg)` in int32, so its sum wraps in int32).
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse import _sparsetools  # the kernel of `csr_matrix @ x`, minus its per-call dispatch cost

from wormchip.mappers.fixed_point import FixedPointNetwork
from wormchip.result import Result, Trace

UV_MAX = 2**23  # u, v are 24-bit signed
V_LIMIT = UV_MAX - 1
RECORDABLE = ("u", "v")


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
    net: FixedPointNetwork, steps: int, record: tuple[str, ...] | list[str] = RECORDABLE
) -> Result:
    """Simulate `net` for `steps` steps; spikes always, u/v traces (unit "fixed-point") for names in `record`.

    Step k (0-based) is Lava's time step k + 1; spike and sample times are `k * net.dt` seconds.
    """
    unknown = set(record) - set(RECORDABLE)
    if unknown:
        raise ValueError(f"cannot record {sorted(unknown)}; choose from {list(RECORDABLE)}")
    if steps < 0:
        raise ValueError(f"steps = {steps} must be ≥ 0")
    t0 = time.perf_counter()
    n = net.n_neurons

    # External input does not depend on the state: every step's Dense outputs at once, each wrapped to the
    # int32 channel, summed in int32 like Lava's InPort.
    inputs = sp.csr_matrix(net.input_at(steps).astype(np.int64))
    input_drive = np.zeros((steps, n), dtype=np.int32)
    for block in net.input_weights:
        input_drive += _wrap32(_exp_shift((inputs @ block.effective_weights().T).toarray(), block.weight_exp))

    # Recurrent blocks stacked into one matrix: one sparse mat-vec per step, then per-row exponents.
    n_blocks = len(net.weights)
    stacked = sp.vstack([b.effective_weights() for b in net.weights] or [sp.csr_matrix((0, n))], format="csr")
    stacked = stacked.astype(np.int64)
    exps = np.repeat([b.weight_exp for b in net.weights], n).astype(np.int64)
    left, right = np.maximum(exps, 0), np.maximum(-exps, 0)
    shift_left, shift_right = bool(left.any()), bool(right.any())

    # Gap junctions: graded Dense blocks stacked the same way; their sums wrap in int32 (int32 dot).
    n_gap = len(net.gap_weights)
    gap_stacked = None
    if n_gap:
        gap_stacked = sp.vstack([b.effective_weights() for b in net.gap_weights], format="csr").astype(
            np.int64
        )
        gap_exps = [b.weight_exp for b in net.gap_weights]
    gap_acc = np.zeros(n_gap * n, dtype=np.int64)
    gap_acc32 = np.zeros(n_gap * n, dtype=np.int32)
    gap_msg = np.zeros(n, dtype=np.int32)
    gap_in = np.zeros(n, dtype=np.int32)  # gap input at step k: computed from v at step k − 1

    u_factor = 4096 - (net.du + 1)  # Lava's ds_offset: du = 0 still leaks 1/4096
    v_factor = 4096 - net.dv
    bias, changes = net.bias_at(steps)
    changes.append((steps, bias))  # sentinel: never reached
    next_change, change_idx = changes[0][0], 0
    vth = (net.vth << 6).astype(np.int32)
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
    raster = np.zeros((steps, n), dtype=bool)
    u_rec = np.empty((steps, n), dtype=np.int32) if "u" in record else None
    v_rec = np.empty((steps, n), dtype=np.int32) if "v" in record else None

    for k in range(steps):
        if k == next_change:
            bias = changes[change_idx][1]
            change_idx += 1
            next_change = changes[change_idx][0]
        # u = decay(u) + (a_in << 6), in int32; then one 24-bit wrap: u > 2²³ → u − 2²⁴, u ≤ −2²³ → u + 2²⁴.
        np.left_shift(a_in, 6, out=act)
        np.add(_decay(u, u_factor, prod, tmp), act, out=prod)
        np.copyto(u, prod, casting="unsafe")
        np.greater(u, UV_MAX, out=hi)
        np.less_equal(u, -UV_MAX, out=lo)
        np.subtract(u, 2 * UV_MAX, out=u, where=hi)
        np.add(u, 2 * UV_MAX, out=u, where=lo)
        # v = decay(v) + u + bias, in int32, clipped to ±(2²³ − 1); spike where v > vth << 6; reset v to 0.
        _decay(v, v_factor, prod, tmp)
        np.add(prod, u, out=prod)
        np.add(prod, bias, out=prod)
        if n_gap:
            np.add(prod, gap_in, out=prod)
        np.copyto(v, prod, casting="unsafe")
        np.maximum(v, -V_LIMIT, out=v)
        np.minimum(v, V_LIMIT, out=v)
        np.greater(v, vth, out=fired)
        np.copyto(v, 0, where=fired)
        raster[k] = fired
        if u_rec is not None:
            u_rec[k] = u
        if v_rec is not None:
            v_rec[k] = v
        # Dense: int64 sums of the spiking columns, shifted by weight_exp, sent as int32, summed in int32.
        acc.fill(0)
        _sparsetools.csr_matvec(n_blocks * n, n, stacked.indptr, stacked.indices, stacked.data, fired, acc)
        if shift_left:
            np.left_shift(acc, left, out=acc)
        if shift_right:
            np.right_shift(acc, right, out=acc)
        np.copyto(a_in, input_drive[k])
        for b in range(n_blocks):  # int64 + int32 computed in int64, stored wrapped: int32 arithmetic
            np.add(a_in, acc[b * n : (b + 1) * n], out=a_in, casting="unsafe")
        if n_gap:
            # GapLIF sends v >> gap_shift; each graded Dense: int32 W.dot(msg), shifted in int32, summed in int32.
            np.right_shift(v, net.gap_shift, out=gap_msg)
            gap_acc.fill(0)
            _sparsetools.csr_matvec(
                n_gap * n, n, gap_stacked.indptr, gap_stacked.indices, gap_stacked.data, gap_msg, gap_acc
            )
            np.copyto(gap_acc32, gap_acc, casting="unsafe")
            gap_in.fill(0)
            for b, e in enumerate(gap_exps):
                part = gap_acc32[b * n : (b + 1) * n]
                if e > 0:
                    np.left_shift(part, e, out=part)
                elif e < 0:
                    np.right_shift(part, -e, out=part)
                np.add(gap_in, part, out=gap_in)

    traces = {key: vals for key, vals in (("u", u_rec), ("v", v_rec)) if vals is not None}
    return result_from_raster(
        net, raster, traces, {"backend": "emulator", "steps": steps, "wall_time_s": time.perf_counter() - t0}
    )


def result_from_raster(
    net: FixedPointNetwork, spikes: np.ndarray, traces: dict[str, np.ndarray], metadata: dict
) -> Result:
    """Build a `Result` from a spike raster and state samples (both steps × n); step k is at `k * dt` s."""
    steps = spikes.shape[0]
    times = np.arange(steps) * net.dt
    spike_times = {name: times[spikes[:, i]] for i, name in enumerate(net.neuron_names)}
    return Result(
        neuron_names=list(net.neuron_names),
        duration=steps * net.dt,
        dt=net.dt,
        spike_times=spike_times,
        traces={
            key: Trace(times=times, channels=list(net.neuron_names), values=vals, unit="fixed-point")
            for key, vals in traces.items()
        },
        metadata=metadata,
    )
