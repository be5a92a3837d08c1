"""The calibration's compiled float run (`lower.lowest_v`): each neuron's lowest v, on one or two threads.

`lowest_v_loop` is `lower._float_steps` without delays, compiled by numba. Large networks without gap or graded
couplings run it on two threads, each owning half the neurons and the synapses *onto* them: both update their
neurons, publish their spikes, meet, then both scatter every spike of the step in ascending order into their own
half of the input. Each target still sums its inputs in the same order from the same 0.0, so the floats are the
one-thread run's, bit for bit (issue 16, goal 3: the float run at 100k neurons / 5M synapses is 118 M scattered
adds, ~0.6 of `quantized()`).
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np

from wormchip.prefetch import CACHE_LINE, prefetch
from wormchip.spin import SPINS_BEFORE_YIELD, load_acquire, store_release, yield_core

PREFETCH_AHEAD = 4  # the scatter prefetches this many spikes ahead (2–16 measured: 4 best)
TWO_THREADS_FROM = 20_000  # neurons; below, a step's work (< 0.1 ms) is too short to share
PROGRESS_STRIDE = 8  # int64s between the two threads' step counters: one cache line each


@numba.njit(cache=True, nogil=True)
def lowest_v_loop(
    part: int,
    parts: int,
    lo: int,
    hi: int,
    steps: int,
    keep_u: np.ndarray,
    keep_v: np.ndarray,
    keep_w: np.ndarray,
    adapt_b: np.ndarray,
    v_th: np.ndarray,
    v_reset: np.ndarray,
    frozen: np.ndarray,
    biases: np.ndarray,
    change_steps: np.ndarray,
    rec_ptr: np.ndarray,
    rec_rows: np.ndarray,
    rec_vals: np.ndarray,
    in_ptr: np.ndarray,
    in_rows: np.ndarray,
    in_vals: np.ndarray,
    input_spikes: np.ndarray,
    lap_ptr: np.ndarray,
    lap_idx: np.ndarray,
    lap_vals: np.ndarray,
    gr_ptr: np.ndarray,
    gr_idx: np.ndarray,
    gr_vals: np.ndarray,
    gr_slope: np.ndarray,
    gr_mu: np.ndarray,
    spiking: np.ndarray,
    n_spiking: np.ndarray,
    progress: np.ndarray,
    lowest: np.ndarray,
) -> None:
    """Thread `part` of `parts` (1 or 2): neurons lo..hi−1, synapses onto them in `rec_*` (CSC by source, rows
    counted from lo).

    Each value is computed as the NumPy loop computes it: u·keep + a_in, (((v·keep + u) − w) + bias) + gap_in
    (w is exactly 0 without adaptation, so subtracting it is the identity the NumPy loop skips), spike input
    summed from 0.0 per target in ascending presynaptic order (external input in its own sum, then added),
    gap and graded sums from 0.0 in CSR order (one thread only: they read every neuron's v). Each thread keeps
    the state of its own neurons, indexed from 0 (a loop from 0 lets the compiler drop negative-index checks:
    with `range(lo, hi)` the one-thread run was 1.3× slower); `spiking[step % 2, part]` lists a step's spikes
    (`n_spiking[2·(step % 2) + part]` of them), double-buffered so a thread may start the next step while the
    other still scatters. The scatter prefetches the synapse rows of the spikes a few places ahead
    (`wormchip.prefetch`).
    """
    m = hi - lo
    u, v, w, a_in, ext, gap_in, h = (
        np.zeros(m),
        np.zeros(m),
        np.zeros(m),
        np.zeros(m),
        np.zeros(m),
        np.zeros(m),
        np.zeros(m),
    )
    count = np.zeros(m, dtype=np.int32)
    fired = np.zeros(m, dtype=np.bool_)
    own_keep_u, own_keep_v, own_keep_w, own_adapt_b = (
        keep_u[lo:hi],
        keep_v[lo:hi],
        keep_w[lo:hi],
        adapt_b[lo:hi],
    )
    own_v_th, own_v_reset, own_frozen, own_lowest = v_th[lo:hi], v_reset[lo:hi], frozen[lo:hi], lowest[lo:hi]
    adaptive = bool(np.any(adapt_b != 0.0)) or bool(np.any(keep_w != 1.0))
    inputs = input_spikes.shape[1] > 0
    graded = len(gr_vals) > 0
    coupled = graded or len(lap_vals) > 0
    bias_row, next_change = 0, 0
    rows_per_line, vals_per_line = CACHE_LINE // rec_rows.itemsize, CACHE_LINE // rec_vals.itemsize
    other = 1 - part
    for k in range(steps):
        if k == change_steps[next_change]:
            next_change += 1
            bias_row = next_change
        bias = biases[bias_row, lo:hi]
        buffer = k % 2
        mine = spiking[buffer, part]
        n_mine = 0
        for i in range(m):  # one pass per neuron; a_in is cleared as it is read
            u[i] = u[i] * own_keep_u[i] + a_in[i]
            a_in[i] = 0.0
            x = v[i] * own_keep_v[i] + u[i]
            if adaptive:
                w[i] = w[i] * own_keep_w[i] + own_adapt_b[i] * (1.0 if fired[i] else 0.0)
                x = x - w[i]
            x = (x + bias[i]) + gap_in[i]
            spike = False
            if count[i] > 0:
                x = own_v_reset[i]
                count[i] -= 1
            elif x > own_v_th[i]:
                spike = True
                x = own_v_reset[i]
                count[i] = own_frozen[i]
                mine[n_mine] = lo + i
                n_mine += 1
            if adaptive:
                fired[i] = spike
            v[i] = x
            if own_lowest[i] == own_lowest[i] and not (own_lowest[i] <= x):  # np.minimum, NaN included
                own_lowest[i] = x
        n_spiking[2 * buffer + part] = n_mine
        if parts == 2:  # publish this step's spikes, then wait for the other half's
            store_release(progress, part * PROGRESS_STRIDE, k + 1)
            spins = 0
            while load_acquire(progress, other * PROGRESS_STRIDE) < k + 1:
                spins += 1
                if spins == SPINS_BEFORE_YIELD:
                    yield_core()
                    spins = 0
        for source in range(parts):  # the spikes of neurons 0..n/2, then n/2..n: ascending
            listed = spiking[buffer, source]
            n_listed = n_spiking[2 * buffer + source]
            for s in range(n_listed):  # the rows of the spike PREFETCH_AHEAD places on are fetched meanwhile
                if s + PREFETCH_AHEAD < n_listed:
                    ahead = listed[s + PREFETCH_AHEAD]
                    for e in range(rec_ptr[ahead], rec_ptr[ahead + 1], rows_per_line):
                        prefetch(rec_rows, e)
                    for e in range(rec_ptr[ahead], rec_ptr[ahead + 1], vals_per_line):
                        prefetch(rec_vals, e)
                j = listed[s]
                for e in range(rec_ptr[j], rec_ptr[j + 1]):
                    a_in[rec_rows[e]] += rec_vals[e]
        if inputs and k < input_spikes.shape[0]:
            active = False
            for j in range(input_spikes.shape[1]):
                if input_spikes[k, j]:
                    if not active:
                        ext[:] = 0.0
                        active = True
                    for e in range(in_ptr[j], in_ptr[j + 1]):
                        target = in_rows[e] - lo
                        if 0 <= target < m:
                            ext[target] += in_vals[e]
            if active:
                for i in range(m):
                    a_in[i] += ext[i]
        if coupled:  # one thread: local indices are global
            if graded:
                for j in range(m):
                    h[j] = min(max(0.5 + 0.25 * (gr_slope[j] * (v[j] - gr_mu[j])), 0.0), 1.0)
            for i in range(m):
                total = 0.0
                for e in range(lap_ptr[i], lap_ptr[i + 1]):
                    total += lap_vals[e] * v[lap_idx[e]]
                if graded:
                    extra = 0.0
                    for e in range(gr_ptr[i], gr_ptr[i + 1]):
                        extra += gr_vals[e] * h[gr_idx[e]]
                    total = total + extra
                gap_in[i] = total


@numba.njit(cache=True, nogil=True)
def csc_halves(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_cols: int, middle: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A canonical CSR matrix (post × pre) → the entries onto rows < middle and onto rows ≥ middle (rows counted
    from middle), each as CSC by presynaptic column with ascending rows (ptr int64, rows int32, values): one
    counting pass and one filling pass, instead of a whole CSC then its split."""
    n_rows = len(indptr) - 1
    ptr_a, ptr_b = np.zeros(n_cols + 1, np.int64), np.zeros(n_cols + 1, np.int64)
    for i in range(n_rows):
        counts = ptr_a if i < middle else ptr_b
        for e in range(indptr[i], indptr[i + 1]):
            counts[indices[e] + 1] += 1
    for j in range(n_cols):
        ptr_a[j + 1] += ptr_a[j]
        ptr_b[j + 1] += ptr_b[j]
    rows_a, rows_b = np.empty(ptr_a[n_cols], np.int32), np.empty(ptr_b[n_cols], np.int32)
    vals_a, vals_b = np.empty(ptr_a[n_cols], data.dtype), np.empty(ptr_b[n_cols], data.dtype)
    next_a, next_b = ptr_a[:-1].copy(), ptr_b[:-1].copy()
    for i in range(n_rows):
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            if i < middle:
                rows_a[next_a[j]], vals_a[next_a[j]] = i, data[e]
                next_a[j] += 1
            else:
                rows_b[next_b[j]], vals_b[next_b[j]] = i - middle, data[e]
                next_b[j] += 1
    return ptr_a, rows_a, vals_a, ptr_b, rows_b, vals_b


def two_threads_suit(n_neurons: int, coupled: bool) -> bool:
    """Whether the run is worth splitting: a large network without couplings, and a core to spare — two this
    process may use, and no other task running beside this one right now. On a busy machine the two threads
    wait on each other at every step (30k neurons, 2 cores, another process busy: 0.63 s on one thread,
    1.0 s on two)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return n_neurons >= TWO_THREADS_FROM and not coupled and cores >= 2 and _others_running() <= cores - 2


def _others_running() -> float:
    """Tasks running or runnable besides this thread: /proc/loadavg's count of them now, less this one (or,
    without /proc, the 1-minute load average less one)."""
    try:
        with open("/proc/loadavg") as status:
            return int(status.read().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] - 1


def run_lowest_v(
    steps: int,
    neurons: tuple[np.ndarray, ...],
    recurrent: tuple[np.ndarray, np.ndarray, np.ndarray],
    external: tuple[np.ndarray, ...],
    couplings: tuple[np.ndarray, ...],
    lowest: np.ndarray,
    threads: int,
) -> None:
    """Run `lowest_v_loop` on `threads` (1 or 2) threads, updating `lowest` in place.

    `neurons`: keep_u, keep_v, keep_w, adapt_b, v_th, v_reset, frozen, biases, change_steps; `recurrent`: the
    synapses as canonical CSR, post × pre (indptr, indices, data); `external`: in_ptr, in_rows, in_vals,
    input_spikes; `couplings`: the gap Laplacian and graded CSR arrays, slopes and midpoints (empty for two
    threads).
    """
    n = len(lowest)
    spiking = np.empty((2, threads, n), dtype=np.int32)
    n_spiking = np.zeros(2 * threads, dtype=np.int64)
    progress = np.zeros(threads * PROGRESS_STRIDE, dtype=np.int64)
    shared = (spiking, n_spiking, progress, lowest)
    if threads == 1:
        synapses = csc_halves(*recurrent, n, n)[:3]
        lowest_v_loop(0, 1, 0, n, steps, *neurons, *synapses, *external, *couplings, *shared)
        return
    middle = (
        (n // 2) // CACHE_LINE * CACHE_LINE
    )  # a multiple of 8 neurons: the halves' a_in share no cache line
    halves = csc_halves(*recurrent, n, middle)
    bounds = ((0, middle), (middle, n))
    failures: list[BaseException] = []

    def run(part: int) -> None:
        try:
            lowest_v_loop(
                part,
                2,
                *bounds[part],
                steps,
                *neurons,
                *halves[3 * part : 3 * part + 3],
                *external,
                *couplings,
                *shared,
            )
        except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
            failures.append(error)

    second = threading.Thread(target=run, args=(1,), name="wormchip-calibration")
    second.start()
    run(0)
    second.join()
    if failures:
        raise failures[0]
