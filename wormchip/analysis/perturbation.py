"""Batched NumPy/scipy.sparse simulator of current-based LIF networks, for in-silico perturbation experiments.

Many stimulation experiments on one network differ only in which neuron receives a current pulse, so they are
run together: the state is a matrix neurons × batch (one column per experiment) and each time step is two
sparse products (chemical spikes, gap-junction sums) plus elementwise updates. This is what makes hundreds of
shuffled-connectome null models affordable (the Brian2 backend would need one run per stimulated neuron).

Equations, parameters and update order follow the Brian2 backend (`wormchip.backends.brian2_backend`) exactly,
for the subset used by `whole_worm`: `lif` neurons, `exp_current` projections and spike inputs (zero delay),
`gap_junction` projections, an `ir.CurrentInput`. Per step of length dt, as Brian2's default schedule does:

1. gap sums Σ g·v_pre from the current v (summed variables, before the state update);
2. exponential-Euler update of v with inputs held (exact for the linear membrane); refractory cells keep v;
   exp-current channels decay by exp(−dt/τ);
3. threshold v > v_th (not refractory);
4. spikes (network and external generators) add their weights to the postsynaptic currents;
5. reset v = v_reset.

Alongside v the simulator integrates the *free membrane potential* v_free (same inputs, no threshold or
reset; Gerstner & Kistler 2002, §5.3), a readout only: it is the low-pass-filtered input drive, which keeps
growing with excitation where v saturates in a reset sawtooth. `tests/analysis/test_atlas.py` checks the
simulator against `run_brian2` on the real `whole_worm`.

Two engines compute the same bits: the NumPy loop (the reference; it also records traces and spikes and takes
an `ir.CurrentInput`) and a numba-compiled loop (`_batch_steps`, the default where it applies) that fuses each
step's elementwise work into one pass instead of ~20 NumPy temporaries on neurons × batch arrays, with every
sum in the NumPy loop's order (whole_worm × 176 columns: ~6× faster per step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from wormchip import ir

try:  # numba is a dependency; without it the NumPy loop runs instead (same results, slower)
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

ENGINES = ("auto", "numba", "numpy")


@dataclass(frozen=True)
class Pulse:
    """A current step of `amplitude` amperes into neuron `neuron` (index) during steps [start, stop)."""

    neuron: int
    amplitude: float
    start: int
    stop: int


@dataclass
class BatchState:
    """Simulator state for a batch of B columns (arrays neurons × B, SI units)."""

    v: np.ndarray
    v_free: np.ndarray
    currents: np.ndarray  # channels × neurons × B (one channel per distinct synaptic τ)
    last_spike: np.ndarray  # step of the last spike (large negative if none)
    step: int

    def tile(self, batch: int) -> BatchState:
        """Copy a one-column state into `batch` identical columns (e.g. after a shared warm-up)."""
        return BatchState(
            np.repeat(self.v[:, :1], batch, axis=1),
            np.repeat(self.v_free[:, :1], batch, axis=1),
            np.repeat(self.currents[:, :, :1], batch, axis=2),
            np.repeat(self.last_spike[:, :1], batch, axis=1),
            self.step,
        )


@dataclass
class BatchRun:
    """Window averages of one `BatchSimulator.run` (neurons × B) and optional traces."""

    mean_v: np.ndarray  # V, mean over the window
    mean_v_free: np.ndarray  # V
    spike_count: np.ndarray  # spikes in the window
    window_s: float
    state: BatchState
    v_trace: np.ndarray | None = None  # samples × neurons × B
    spikes: list[tuple[int, np.ndarray, np.ndarray]] | None = None  # (step, neurons, columns) per step


class BatchSimulator:
    """The IR `network` compiled to arrays; `run` advances a batch of copies under different pulses."""

    def __init__(self, network: ir.Network) -> None:
        n = network.size
        self.network = network
        self.n = n
        self.dt = float(network.dt)
        params: dict[str, np.ndarray] = {}
        for block in network.blocks:
            if block.model != "lif":
                raise NotImplementedError(f"batched simulator supports lif neurons, not {block.model!r}")
            for key, values in block.params.items():
                params.setdefault(key, np.zeros(n))[block.indices] = values
        self.C = params["C_m"][:, None]
        self.g_L = params["g_L"][:, None]
        self.E_L = params["E_L"][:, None]
        self.v_th = params["v_th"][:, None]
        self.v_reset = params["v_reset"][:, None]
        self.I_bias = params["I_bias"][:, None]
        # Brian2: not_refractory = timestep(t − lastspike) >= timestep(t_ref) (rounded to steps).
        self.ref_steps = np.round(params["t_ref"] / self.dt).astype(np.int64)[:, None]
        taus: list[float] = []
        chem_parts: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        gap_pre, gap_post, gap_w = [], [], []
        for proj in network.projections:
            if proj.plasticity:
                raise NotImplementedError("batched simulator has no plasticity")
            if proj.synapse == "gap_junction":
                gap_pre += [proj.pre, proj.post]
                gap_post += [proj.post, proj.pre]
                gap_w += [proj.weight, proj.weight]
            elif proj.synapse == "exp_current":
                if proj.params.get("delay", 0.0):
                    raise NotImplementedError("batched simulator needs zero synaptic delay")
                k = _channel(taus, proj.params["tau"])
                chem_parts.setdefault(k, []).append((proj.pre, proj.post, proj.weight))
            else:
                raise NotImplementedError(f"batched simulator does not support {proj.synapse!r} synapses")
        self.W = []  # per channel: post × pre signed weights (A), CSC for spike-driven column gathers
        for k in range(len(taus)):
            pre = np.concatenate([p for p, _, _ in chem_parts.get(k, [])] or [np.zeros(0, np.int64)])
            post = np.concatenate([q for _, q, _ in chem_parts.get(k, [])] or [np.zeros(0, np.int64)])
            w = np.concatenate([x for _, _, x in chem_parts.get(k, [])] or [np.zeros(0)])
            self.W.append(sp.csc_matrix((w, (post, pre)), shape=(n, n)))
        gp = np.concatenate(gap_pre) if gap_pre else np.zeros(0, np.int64)
        gq = np.concatenate(gap_post) if gap_post else np.zeros(0, np.int64)
        gw = np.abs(np.concatenate(gap_w)) if gap_w else np.zeros(0)
        self.G = sp.csr_matrix((gw, (gq, gp)), shape=(n, n))
        self.g_gap = np.asarray(self.G.sum(axis=1)).reshape(n, 1)
        # External spike generators: events (step, target, weight, channel), sorted by step.
        ev_step, ev_target, ev_weight, ev_chan = [], [], [], []
        for inp in network.spike_inputs:
            if inp.synapse != "exp_current" or inp.params.get("delay", 0.0):
                raise NotImplementedError("batched simulator supports zero-delay exp_current spike inputs")
            k = _channel(taus, inp.params["tau"])
            if k == len(self.W):
                self.W.append(sp.csc_matrix((n, n)))
            for target, weight, times in zip(inp.target, inp.weight, inp.spike_times):
                steps = np.floor(np.asarray(times, float) / self.dt + 1e-3).astype(np.int64)  # Brian2 binning
                ev_step.append(steps)
                ev_target.append(np.full(len(steps), target, np.int64))
                ev_weight.append(np.full(len(steps), weight))
                ev_chan.append(np.full(len(steps), k, np.int64))
        self.taus = np.array(taus, dtype=float)
        self.decay_I = np.exp(-self.dt / self.taus) if len(taus) else np.zeros(0)
        if ev_step:
            s = np.concatenate(ev_step)
            order = np.argsort(s, kind="stable")
            self.ev_step = s[order]
            self.ev_target = np.concatenate(ev_target)[order]
            self.ev_weight = np.concatenate(ev_weight)[order]
            self.ev_chan = np.concatenate(ev_chan)[order]
        else:
            self.ev_step = np.zeros(0, np.int64)
            self.ev_target = self.ev_chan = np.zeros(0, np.int64)
            self.ev_weight = np.zeros(0)
        self.current = network.current
        g_tot = self.g_L + self.g_gap
        self.decay_v = np.exp(-self.dt * g_tot / self.C)
        self.inv_g_tot = 1.0 / g_tot
        self.rest_drive = self.g_L * self.E_L + self.I_bias
        self._kernel_args: tuple | None = None  # the numba loop's flat arrays, built on first use

    def initial_state(self, batch: int = 1) -> BatchState:
        """Brian2's initial state: v = E_L, currents 0, never spiked."""
        v = np.repeat(self.E_L, batch, axis=1)
        return BatchState(
            v.copy(),
            v.copy(),
            np.zeros((len(self.W), self.n, batch)),
            np.full((self.n, batch), -(10**9), dtype=np.int64),
            0,
        )

    def run(
        self,
        state: BatchState,
        n_steps: int,
        pulses: Sequence[Pulse | None] = (),
        record_every: int = 0,
        record_spikes: bool = False,
        engine: str = "auto",
    ) -> BatchRun:
        """Advance `state` (in place) by `n_steps`; column b also gets `pulses[b]` (None: no pulse).

        Returns the mean v, mean v_free and spike counts over these steps; `record_every` > 0 also samples v
        every that many steps (after the step, as Brian2's StateMonitor records at the start of the next).
        `engine`: "numpy", "numba" (no recording, no current input) or "auto" (numba where it applies); the
        results are identical bit for bit.
        """
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
        compiled = numba is not None and not record_every and not record_spikes and self.current is None
        if engine == "numba" and not compiled:
            raise ValueError("engine 'numba' needs numba, no recording and no current input; use 'auto'")
        batch = state.v.shape[1]
        pulses = list(pulses) + [None] * (batch - len(pulses))
        if compiled and engine != "numpy":
            return self._run_compiled(state, n_steps, pulses)
        p_cols = np.array([b for b, p in enumerate(pulses) if p is not None], dtype=np.int64)
        p_rows = np.array([pulses[b].neuron for b in p_cols], dtype=np.int64)
        p_amp = np.array([pulses[b].amplitude for b in p_cols])
        p_start = np.array([pulses[b].start for b in p_cols], dtype=np.int64)
        p_stop = np.array([pulses[b].stop for b in p_cols], dtype=np.int64)
        v, vf, currents, last = state.v, state.v_free, state.currents, state.last_spike
        sum_v = np.zeros_like(v)
        sum_vf = np.zeros_like(v)
        count = np.zeros(v.shape, dtype=np.int64)
        trace = []
        spikes_out: list[tuple[int, np.ndarray, np.ndarray]] = []
        wcsc = [(w.indptr, w.indices, w.data) for w in self.W]
        ev_lo = np.searchsorted(self.ev_step, state.step, side="left")
        ev_hi_all = np.searchsorted(
            self.ev_step, np.arange(state.step, state.step + n_steps) + 1, side="left"
        )
        ext = np.zeros_like(v)
        cur = self.current
        for k in range(n_steps):
            n = state.step + k
            if record_every and k % record_every == 0:
                trace.append(v.copy())
            gjv = self.G @ v
            drive = self.rest_drive + gjv + currents.sum(axis=0)
            if cur is not None and n < len(cur.values):
                ext[:] = 0.0
                ext[cur.target] = cur.values[n][:, None]
                drive = drive + ext
            if len(p_cols):
                on = (p_start <= n) & (n < p_stop)
                if on.any():
                    drive = drive.copy()
                    np.add.at(drive, (p_rows[on], p_cols[on]), p_amp[on])
            v_inf = drive * self.inv_g_tot
            refractory = (n - last) < self.ref_steps
            v_new = v_inf + (v - v_inf) * self.decay_v
            v = np.where(refractory, v, v_new)
            # Free membrane potential: leak + gap leak onto itself, same drive, no reset.
            vf = v_inf + (vf - v_inf) * self.decay_v
            if len(self.decay_I):
                currents *= self.decay_I[:, None, None]
            fired = (v > self.v_th) & ~refractory
            rows, cols = np.nonzero(fired)
            if len(rows):
                for c, (indptr, indices, data) in enumerate(wcsc):
                    starts, stops = indptr[rows], indptr[rows + 1]
                    lengths = stops - starts
                    if not lengths.sum():
                        continue
                    idx = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
                    np.add.at(currents[c], (indices[idx], np.repeat(cols, lengths)), data[idx])
                v[rows, cols] = self.v_reset[rows, 0]
                last[rows, cols] = n
                count[rows, cols] += 1
                if record_spikes:
                    spikes_out.append((n, rows, cols))
            ev_hi = ev_hi_all[k]
            if ev_hi > ev_lo:
                sl = slice(ev_lo, ev_hi)
                for c in np.unique(self.ev_chan[sl]):
                    m = self.ev_chan[sl] == c
                    add = np.bincount(self.ev_target[sl][m], weights=self.ev_weight[sl][m], minlength=self.n)
                    currents[c] += add[:, None]
                ev_lo = ev_hi
            sum_v += v
            sum_vf += vf
        state.v, state.v_free, state.last_spike = v, vf, last
        state.step += n_steps
        steps = max(n_steps, 1)
        return BatchRun(
            sum_v / steps,
            sum_vf / steps,
            count,
            n_steps * self.dt,
            state,
            np.array(trace) if record_every else None,
            spikes_out if record_spikes else None,
        )

    def _run_compiled(self, state: BatchState, n_steps: int, pulses: list[Pulse | None]) -> BatchRun:
        """`run` through the numba loop (same arithmetic in the same order as the NumPy loop)."""
        if self._kernel_args is None:
            ptr = np.zeros((len(self.W), self.n + 1), dtype=np.int64)
            for c, w in enumerate(self.W):
                ptr[c] = w.indptr + sum(x.nnz for x in self.W[:c])
            self._kernel_args = (
                *(a[:, 0].copy() for a in (self.rest_drive, self.inv_g_tot, self.decay_v, self.v_th)),
                self.v_reset[:, 0].copy(),
                self.ref_steps[:, 0].copy(),
                self.decay_I,
                self.G.indptr.astype(np.int64),
                self.G.indices.astype(np.int64),
                self.G.data,
                ptr,
                np.concatenate([w.indices for w in self.W] or [np.zeros(0, np.int64)]).astype(np.int64),
                np.concatenate([w.data for w in self.W] or [np.zeros(0)]),
                self.ev_step,
                self.ev_target,
                self.ev_weight,
                self.ev_chan,
            )
        on = [b for b, p in enumerate(pulses) if p is not None]
        on.sort(key=lambda b: pulses[b].neuron)  # pulses by row (CSR), as the loop meets them
        rows = np.array([pulses[b].neuron for b in on], dtype=np.int64)
        sum_v = np.zeros_like(state.v)
        sum_vf = np.zeros_like(state.v)
        count = np.zeros(state.v.shape, dtype=np.int64)
        _batch_kernel()(
            n_steps,
            state.step,
            state.v,
            state.v_free,
            state.currents,
            state.last_spike,
            sum_v,
            sum_vf,
            count,
            *self._kernel_args,
            np.searchsorted(rows, np.arange(self.n + 1)),
            np.array(on, dtype=np.int64),
            np.array([pulses[b].amplitude for b in on], dtype=float),
            np.array([pulses[b].start for b in on], dtype=np.int64),
            np.array([pulses[b].stop for b in on], dtype=np.int64),
        )
        state.step += n_steps
        steps = max(n_steps, 1)
        return BatchRun(sum_v / steps, sum_vf / steps, count, n_steps * self.dt, state)


