"""Brian2's stepping session: the network built once, the injected current updated every control period.

Two ways to interleave Brian2 with a world, both offered and measured (`benchmarks/bench_closed_loop.py`):
- `mode="operation"`: one `Network.run` for the whole episode in a background thread; a `network_operation`
  every control period hands the period's spike counts to the caller and waits for the next current, so
  Brian2 pays its run set-up once (the default: it is the faster one, see docs/closed_loop.md);
- `mode="chunks"`: one `Network.run(period)` per control period (simple; each call re-prepares the code
  objects, which costs milliseconds per period).
The current is added to each neuron's `I_bias` parameter, so no equation changes; spike counts come from
the spike monitors' cumulative `count`. `modulate(amount)` adds a reward signal to the neuromodulator D of
every `reward_stdp` rule at the start of the next period (the closed loop routes a world's reward to
three-factor STDP this way). Runtime targets only (numpy, cython): cpp_standalone cannot call
back into Python during a run.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from wormchip import ir
from wormchip.backends.brian2_backend import (
    RUNTIME_TARGETS,
    _Builder,
    _versions,
    choose_target,
    remember_cython,
)
from wormchip.backends.session import PeriodOutput
from wormchip.errors import UnsupportedOnBackend
from wormchip.result import Result

MODES = ("operation", "chunks")
_STOP = object()


class Brian2Session:
    """Advance an IR network in Brian2 by `period_steps` steps at a time, up to `max_steps` (see `Session`)."""

    def __init__(
        self,
        network: ir.Network,
        period_steps: int,
        max_steps: int,
        mode: str = "operation",
        target: str | None = None,
    ) -> None:
        import brian2 as b2

        if mode not in MODES:
            raise ValueError(f"mode = {mode!r}; choose one of {MODES}")
        structural = any(r.rule == "structural" for p in network.projections for r in p.plasticity)
        if structural:
            raise UnsupportedOnBackend("Brian2 closed loop", ["structural plasticity"])
        self.target = choose_target(network, target, allowed=RUNTIME_TARGETS)  # "auto": numpy or cython
        if self.target == "cpp_standalone":
            raise UnsupportedOnBackend(
                "Brian2 closed loop", ["target cpp_standalone (no Python during a run): use cython or numpy"]
            )
        self.b2, self.network, self.mode = b2, network, mode
        self.n_neurons, self.dt = network.size, network.dt
        self.period_steps, self.max_steps = period_steps, max_steps
        self.step = 0
        self.started = time.perf_counter()
        b2.set_device("runtime")
        b2.prefs.codegen.target = self.target
        b2.start_scope()
        b2.defaultclock.dt = network.dt * b2.second
        b2.seed(network.seed)
        self.builder = _Builder(network, b2)
        self.net = self.builder.build()
        self.base_bias = [np.asarray(b.params["I_bias"], dtype=float) for b in network.blocks]
        self.last_counts = np.zeros(network.size, dtype=np.int64)
        self.closed = False
        self._modulation = 0.0
        self.modulated_groups = [
            (group, [v for v in group.variables if v.startswith("D_")]) for group in self.builder.groups
        ]
        self.modulated_groups = [(g, names) for g, names in self.modulated_groups if names]
        if mode == "operation":
            self._inbox: queue.Queue = queue.Queue()
            self._outbox: queue.Queue = queue.Queue()
            operation = b2.NetworkOperation(self._operation, dt=period_steps * network.dt * b2.second)
            self.net.add(operation)
            self._thread = threading.Thread(target=self._run_thread, name="wormchip-brian2-loop", daemon=True)
            self._thread.start()

    # --- shared pieces -----------------------------------------------------------------------------------------
    def _apply(self, current: np.ndarray) -> None:
        """I_bias of every group = its own bias + the period's current; a pending reward goes into D."""
        for block, group, base in zip(self.network.blocks, self.builder.groups, self.base_bias):
            group.I_bias = (base + current[block.indices]) * self.b2.amp
        if self._modulation:
            for group, names in self.modulated_groups:
                for name in names:
                    setattr(group, name, np.asarray(getattr(group, name)[:]) + self._modulation)
            self._modulation = 0.0

    def modulate(self, amount: float) -> None:
        """Add `amount` to the neuromodulator D of every reward-modulated STDP rule when the next period
        starts (D += amount, as a reward pulse of the spec does); refused without a `reward_stdp` rule."""
        if not self.modulated_groups:
            raise UnsupportedOnBackend("Brian2 closed loop reward", ["a reward needs a reward_stdp rule"])
        self._modulation += float(amount)

    def _output(self) -> PeriodOutput:
        """Spike counts since the last call and v − E_L now."""
        total = np.zeros(self.n_neurons, dtype=np.int64)
        v_rel = np.zeros(self.n_neurons)
        for block, group, mon in zip(self.network.blocks, self.builder.groups, self.builder.spike_monitors):
            total[block.indices] = np.asarray(mon.count[:])
            v_rel[block.indices] = np.asarray(group.v[:]) - np.asarray(block.params["E_L"])
        counts, self.last_counts = total - self.last_counts, total
        return PeriodOutput(counts=counts, v_rel=v_rel)

    # --- operation mode: Brian2 runs in a thread, the operation exchanges with the caller ---------------------
    def _operation(self) -> None:
        """Every control period (at its start): report the finished period, then apply the next current."""
        if float(self.net.t_) > 0.5 * self.dt:
            self._outbox.put(self._output())
        current = self._inbox.get()
        if current is _STOP:
            self.net.stop()
            return
        self._apply(current)

    def _run_thread(self) -> None:
        try:
            self.net.run(self.max_steps * self.dt * self.b2.second)
            self._outbox.put(self._output())  # the last period ends with the run
        except BaseException as err:  # handed to the caller's advance()/close()
            self._outbox.put(err)

    def _receive(self) -> PeriodOutput:
        out = self._outbox.get()
        if isinstance(out, BaseException):
            raise out
        return out

    # --- the Session API ---------------------------------------------------------------------------------------
    def advance(self, steps: int, current: np.ndarray) -> PeriodOutput:
        """Run `steps` steps with `current` (A per neuron) added to the bias."""
        if self.step + steps > self.max_steps:
            raise ValueError(
                f"session opened for {self.max_steps} steps; cannot advance to {self.step + steps}"
            )
        current = np.asarray(current, dtype=float)
        if self.mode == "chunks":
            self._apply(current)
            self.net.run(steps * self.dt * self.b2.second)
            out = self._output()
        else:
            if steps != self.period_steps:
                raise ValueError(f"operation mode advances {self.period_steps} steps at a time, not {steps}")
            self._inbox.put(current)
            out = self._receive()
        self.step += steps
        return out

    def close(self) -> Result:
        """End the run (early if the episode ended early) and return its `Result`."""
        if self.mode == "operation" and not self.closed:
            if self.step < self.max_steps:
                self._inbox.put(_STOP)
            self._thread.join()
        self.closed = True
        if self.target == "cython":
            remember_cython(self.network)
        result = self.builder.collect()
        result.duration = self.step * self.dt
        result.metadata.update(
            {
                **self.network.metadata,
                "backend": "brian2",
                "target": self.target,
                "seed": self.network.seed,
                "closed_loop_mode": self.mode,
                "wall_s": time.perf_counter() - self.started,
                "versions": _versions(),
            }
        )
        return result
