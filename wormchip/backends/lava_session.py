"""Lava's stepping session: the closed loop inside Lava 0.10's fixed-point simulator, period by period.

A forked worker (own process group, shared memory logged, as `run_lava`) builds the same Lava graph as
`run_lava`, starts the runtime once, then serves commands over a pipe: `advance` sets every core's LIF
`bias_mant`/`bias_exp` Vars to the period's sensor bias, runs `RunSteps(period)` and returns the period's
spike counts (and v at its end) read from the recorder's memory maps; `close` reads the whole raster and
stops the runtime. The world stays in the parent and never knows Lava runs the circuit. This is how a
Loihi host program drives a chip: host ↔ chip messages once per control period, the network's dynamics
in the chip's own arithmetic (here: Lava's bit-accurate models), nothing replayed. Plastic blocks (stdp,
reward_stdp) learn inside the graph; `modulate(amount)` sets the reward blocks' trace processes' `extra` Var
to the reward's D increment before the next period (added at its first step, as `EmulatorSession.modulate`),
and `close` returns every plastic block's initial and final weights.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tempfile
import time
from dataclasses import replace
from multiprocessing.connection import Connection

import numpy as np

from wormchip.backends.emulator import plastic_weight_traces, result_from_raster
from wormchip.backends.lava_runner import (
    EXIT_GRACE_S,
    LavaGraph,
    LavaRunError,
    _describe_failure,
    _exit_worker,
    _log_shared_memory,
    _preload_lava,
    _reap,
    _stop_runtime,
    _unlink_logged_segments,
)
from wormchip.backends.lava_support import require_lava
from wormchip.backends.session import BiasMap, PeriodOutput
from wormchip.errors import UnsupportedOnBackend
from wormchip.mappers.fixed_point import FixedPointNetwork
from wormchip.result import Result

START_TIMEOUT_S = 120.0  # building and compiling the graph


class LavaSession:
    """Advance a `FixedPointNetwork` in Lava period by period, for up to `max_steps` steps (see `Session`).

    `timeout_s` bounds each command (a period, or closing); on timeout or failure the worker's whole
    process group is killed, its shared memory unlinked and `LavaRunError` raised with Lava's traceback.
    """

    def __init__(
        self, net: FixedPointNetwork, max_steps: int, bias_map: BiasMap, timeout_s: float = 60.0
    ) -> None:
        require_lava()
        _preload_lava()
        self.net, self.bias_map, self.timeout_s = net, bias_map, timeout_s
        self.n_neurons, self.dt = net.n_neurons, net.dt
        self.max_steps = max_steps
        self.step = 0
        self.started = time.perf_counter()
        self.folder = tempfile.mkdtemp(prefix="wormchip-lava-")
        fd, self.shm_log = tempfile.mkstemp(prefix="wormchip-lava-shm-", suffix=".txt")
        os.close(fd)
        ctx = mp.get_context("fork")  # Lava requires fork; the worker inherits the imported modules
        self.conn, child = ctx.Pipe(duplex=True)
        self.worker = ctx.Process(
            target=_session_main,
            args=(child, self.shm_log, net, max_steps, self.folder),
            name="wormchip-lava-session",
        )
        self.worker.start()
        child.close()
        self.closed = False
        self._last_bias: tuple[np.ndarray, np.ndarray] | None = None
        self._reward = np.zeros(len(net.reward_plastic), dtype=np.int64)  # pending D increments per block

    def modulate(self, amount: float) -> None:
        """Add `amount` to D of every reward_stdp block at the next step (refused without one)."""
        if not self.net.reward_plastic:
            raise UnsupportedOnBackend("Lava closed loop reward", ["a reward needs a reward_stdp rule"])
        self._reward += [block.reward_increment(amount) for block in self.net.reward_plastic]

    def _request(self, message: tuple | None, timeout_s: float, doing: str) -> tuple:
        """Send `message` (None: only wait) and return the worker's reply; clean up and raise on failure."""
        try:
            if message is not None:
                self.conn.send(message)
            if not self.conn.poll(timeout_s):
                raise LavaRunError(
                    f"Lava timed out after {timeout_s:g} s while {doing}; its processes were killed"
                )
            reply = self.conn.recv()
        except (EOFError, BrokenPipeError, OSError):
            self._shutdown(grace_s=0.0)
            raise LavaRunError(
                f"the Lava worker died while {doing} (exit code {self.worker.exitcode})"
            ) from None
        except LavaRunError:
            self._shutdown(grace_s=0.0)
            raise
        if reply[0] == "error":
            self._shutdown(grace_s=EXIT_GRACE_S)
            raise LavaRunError(reply[1])
        return reply

    def advance(self, steps: int, current: np.ndarray) -> PeriodOutput:
        """Run `steps` steps in Lava with `current` (A per neuron) as the bias."""
        if self.closed:
            raise ValueError("the Lava session is closed")
        if self.step + steps > self.max_steps:
            raise ValueError(
                f"session opened for {self.max_steps} steps; cannot advance to {self.step + steps}"
            )
        mant, exp = self.bias_map(current)
        bias = None
        if self._last_bias is None or not (
            np.array_equal(mant, self._last_bias[0]) and np.array_equal(exp, self._last_bias[1])
        ):
            bias = (mant, exp)  # Var.set costs a message per element: send only changes
            self._last_bias = bias
        # The graph is built at the first period, with its bias (Lava's Vars cannot be set before a run).
        timeout = self.timeout_s + (START_TIMEOUT_S if self.step == 0 else 0.0)
        reward = self._reward.copy() if self._reward.any() else None
        self._reward[:] = 0
        message = ("advance", steps, bias, reward)
        _, counts, v = self._request(message, timeout, f"running steps from {self.step}")
        self.step += steps
        return PeriodOutput(counts=counts, v_rel=v.astype(float) * self.bias_map.v_scale)

    def close(self) -> Result:
        """Stop Lava and return the spikes of every step run."""
        if self.closed:
            raise ValueError("the Lava session is already closed")
        _, raster, weights = self._request(
            ("close",), self.timeout_s + 20.0, "reading results and stopping Lava"
        )
        self._shutdown(grace_s=EXIT_GRACE_S)
        result = result_from_raster(
            self.net,
            raster[: self.step],
            {},
            {"backend": "lava", "steps": self.step, "wall_time_s": time.perf_counter() - self.started},
        )
        if weights:  # plastic networks: initial and final weights of every block
            initial = [block.weights for block in (*self.net.plastic, *self.net.reward_plastic)]
            result.weights = plastic_weight_traces(self.net, [(0, initial), (self.step, weights)])
        return result

    def _shutdown(self, grace_s: float) -> None:
        """End the worker's process group, unlink its shared memory and remove the folder (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.conn.close()
        _reap(self.worker, grace_s=grace_s)
        _unlink_logged_segments(self.shm_log)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __del__(self) -> None:  # a session abandoned mid-episode (e.g. the world raised) still cleans up
        if not getattr(self, "closed", True):
            self._shutdown(grace_s=0.0)


def _session_main(
    conn: Connection, shm_log: str, net: FixedPointNetwork, max_steps: int, folder: str
) -> None:
    """Worker: build and start the graph, serve `advance`/`close` commands, always stop the runtime."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    os.setsid()
    _log_shared_memory(shm_log)
    graph = None
    failed = True
    try:
        done = 0
        while True:
            command = conn.recv()
            if command[0] != "advance":
                break
            _, steps, bias, reward = command
            if graph is None:  # first period: build with its bias, start the runtime
                graph = LavaGraph(
                    replace(net, bias_mant=bias[0], bias_exp=bias[1]), max_steps, ("v",), folder
                )
                graph.lif.create_runtime(
                    run_cfg=Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=graph.models)
                )
            elif bias is not None:
                for core, lif in zip(graph.plan.cores, graph.lifs):
                    lif.bias_mant.set(bias[0][core.neurons].astype(np.int32))
                    lif.bias_exp.set(bias[1][core.neurons].astype(np.int32))
            if reward is not None:  # the world's reward: each trace process adds it at the next step
                for proc, (b, _) in zip(graph.reward_traces, graph.plan.reward_traces()):
                    proc.extra.set(np.array([reward[b]], dtype=np.int32))
            graph.lif.run(condition=RunSteps(num_steps=steps))
            counts, v = _period(graph, done, done + steps)
            done += steps
            conn.send(("ok", counts, v))
        raster = graph.read()["spikes"] if graph is not None else np.zeros((0, net.n_neurons), dtype=bool)
        weights = graph.read_plastic() if graph is not None else []
        failed = False
        conn.send(("done", raster, weights))
    except Exception as err:
        message = _describe_failure(graph.lif, err) if graph is not None else f"{type(err).__name__}: {err}"
        conn.send(("error", message))
    finally:
        if graph is not None:
            _stop_runtime(graph.lif, failed)
        _exit_worker(conn)


def _period(graph: LavaGraph, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts over steps [start, stop) and v at step stop − 1, from the recorders' memory maps."""
    n = graph.plan.n_neurons
    counts = np.zeros(n, dtype=np.int64)
    v = np.zeros(n, dtype=np.int64)
    single = len(graph.plan.cores) == 1
    for core in graph.plan.cores:
        suffix = "" if single else f"_core{core.core}"
        spikes = np.load(os.path.join(graph.folder, f"spikes{suffix}.npy"), mmap_mode="r")
        volts = np.load(os.path.join(graph.folder, f"v{suffix}.npy"), mmap_mode="r")
        counts[core.neurons] = np.count_nonzero(spikes[start:stop], axis=0)
        v[core.neurons] = volts[stop - 1]
    return counts, v