def _batch_steps(
    n_steps: int,
    step0: int,
    v: np.ndarray,
    vf: np.ndarray,
    currents: np.ndarray,
    last: np.ndarray,
    sum_v: np.ndarray,
    sum_vf: np.ndarray,
    count: np.ndarray,
    rest_drive: np.ndarray,
    inv_g_tot: np.ndarray,
    decay_v: np.ndarray,
    v_th: np.ndarray,
    v_reset: np.ndarray,
    ref_steps: np.ndarray,
    decay_I: np.ndarray,
    g_ptr: np.ndarray,
    g_idx: np.ndarray,
    g_w: np.ndarray,
    w_ptr: np.ndarray,
    w_idx: np.ndarray,
    w_w: np.ndarray,
    ev_step: np.ndarray,
    ev_target: np.ndarray,
    ev_weight: np.ndarray,
    ev_chan: np.ndarray,
    p_ptr: np.ndarray,
    p_col: np.ndarray,
    p_amp: np.ndarray,
    p_start: np.ndarray,
    p_stop: np.ndarray,
) -> None:
    """`n_steps` steps of `BatchSimulator.run` from global step `step0`, state arrays updated in place
    (compiled by numba); pulses come sorted by neuron (`p_ptr`: CSR row pointers, `p_col`: their columns).

    One pass per neuron row computes its drive, membrane and threshold (v is double-buffered, since the gap
    sums read the previous step's v of every row); the NumPy loop's results are kept bit for bit by doing each
    operation in its order: gap sums from 0.0 in CSR order, channel currents summed from 0.0 in channel order,
    spikes added per target in presynaptic order, generator events summed per channel (bincount) and then
    added to every row. (Running blocks of 16–88 columns separately, to stay in cache, was 1.4–5× slower:
    per-row loop overhead outweighs the memory traffic saved.)
    """
    n, batch = v.shape
    n_chan = currents.shape[0]
    v_old, v_new = v, np.empty_like(v)
    drive = np.empty(batch)
    syn = np.empty(batch)
    fired = np.empty(batch, dtype=np.bool_)
    spike_row = np.empty(n * batch, dtype=np.int64)  # this step's spikes, row-major like np.nonzero
    spike_col = np.empty(n * batch, dtype=np.int64)
    add = np.empty(n)
    ev = np.searchsorted(ev_step, step0)
    for k in range(n_steps):
        t = step0 + k
        n_spikes = 0
        for i in range(n):
            # drive = (rest + G @ v) + Σ channel currents (which then decay), + a pulse
            for b in range(batch):
                drive[b] = 0.0
                syn[b] = 0.0  # NumPy's sum over channels starts from 0.0 (so −0.0 becomes +0.0)
            for jj in range(g_ptr[i], g_ptr[i + 1]):
                g, j = g_w[jj], g_idx[jj]
                for b in range(batch):
                    drive[b] += g * v_old[j, b]
            for c in range(n_chan):
                f = decay_I[c]
                for b in range(batch):
                    syn[b] += currents[c, i, b]
                    currents[c, i, b] *= f
            rest = rest_drive[i]
            for b in range(batch):
                drive[b] = (rest + drive[b]) + syn[b]
            for q in range(p_ptr[i], p_ptr[i + 1]):
                if p_start[q] <= t < p_stop[q]:
                    drive[p_col[q]] += p_amp[q]
            # membrane, free membrane, threshold and reset (branch-free, so the loop vectorizes)
            inv, dv, th, reset, ref = inv_g_tot[i], decay_v[i], v_th[i], v_reset[i], ref_steps[i]
            row_spikes = 0
            for b in range(batch):
                v_inf = drive[b] * inv
                refractory = (t - last[i, b]) < ref
                v_b = v_old[i, b] if refractory else v_inf + (v_old[i, b] - v_inf) * dv
                vf_b = v_inf + (vf[i, b] - v_inf) * dv
                spike = (v_b > th) & (not refractory)
                v_b = reset if spike else v_b
                fired[b] = spike
                row_spikes += spike
                v_new[i, b] = v_b
                vf[i, b] = vf_b
                sum_v[i, b] += v_b
                sum_vf[i, b] += vf_b
            if row_spikes:
                for b in range(batch):
                    if fired[b]:
                        last[i, b] = t
                        count[i, b] += 1
                        spike_row[n_spikes] = i
                        spike_col[n_spikes] = b
                        n_spikes += 1
        v_old, v_new = v_new, v_old
        # spikes → postsynaptic currents, presynaptic neurons in ascending order
        for s in range(n_spikes):
            i, b = spike_row[s], spike_col[s]
            for c in range(n_chan):
                for jj in range(w_ptr[c, i], w_ptr[c, i + 1]):
                    currents[c, w_idx[jj], b] += w_w[jj]
        # spike generators: events of this step, summed per channel, then added to every row
        ev_hi = ev
        while ev_hi < len(ev_step) and ev_step[ev_hi] <= t:
            ev_hi += 1
        if ev_hi > ev:
            for c in range(n_chan):
                present = False
                for i in range(n):
                    add[i] = 0.0
                for e in range(ev, ev_hi):
                    if ev_chan[e] == c:
                        add[ev_target[e]] += ev_weight[e]
                        present = True
                if present:
                    for i in range(n):
                        for b in range(batch):
                            currents[c, i, b] += add[i]
            ev = ev_hi
    if n_steps % 2:  # the last step wrote the scratch buffer
        v[:] = v_old


if numba is not None:  # compiled lazily, on the first call, and cached on disk (`cache=True`)
    _batch_jit = numba.njit(cache=True, nogil=True)(_batch_steps)


def _batch_kernel() -> object:
    """The compiled step loop (only called where numba is installed)."""
    return _batch_jit


def _channel(taus: list[float], tau: float) -> int:
    """Index of the current channel with time constant `tau` (channels with equal τ sum exactly)."""
    for k, t in enumerate(taus):
        if abs(t - tau) <= 1e-12 * max(t, tau):
            return k
    taus.append(float(tau))
    return len(taus) - 1


@dataclass(frozen=True)
class PerturbationProtocol:
    """Timing and size of the simulated stimulation (SI units).

    Each stimulated neuron gets a `amplitude` current step lasting `pulse`, after a shared `warmup` that
    lets the network settle from v = E_L; responses are averaged over `window` from pulse onset. Randi et
    al. (2023) likewise average ΔF/F over a window after a brief optogenetic pulse; calcium (GCaMP) is slow,
    so a window average of a low-pass quantity is the comparable model readout.
    """

    amplitude: float = 0.3e-9
    pulse: float = 0.05
    warmup: float = 0.3
    window: float = 0.2
    background: bool = True  # keep the circuit's own spike inputs (e.g. Poisson background)


@dataclass
class PerturbationResult:
    """Responses `response[m][i, b]` of neuron i to stimulating `stimulated[b]`, minus the unstimulated run.

    Measures m: "v_free" (V, free membrane potential, the default calcium proxy), "v" (V, membrane
    potential) and "rate" (Hz). `baseline[m][i]` is the unstimulated column's value.
    """

    names: tuple[str, ...]
    stimulated: np.ndarray
    response: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    protocol: PerturbationProtocol
    wall_s: float


def prepare_network(network: ir.Network, protocol: PerturbationProtocol) -> ir.Network:
    """The network as a perturbation experiment sees it: no spec stimuli currents (e.g. the touch), no
    probes, optionally no spike inputs; long enough for warm-up plus window."""
    return dataclasses.replace(
        network,
        current=None,
        probes=(),
        spike_inputs=network.spike_inputs if protocol.background else (),
        duration=protocol.warmup + protocol.window,
    )


def perturb(
    network: ir.Network,
    stimulated: Sequence[int],
    protocol: PerturbationProtocol | None = None,
    chunk: int = 0,
    engine: str = "auto",
) -> PerturbationResult:
    """Stimulate each neuron index in `stimulated` (one batch column each) and return the responses.

    A single column is warmed up, then copied to every column (all columns share the background input, so
    the unstimulated column is an exact control: common random numbers). `chunk` > 0 splits the batch;
    `engine` is `BatchSimulator.run`'s (same results).
    """
    import time

    t0 = time.perf_counter()
    protocol = protocol or PerturbationProtocol()
    net = prepare_network(network, protocol)
    sim = BatchSimulator(net)
    stimulated = np.asarray(stimulated, dtype=np.int64)
    warm = int(round(protocol.warmup / sim.dt))
    steps = int(round(protocol.window / sim.dt))
    pulse_steps = int(round(protocol.pulse / sim.dt))
    state0 = sim.initial_state(1)
    sim.run(state0, warm, engine=engine)
    columns = [None, *[Pulse(int(j), protocol.amplitude, warm, warm + pulse_steps) for j in stimulated]]
    size = chunk if chunk > 0 else len(columns)
    parts: dict[str, list[np.ndarray]] = {"v": [], "v_free": [], "rate": []}
    for lo in range(0, len(columns), size):
        cols = columns[lo : lo + size]
        if lo > 0:
            cols = [None, *cols]  # every chunk carries its own control column (identical across chunks)
        state = state0.tile(len(cols))
        out = sim.run(state, steps, cols, engine=engine)
        skip = 0 if lo == 0 else 1
        parts["v"].append(out.mean_v[:, skip:])
        parts["v_free"].append(out.mean_v_free[:, skip:])
        parts["rate"].append(out.spike_count[:, skip:] / out.window_s)
    full = {m: np.concatenate(p, axis=1) for m, p in parts.items()}
    baseline = {m: a[:, 0].copy() for m, a in full.items()}
    response = {m: a[:, 1:] - a[:, :1] for m, a in full.items()}
    return PerturbationResult(
        tuple(network.names), stimulated, response, baseline, protocol, time.perf_counter() - t0
    )
