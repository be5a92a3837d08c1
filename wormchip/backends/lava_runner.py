"""Run a `FixedPointNetwork` on Lava 0.10's bit-accurate CPU simulation, hygienically.

The graph is `wormchip.mappers.emit`'s plan: one LIF process per core (by default one core for all neurons),
one Dense per `WeightBlock` and core pair (a `DelayDense` where the block has a delay), a `RingBuffer` source (+ Dense per input block and core) for
external spikes and one recorder process per core for spikes and u, v; it runs under
`Loihi2SimCfg(select_tag="fixed_pt")` with the bit-accurate models named explicitly. Lava's cost is per
process per step, so fewer processes are faster.

Lava runs every process in its own OS process and fails badly: a child's exception surfaces only as
"1 Exception(s) occurred", a failing run with a Monitor can hang for minutes, and a killed run leaves processes
and /dev/shm segments behind. So the whole run happens in a forked worker in its own process group, with:
- the children's real tracebacks (`runtime._messaging_infrastructure.actors[i].exception`) in `LavaRunError`;
- `runtime.stop()` always called in `finally` (bounded, so a stuck stop cannot hang the worker);
- a wall-clock timeout, after which the whole process group is killed;
- every shared-memory segment the worker's descendants create logged, and any left over unlinked.

A bias schedule runs as segments: `RunSteps` up to the next change, set the LIF's `bias_mant`/`bias_exp` Vars,
continue. Gap junctions, a refractory period and a reset to v_reset ≠ 0 use `GapLIF`, a LIF whose fixed-point
model also sends `v >> gap_shift` every step as a graded message (Loihi 2 graded spikes) through graded Dense
processes (`num_message_bits=24`) back into its `gap_in` port, which adds to v like a bias at the next step,
which holds v at `v_reset` for its refractory delay after each spike, and which carries the adaptation
register w of adaptive_lif neurons (subtracted from v; see `FixedPointNetwork`).
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from wormchip.backends.emulator import RECORDABLE, result_from_raster
from wormchip.backends.lava_support import require_lava
from wormchip.errors import UnsupportedOnBackend, WormchipError
from wormchip.mappers.emit import GRADED_KINDS, emit
from wormchip.mappers.fixed_point import GRADED_HALF, FixedPointNetwork
from wormchip.result import Result

# Worker stages, in order, with the text the parent quotes if the run times out during one.
STAGES = {
    "build": "building the Lava graph",
    "compile": "compiling and starting Lava's processes",
    "run": "running {steps} steps",
    "read": "reading results",
    "stop": "stopping the Lava runtime",
}
STOP_TIMEOUT_S = 10.0  # longest wait for Lava's runtime.stop() (it can hang after a failure)
EXIT_GRACE_S = 10.0  # longest wait for the worker to exit after it reported
SHM_DIR = "/dev/shm"
PARENT_POLL_S = 0.2  # how often the worker checks that its parent is alive


class LavaRunError(WormchipError, RuntimeError):
    """A Lava run failed or timed out; the message carries the Lava child processes' real tracebacks."""

    def __init__(self, message: str, worker_pid: int | None = None) -> None:
        super().__init__(message)
        self.worker_pid = worker_pid


def run_lava(
    net: FixedPointNetwork,
    steps: int,
    timeout_s: float = 600.0,
    record: tuple[str, ...] | list[str] = RECORDABLE,
    core_of: np.ndarray | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Result:
    """Simulate `net` for `steps` steps in Lava (fixed point); same conventions as `run_emulator`.

    `core_of[i]` (e.g. `Partition.core_of`) puts neuron i on that core: one LIF process per core and one Dense
    per (block, source core, destination core), as `wormchip.mappers.emit.emit` plans; None: one core.
    `on_stage(text)` is called as the worker enters each of `STAGES` (for a progress display).

    Raises `LavaRunError` if Lava fails (with the child traceback) or takes longer than `timeout_s` seconds.
    """
    require_lava()
    record = tuple(record)
    unknown = set(record) - set(RECORDABLE)
    if unknown:
        raise ValueError(f"cannot record {sorted(unknown)}; choose from {list(RECORDABLE)}")
    if steps < 1:
        raise ValueError(f"steps = {steps} must be ≥ 1 for Lava")
    if (
        core_of is not None
        and np.unique(core_of).size > 1
        and any(len(b.modulators) for b in net.reward_plastic)
    ):
        raise UnsupportedOnBackend(
            "Lava on several cores", ["reward_stdp modulator neurons (their trace process reads one core)"]
        )
    _preload_lava()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wormchip-lava-") as folder:
        out, worker_pid = run_isolated(
            _simulate, (net, steps, record, folder, core_of), timeout_s=timeout_s, on_stage=on_stage
        )
    result = result_from_raster(
        net,
        out["spikes"],
        {key: out[key] for key in record},
        {
            "backend": "lava",
            "steps": steps,
            "wall_time_s": time.perf_counter() - t0,
            "run_time_s": out["stage_s"]["run"],
            "lava_stage_s": out["stage_s"],
            "lava_worker_pid": worker_pid,
        },
    )
    if net.plastic or net.reward_plastic:  # initial and final weights, as the emulator reports them
        from wormchip.backends.emulator import plastic_weight_traces

        initial = [block.weights for block in (*net.plastic, *net.reward_plastic)]
        result.weights = plastic_weight_traces(net, [(0, initial), (steps, out["plastic_weights"])])
    return result


def _preload_lava() -> None:
    """Import Lava here once, so every forked worker inherits it instead of importing it again (~0.3 s).

    Lava's message infrastructure calls `multiprocessing.set_start_method("fork")` when first imported, which
    raises if anything set a start method before (a Dask LocalCluster, a test runner): the global choice is
    cleared first, so Lava can make its own (Dask and others take explicit contexts and are not affected)."""
    import sys

    if "lava.magma.runtime.message_infrastructure.multiprocessing" not in sys.modules:
        mp.set_start_method(None, force=True)
    import lava.magma.core.run_conditions  # noqa: F401
    import lava.magma.core.run_configs  # noqa: F401
    import lava.proc.dense.models  # noqa: F401
    import lava.proc.io.source  # noqa: F401
    import lava.proc.lif.models  # noqa: F401
    import lava.utils.weightutils  # noqa: F401

    _recorder_classes()
    _gap_lif_classes()
    from wormchip.backends.lava_reward import reward_trace_classes  # imports this module

    reward_trace_classes()
    _relay_classes()


@functools.cache
def _gap_lif_classes() -> tuple[type, type]:
    """`GapLIF` (a LIF with gap-junction ports, a refractory period and a reset voltage) and its fixed-point model.

    The model is `PyLifModelBitAcc` plus two ports: `gap_in` (int32, the summed graded Dense outputs computed
    from the voltages of the previous step) is added to the effective bias before the voltage update, and
    after the spike reset `v >> gap_shift` is sent on `v_out`. Two per-neuron Vars add what Lava's LIF lacks
    and Brian2's LIF has: `v_reset` (v after a spike, instead of 0) and `refractory` (Loihi 1's refractory
    delay, Davies et al. 2018: for `refractory − 1` steps after a spike v is held at `v_reset` and the neuron
    cannot spike; u keeps integrating); `ref_count` counts those steps down. Adaptation (adaptive_lif): a
    second current register `w` (int32, `w_shift` fractional bits below v's unit) with its own decay `dw`
    (24-bit fraction, rounded half up) and increment `adapt_b` per spike: at each step, before v's update,
    `w = ((w·(2²⁴ − dw) + 2²³) >> 24) + adapt_b·spiked` (`spiked`: the previous step's spikes), and
    `w >> w_shift` is subtracted from the effective bias, so `v = decay(v) + u − (w >> w_shift) + bias + gap`.
    Conductance synapses (exp_conductance): a third register `g` (int32, `conductance_shift` fractional bits)
    fed by the port `g_in` and decaying like u (du); each step `g = decay(g) + g_in`, then
    `(g·(v − v_op) + 2^(shift − 1)) >> shift` (int64, v of the previous step) is subtracted from the effective
    bias: with the u weights' |w|·(E_rev − v_op) this is the driving force E_rev − v.
    Everything else is Lava's bit-accurate LIF.
    """
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.variable import Var
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
    from lava.proc.lif.models import AbstractPyLifModelFixed
    from lava.proc.lif.process import LIF

    class GapLIF(LIF):
        """LIF with gap-junction ports (graded `v_out`, `gap_in` added to v), `v_reset` and `refractory`."""

        def __init__(
            self,
            *,
            shape: tuple[int, ...],
            gap_shift: int = 0,
            v_reset: np.ndarray | int = 0,
            refractory: np.ndarray | int = 0,
            dw: np.ndarray | int = 0,
            adapt_b: np.ndarray | int = 0,
            w_shift: np.ndarray | int = 0,
            graded_mu: np.ndarray | int = 0,
            graded_slope_mant: np.ndarray | int = 0,
            graded_slope_shift: np.ndarray | int = 0,
            v_op: np.ndarray | int = 0,
            conductance_shift: int = 0,
            **kwargs: Any,
        ) -> None:
            super().__init__(shape=shape, gap_shift=gap_shift, conductance_shift=conductance_shift, **kwargs)
            self.gap_in = InPort(shape=shape)
            self.g_in = InPort(shape=shape)
            self.g = Var(shape=shape, init=0)
            self.v_op = Var(shape=shape, init=v_op)
            self.v_out = OutPort(shape=shape)
            self.graded_out = OutPort(shape=shape)
            self.graded_mu = Var(shape=shape, init=graded_mu)
            self.graded_slope_mant = Var(shape=shape, init=graded_slope_mant)
            self.graded_slope_shift = Var(shape=shape, init=graded_slope_shift)
            self.v_reset = Var(shape=shape, init=v_reset)
            self.refractory = Var(shape=shape, init=refractory)
            self.ref_count = Var(shape=shape, init=0)
            self.w = Var(shape=shape, init=0)
            self.dw = Var(shape=shape, init=dw)
            self.adapt_b = Var(shape=shape, init=adapt_b)
            self.w_shift = Var(shape=shape, init=w_shift)
            self.spiked = Var(shape=shape, init=0)

    @implements(proc=GapLIF, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyGapLifModelBitAcc(AbstractPyLifModelFixed):
        # As PyLifModelBitAcc (which cannot be subclassed: it already implements LIF), plus the two ports.
        s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
        vth: int = LavaPyType(int, np.int32, precision=17)
        gap_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
        v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
        v_reset: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
        refractory: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
        ref_count: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
        w: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
        dw: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
        adapt_b: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
        w_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=5)
        spiked: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=1)
        graded_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
        graded_mu: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=25)
        graded_slope_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
        graded_slope_shift: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
        g_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
        g: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=32)
        v_op: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)

        def __init__(self, proc_params: dict) -> None:
            super().__init__(proc_params)
            self.effective_vth = 0
            self.gap_shift = int(proc_params["gap_shift"])
            self.conductance_shift = int(proc_params["conductance_shift"])

        def scale_threshold(self) -> None:
            self.effective_vth = np.left_shift(self.vth, self.vth_shift)
            self.isthrscaled = True

        def spiking_activation(self) -> np.ndarray:
            return self.v > self.effective_vth

        def run_spk(self) -> None:
            a_in_data = self.a_in.recv()
            gap = self.gap_in.recv()
            self.scale_bias()
            self.effective_bias = self.effective_bias + gap.astype(np.int32)
            # Adaptation: w decays (24-bit fraction, rounded half up), then jumps by adapt_b after a spike.
            decayed_w = self.w.astype(np.int64) * (2**24 - self.dw.astype(np.int64)) + 2**23
            decayed_w = np.right_shift(decayed_w, 24) + self.adapt_b.astype(np.int64) * self.spiked
            self.w[:] = decayed_w.astype(np.int32)
            self.effective_bias = self.effective_bias - np.right_shift(self.w, self.w_shift).astype(np.int32)
            # Conductance: g decays like u and takes this step's input; −g·(v − v_op) with the previous v.
            decayed_g = self.g.astype(np.int64) * (self.decay_unity - (self.du + self.ds_offset))
            decayed_g = np.sign(decayed_g) * np.right_shift(np.abs(decayed_g), self.decay_shift)
            self.g[:] = (decayed_g + self.g_in.recv()).astype(np.int32)
            shift = self.conductance_shift
            drive = self.g.astype(np.int64) * (self.v.astype(np.int64) - self.v_op) + ((1 << shift) >> 1)
            self.effective_bias = self.effective_bias - np.right_shift(drive, shift).astype(np.int32)
            if not self.isthrscaled:
                self.scale_threshold()
            self.subthr_dynamics(activation_in=a_in_data)
            held = self.ref_count > 0  # refractory: v stays at v_reset, no spike, u integrates
            self.v[held] = self.v_reset[held]
            self.ref_count[held] -= 1
            self.s_out_buff = self.spiking_activation() & ~held
            self.v[self.s_out_buff] = self.v_reset[self.s_out_buff]
            self.ref_count[self.s_out_buff] = np.maximum(self.refractory[self.s_out_buff] - 1, 0)
            self.spiked[:] = self.s_out_buff
            self.s_out.send(self.s_out_buff)
            self.v_out.send(np.right_shift(self.v, self.gap_shift))
            # Graded sigmoid synapses: the hard-sigmoid activation of v, 12 bits, int64 arithmetic, rounded.
            shift = self.graded_slope_shift.astype(np.int64)
            x = (self.v.astype(np.int64) - self.graded_mu) * self.graded_slope_mant.astype(np.int64)
            x = np.right_shift(x + (np.left_shift(1, shift) >> 1), shift) + GRADED_HALF
            self.graded_out.send(np.clip(x, 0, 2 * GRADED_HALF).astype(np.int32))

    return GapLIF, PyGapLifModelBitAcc


@functools.cache
def _recorder_classes() -> tuple[type, type]:
    """The recorder Lava process and its model (defined lazily: Lava imports only on Python 3.10).

    Lava's own readers are slow to read back: `Var.get()` sends an array one element per message (~20 µs
    each, 6 s for 302 neurons × 1,000 steps), for a sink RingBuffer and Monitor alike. The recorder instead
    writes each step's spikes (InPort) and u, v (RefPorts, sampled after the spiking phase like Monitor) into
    .npy memory maps that the worker reads directly; one process replaces a sink and two Monitors.
    """
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort, PyRefPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, RefPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    class Recorder(AbstractProcess):
        """Writes spikes (and the LIF Vars in `record`) of step t to row t − 1 of `<folder>/<key>.npy`."""

        def __init__(
            self, *, shape: tuple[int, ...], folder: str, record: tuple[str, ...], suffix: str = ""
        ) -> None:
            super().__init__(shape=shape, folder=folder, record=record, suffix=suffix)
            self.s_in = InPort(shape=shape)
            self.u_ref = RefPort(
                shape=shape
            )  # Lava requires every port its model declares; read only if recorded
            self.v_ref = RefPort(shape=shape)

    @implements(proc=Recorder, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyRecorderModel(PyLoihiProcessModel):
        s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
        u_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)
        v_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)

        def __init__(self, proc_params: dict) -> None:
            super().__init__(proc_params)
            self.record = proc_params["record"]
            folder = proc_params["folder"]
            suffix = proc_params.get("suffix", "")
            self.out = {
                key: np.load(os.path.join(folder, f"{key}{suffix}.npy"), mmap_mode="r+")
                for key in ("spikes", *self.record)
            }

        def run_spk(self) -> None:
            self.out["spikes"][self.time_step - 1] = self.s_in.recv()

        def post_guard(self) -> bool:
            return bool(self.record)

        def run_post_mgmt(self) -> None:
            for key in self.record:
                self.out[key][self.time_step - 1] = getattr(self, f"{key}_ref").read()

    return Recorder, PyRecorderModel


@functools.cache
def _relay_classes() -> tuple[type, type]:
    """`ShiftRelay`: sums the unshifted outputs of one block's Dense from several cores, shifts right, forwards.

    It receives and sends in the same step (like a LIF), so it adds no delay: Dense → relay → LIF.
    """
    from lava.magma.core.decorator import implements, requires, tag
    from lava.magma.core.model.py.model import PyLoihiProcessModel
    from lava.magma.core.model.py.ports import PyInPort, PyOutPort
    from lava.magma.core.model.py.type import LavaPyType
    from lava.magma.core.process.ports.ports import InPort, OutPort
    from lava.magma.core.process.process import AbstractProcess
    from lava.magma.core.resources import CPU
    from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

    class ShiftRelay(AbstractProcess):
        """a_out = (Σ a_in, int32) >> shift, in the same step."""

        def __init__(self, *, shape: tuple[int, ...], shift: int, name: str | None = None) -> None:
            super().__init__(shape=shape, shift=shift, name=name)
            self.a_in = InPort(shape=shape)
            self.a_out = OutPort(shape=shape)

    @implements(proc=ShiftRelay, protocol=LoihiProtocol)
    @requires(CPU)
    @tag("fixed_pt")
    class PyShiftRelayModel(PyLoihiProcessModel):
        a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=32)
        a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=32)

        def __init__(self, proc_params: dict) -> None:
            super().__init__(proc_params)
            self.shift = int(proc_params["shift"])

        def run_spk(self) -> None:
            self.a_out.send(np.right_shift(self.a_in.recv().astype(np.int32), self.shift))

    return ShiftRelay, PyShiftRelayModel


def _in_port(lif: Any, kind: str) -> Any:
    """The LIF/GapLIF port a Dense of `kind` feeds: graded messages into gap_in, conductances into g_in."""
    if kind in GRADED_KINDS:
        return lif.gap_in
    return lif.g_in if kind == "conductance" else lif.a_in


class LavaGraph:
    """The Lava processes of one run, built from `emit`'s `LavaPlan`, and the ProcessModel chosen for each.

    One LIF/GapLIF and one recorder per core; one Dense per sub-block (plus a relay where the plan asks);
    one RingBuffer source for the inputs. `lif` is the first core's process (the runtime handle); `lifs`
    has every core's, in plan order.
    """

    def __init__(
        self,
        net: FixedPointNetwork,
        steps: int,
        record: tuple[str, ...],
        folder: str,
        core_of: np.ndarray | None = None,
    ) -> None:
        from lava.proc.dense.models import PyDelayDenseModelBitAcc, PyDenseModelBitAcc
        from lava.proc.dense.process import DelayDense, Dense
        from lava.proc.io.source import PySendModelFixed
        from lava.proc.io.source import RingBuffer as Source
        from lava.proc.lif.models import PyLifModelBitAcc
        from lava.proc.lif.process import LIF
        from lava.utils.weightutils import SignMode as LavaSignMode

        self.plan = plan = emit(net, core_of)
        self.models: dict = {}
        self.lifs: list = []
        single = len(plan.cores) == 1
        for core in plan.cores:
            # du, dv and vth are per-neuron arrays: Lava's fixed-point LIF model uses them elementwise.
            params = dict(
                shape=(core.size,),
                du=core.du,
                dv=core.dv,
                vth=core.vth,
                bias_mant=core.bias_mant,
                bias_exp=core.bias_exp,
                name="wormchip_lif" if single else f"wormchip_lif_core{core.core}",
            )
            # Explicit models also spare the compiler its search, which imports every module beside a Process.
            if plan.gap_lif:
                gap_lif, gap_model = _gap_lif_classes()
                lif = gap_lif(
                    gap_shift=plan.gap_shift,
                    v_reset=core.v_reset,
                    refractory=core.refractory,
                    dw=core.dw,
                    adapt_b=core.adapt_b,
                    w_shift=core.w_shift,
                    graded_mu=core.graded_mu,
                    graded_slope_mant=core.graded_slope_mant,
                    graded_slope_shift=core.graded_slope_shift,
                    v_op=core.v_op,
                    conductance_shift=plan.conductance_shift,
                    **params,
                )
                self.models[lif] = gap_model
            else:
                lif = LIF(**params)
                self.models[lif] = PyLifModelBitAcc
            self.lifs.append(lif)
        self.lif = self.lifs[0]
        lif_of = {core.core: lif for core, lif in zip(plan.cores, self.lifs)}
        size_of = {core.core: core.size for core in plan.cores}

        relay_cls, relay_model = _relay_classes()
        relays: dict[tuple[str, int, int], Any] = {}
        for (kind, b, dst), shift in plan.relays().items():
            relay = relay_cls(shape=(size_of[dst],), shift=shift, name=f"wormchip_{kind}_relay_{b}_core{dst}")
            lif = lif_of[dst]
            relay.a_out.connect(_in_port(lif, kind))
            self.models[relay] = relay_model
            relays[kind, b, dst] = relay

        source = None
        if any(s.kind == "input" for s in plan.sub_blocks):
            source = Source(data=net.input_at(steps).T.astype(np.int32))
            self.models[source] = PySendModelFixed
        prefix = {
            "recurrent": "wormchip_dense",
            "gap": "wormchip_gap_dense",
            "graded": "wormchip_graded_dense",
            "input": "wormchip_input_dense",
            "conductance": "wormchip_conductance_dense",
        }
        for sub in plan.sub_blocks:
            graded = sub.kind in GRADED_KINDS
            name = f"{prefix[sub.kind]}_{sub.block}"
            if not single:
                name += f"_core{sub.src_core}_to_core{sub.dst_core}"
            dense = dict(
                weights=sub.weights.toarray(),
                weight_exp=sub.dense_weight_exp,
                num_weight_bits=sub.num_weight_bits,
                sign_mode=LavaSignMode(sub.sign_mode.value),
                num_message_bits=24 if graded else 0,
                name=name,
            )
            if sub.delay:
                proc = DelayDense(delays=np.full(sub.weights.shape, sub.delay, dtype=int), **dense)
                self.models[proc] = PyDelayDenseModelBitAcc
            else:
                proc = Dense(**dense)
                self.models[proc] = PyDenseModelBitAcc
            dst = lif_of[sub.dst_core]
            if sub.relay:
                proc.a_out.connect(relays[sub.kind, sub.block, sub.dst_core].a_in)
            else:
                proc.a_out.connect(_in_port(dst, sub.kind))
            if sub.kind == "input":
                source.s_out.connect(proc.s_in)
            else:
                src = lif_of[sub.src_core]
                port = {"gap": "v_out", "graded": "graded_out"}.get(sub.kind, "s_out")
                getattr(src, port).connect(proc.s_in)

        self.plastic: list = []
        if plan.plastic:
            self._add_plastic(lif_of, relays, single)
        self.reward: list = []
        self.reward_traces: list = []
        if plan.reward:
            self._add_reward(lif_of, relays, single)

        recorder_cls, recorder_model = _recorder_classes()
        self.folder = folder
        self.record = record
        self.steps = steps
        for core, lif in zip(plan.cores, self.lifs):
            suffix = "" if single else f"_core{core.core}"
            for key in ("spikes", *record):
                np.lib.format.open_memmap(
                    os.path.join(folder, f"{key}{suffix}.npy"),
                    mode="w+",
                    dtype=np.int32,
                    shape=(steps, core.size),
                )
            recorder = recorder_cls(shape=(core.size,), folder=folder, record=record, suffix=suffix)
            lif.s_out.connect(recorder.s_in)
            recorder.u_ref.connect_var(lif.u)
            recorder.v_ref.connect_var(lif.v)
            self.models[recorder] = recorder_model

    def _add_plastic(self, lif_of: dict[int, Any], relays: dict, single: bool) -> None:
        """One `LearningDense` per `PlasticSubBlock`, wired by `_wire_learning`. Every piece of a block keeps
        the block's `rng_seed`."""
        from lava.magma.core.learning.learning_rule import Loihi2FLearningRule
        from lava.proc.dense.process import LearningDense
        from lava.utils.weightutils import SignMode as LavaSignMode

        for sub in self.plan.plastic:
            block = sub.rule
            rule = Loihi2FLearningRule(
                dw=block.dw(),
                x1_impulse=block.x1_impulse,
                x1_tau=block.x1_tau,
                y1_impulse=block.y1_impulse,
                y1_tau=block.y1_tau,
                t_epoch=1,
                rng_seed=block.rng_seed,
            )
            proc = LearningDense(
                weights=sub.weights,
                tag_1=sub.tag,
                learning_rule=rule,
                sign_mode=LavaSignMode.EXCITATORY if block.sign > 0 else LavaSignMode.INHIBITORY,
                weight_exp=sub.dense_weight_exp,
                num_weight_bits=8,
                name=_piece_name("wormchip_plastic_dense", sub, single),
            )
            self._wire_learning(proc, sub, lif_of, relays)
            self.plastic.append(proc)

    def _add_reward(self, lif_of: dict[int, Any], relays: dict, single: bool) -> None:
        """Three-factor blocks: one trace process (`RewardTraces`) per (block, destination core), fed by that
        core's spikes, and one `LearningDense` with a `Loihi3FLearningRule` per `RewardSubBlock` (tag_2 the
        presence mask), wired by `_wire_learning`, its y1/y2/y3 from the trace process."""
        from wormchip.backends.lava_reward import reward_dense, reward_trace_classes

        traces_cls, traces_model = reward_trace_classes()
        size_of = {core.core: core.size for core in self.plan.cores}
        block_of = {sub.block: sub.rule for sub in self.plan.reward}
        traces = {}
        neurons_of = {core.core: core.neurons for core in self.plan.cores}
        for b, dst in self.plan.reward_traces():
            proc = traces_cls(
                shape=(size_of[dst],),
                block=block_of[b],
                reward=block_of[b].reward,
                modulators=np.searchsorted(neurons_of[dst], block_of[b].modulators),
                name=f"wormchip_reward_traces_{b}" + ("" if single else f"_core{dst}"),
            )
            lif_of[dst].s_out.connect(proc.s_in)
            self.models[proc] = traces_model
            traces[b, dst] = proc
        self.reward_traces = list(traces.values())  # in `plan.reward_traces()` order
        for sub in self.plan.reward:
            proc = reward_dense(
                sub.rule,
                sub.weights,
                sub.tag,
                sub.dense_weight_exp,
                _piece_name("wormchip_reward_dense", sub, single),
            )
            self._wire_learning(proc, sub, lif_of, relays)
            tr = traces[sub.block, sub.dst_core]
            tr.s_out_y1.connect(proc.s_in_y1)
            tr.s_out_y2.connect(proc.s_in_y2)
            tr.s_out_y3.connect(proc.s_in_y3)
            self.reward.append(proc)

    def _wire_learning(self, proc: Any, sub: Any, lif_of: dict[int, Any], relays: dict) -> None:
        """A learning piece's wiring: the source core's spikes into `s_in` (pre), the destination core's into
        `s_in_bap` (post), its output into the destination's `a_in` (or its relay); run by
        `PyLearningDenseModelBitApproximate`."""
        from lava.proc.dense.models import PyLearningDenseModelBitApproximate

        lif_of[sub.src_core].s_out.connect(proc.s_in)
        lif_of[sub.dst_core].s_out.connect(proc.s_in_bap)
        if sub.relay:
            proc.a_out.connect(relays[sub.kind, sub.block, sub.dst_core].a_in)
        else:
            proc.a_out.connect(lif_of[sub.dst_core].a_in)
        self.models[proc] = PyLearningDenseModelBitApproximate

    def read_plastic(self) -> list[np.ndarray]:
        """Each plastic block's current weights (n × n int64, network neuron order), assembled from its
        LearningDense pieces, the stdp blocks then the reward blocks; call before the runtime stops."""
        n = self.plan.n_neurons
        out = []
        for subs, procs in ((self.plan.plastic, self.plastic), (self.plan.reward, self.reward)):
            mats = [
                np.zeros((n, n), dtype=np.int64) for _ in range(max((s.block for s in subs), default=-1) + 1)
            ]
            for sub, proc in zip(subs, procs):
                mats[sub.block][np.ix_(sub.rows, sub.cols)] = np.rint(proc.weights.get()).astype(np.int64)
            out += mats
        return out

    def set_bias(self, change_index: int) -> None:
        """Set every core's bias to the plan's `bias_schedule[change_index]` (between run segments)."""
        for core, lif in zip(self.plan.cores, self.lifs):
            change = core.bias_schedule[change_index]
            lif.bias_mant.set(change.bias_mant.astype(np.int32))
            lif.bias_exp.set(change.bias_exp.astype(np.int32))

    def read(self) -> dict[str, np.ndarray]:
        """Spike raster (steps × n, bool) and recorded traces (steps × n, int32), in the network's neuron order."""
        single = len(self.plan.cores) == 1
        out = {
            key: np.zeros((self.steps, self.plan.n_neurons), dtype=np.int32)
            for key in ("spikes", *self.record)
        }
        for core in self.plan.cores:
            suffix = "" if single else f"_core{core.core}"
            for key, arr in out.items():
                arr[:, core.neurons] = np.load(os.path.join(self.folder, f"{key}{suffix}.npy"))
        out["spikes"] = out["spikes"] != 0
        return out


def _piece_name(prefix: str, sub: Any, single: bool) -> str:
    """The Lava name of a learning piece: `prefix_block`, plus its core pair when the graph has several."""
    return f"{prefix}_{sub.block}" + ("" if single else f"_core{sub.src_core}_to_core{sub.dst_core}")


def _simulate(
    report: Callable[[str], None],
    net: FixedPointNetwork,
    steps: int,
    record: tuple[str, ...],
    folder: str,
    core_of: np.ndarray | None = None,
) -> dict:
    """Worker body: build the graph, run it, read it back; always stop the runtime."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    stage_s: dict[str, float] = {}
    current: list = ["", time.perf_counter()]  # stage name, start time

    def stage(name: str) -> None:
        """Time the previous stage and tell the parent which one starts now."""
        now = time.perf_counter()
        if current[0]:
            stage_s[current[0]] = now - current[1]
        current[:] = [name, now]
        report(STAGES[name].format(steps=steps))

    stage("build")
    graph = LavaGraph(net, steps, record, folder, core_of)
    failed = True
    try:
        stage("compile")
        graph.lif.create_runtime(
            run_cfg=Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=graph.models)
        )
        stage("run")
        done = 0
        for k, change in enumerate(net.bias_schedule):  # run up to each bias change, then set the new bias
            if change.step >= steps:
                break
            graph.lif.run(condition=RunSteps(num_steps=change.step - done))
            graph.set_bias(k)
            done = change.step
        graph.lif.run(condition=RunSteps(num_steps=steps - done))
        stage("read")
        out = graph.read()
        out["plastic_weights"] = graph.read_plastic()
        failed = False
    except Exception as err:
        raise LavaRunError(_describe_failure(graph.lif, err)) from err
    finally:
        stage("stop")
        stop_error = _stop_runtime(graph.lif, failed)
    if stop_error:
        raise LavaRunError(f"Lava runtime failed to stop: {stop_error}")
    stage_s["stop"] = time.perf_counter() - current[1]
    out["stage_s"] = stage_s
    return out


def _describe_failure(proc: Any, err: BaseException) -> str:
    """Lava's own error plus the tracebacks its child processes recorded (which Lava only logs at INFO)."""
    parts = [f"Lava run failed: {type(err).__name__}: {err}"]
    trace = getattr(err, "trace", None)  # set by Lava on errors while building a child process
    if trace:
        parts.append(f"--- traceback in a Lava child process ---\n{trace}")
    runtime = proc.runtime
    actors = getattr(getattr(runtime, "_messaging_infrastructure", None), "actors", None) or []
    for actor in actors:
        exc = actor.exception  # (exception, formatted traceback) or None; non-blocking
        if exc:
            parts.append(f"--- traceback in Lava child process {actor.name} ---\n{exc[1]}")
    if len(parts) == 1:
        parts.append("".join(traceback.format_exception(type(err), err, err.__traceback__)))
    return "\n".join(parts)


def _stop_runtime(proc: Any, failed: bool) -> str | None:
    """Stop Lava's runtime in a thread, giving up after STOP_TIMEOUT_S (the parent then kills leftovers).

    After a failed run Lava has already joined its model processes, and `runtime.stop()` would wait forever
    for their replies; then only the tail of `stop()` is run: shut down the shared-memory and watchdog managers.
    Returns the text of the error stopping raised, if any.
    """
    runtime = proc.runtime
    if runtime is None:
        return None
    errors: list[str] = []

    def stop() -> None:
        try:
            if failed:
                runtime._messaging_infrastructure.stop()
                runtime._watchdog_manager.stop()
            else:
                runtime.stop()
        except Exception as err:
            errors.append(f"{type(err).__name__}: {err}")

    thread = threading.Thread(target=stop, name="wormchip-lava-stop", daemon=True)
    thread.start()
    thread.join(STOP_TIMEOUT_S)
    return errors[0] if errors else None


def run_isolated(
    fn: Callable[..., Any],
    args: tuple,
    timeout_s: float,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[Any, int]:
    """Run `fn(report, *args)` in a forked worker in a new process group; return (its value, worker pid).

    `report(text)` tells the parent which stage the worker is in (quoted on timeout, passed to `on_stage`).
    On an exception the worker's message (for `LavaRunError`, the Lava children's tracebacks) is re-raised
    here as `LavaRunError`. Whatever happens, the worker's process group is gone and its shared-memory
    segments are unlinked on return, also when the parent is interrupted (KeyboardInterrupt, or SIGTERM
    turned into an exception as the CLI does). If the parent dies without cleaning up (SIGKILL, SIGTERM with
    the default handler), the worker notices within `PARENT_POLL_S`, unlinks its segments and kills its group.
    """
    ctx = mp.get_context("fork")  # Lava itself requires fork; the worker inherits the imported modules
    recv, send = ctx.Pipe(duplex=False)
    fd, shm_log = tempfile.mkstemp(prefix="wormchip-lava-shm-", suffix=".txt")
    os.close(fd)
    worker = ctx.Process(
        target=_worker_main, args=(send, shm_log, fn, args, recv), name="wormchip-lava-worker"
    )
    worker.start()
    send.close()
    pid = worker.pid
    stage = "starting"
    outcome: tuple[str, Any] | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while outcome is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not recv.poll(remaining):
                break
            try:
                kind, payload = recv.recv()
            except EOFError:
                outcome = ("error", f"the Lava worker died while {stage} (exit code {worker.exitcode})")
                break
            if kind == "stage":
                stage = payload
                if on_stage is not None:
                    on_stage(payload)
            else:
                outcome = (kind, payload)
    finally:
        recv.close()
        _reap(worker, grace_s=EXIT_GRACE_S if outcome else 0.0)
        _unlink_logged_segments(shm_log)
    if outcome is None:
        raise LavaRunError(
            f"Lava run timed out after {timeout_s:g} s while {stage}; its processes were killed",
            worker_pid=pid,
        )
    kind, payload = outcome
    if kind == "ok":
        return payload, pid
    raise LavaRunError(payload, worker_pid=pid)


def _worker_main(
    conn: Connection,
    shm_log: str,
    fn: Callable[..., Any],
    args: tuple,
    parent_end: Connection | None = None,
) -> None:
    """Forked worker: own process group, shared-memory logging, run `fn`, report, exit without cleanup hooks.

    The worker closes its inherited copy of the parent's end of the pipe (`parent_end`): holding both ends, a
    worker whose parent died would block forever writing a result larger than the pipe buffer.
    """
    os.setsid()
    if parent_end is not None:
        parent_end.close()
    _log_shared_memory(shm_log)
    _watch_parent(os.getppid(), shm_log)
    try:
        value = fn(lambda text: conn.send(("stage", text)), *args)
        _send_or_abandon(conn, ("ok", value), shm_log)
    except BaseException as err:
        message = str(err) if isinstance(err, LavaRunError) else traceback.format_exc()
        _send_or_abandon(conn, ("error", message), shm_log)
        # Exit while `err` is alive: freeing the Lava processes its traceback holds would call their
        # __del__ -> runtime.stop(), which blocks after a failure.
        _exit_worker(conn)
    _exit_worker(conn)


def _send_or_abandon(conn: Connection, message: tuple[str, Any], shm_log: str) -> None:
    """Send the outcome to the parent; if the parent is gone (broken pipe), clean up and end the group."""
    try:
        conn.send(message)
    except OSError:
        _abandon(shm_log)


def _watch_parent(parent: int, shm_log: str) -> None:
    """Start a daemon thread that abandons the run once the worker's parent process has died."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        _abandon(shm_log)

    threading.Thread(target=watch, name="wormchip-lava-parent-watch", daemon=True).start()


def _abandon(shm_log: str) -> None:
    """The parent is gone: unlink the logged segments and SIGKILL this worker's process group (itself last)."""
    _unlink_logged_segments(shm_log)
    os.killpg(0, signal.SIGKILL)
    os._exit(1)


def _exit_worker(conn: Connection) -> None:
    """Leave without multiprocessing's exit handler, which would join Lava children a stuck stop() left."""
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _log_shared_memory(path: str) -> None:
    """Append the name of every segment this process and its forked descendants create to `path`."""
    from multiprocessing import shared_memory

    original = shared_memory.SharedMemory.__init__

    def init(
        self: shared_memory.SharedMemory, name: str | None = None, create: bool = False, size: int = 0
    ) -> None:
        original(self, name, create, size)
        if create:
            with open(path, "a") as f:
                f.write(self.name + "\n")

    shared_memory.SharedMemory.__init__ = init


def _unlink_logged_segments(path: str) -> None:
    """Remove the segments named in `path` that still exist, then the log itself."""
    with suppress(FileNotFoundError), open(path) as f:
        for name in f.read().split():
            with suppress(FileNotFoundError):
                os.unlink(os.path.join(SHM_DIR, name.lstrip("/")))
    with suppress(FileNotFoundError):
        os.unlink(path)


def process_group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`, from /proc (no psutil needed)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def _reap(worker: mp.Process, grace_s: float) -> None:
    """Wait up to `grace_s` for the worker and its group to finish, then kill the group; wait until it is gone."""
    pgid = worker.pid
    worker.join(grace_s)
    deadline = time.monotonic() + grace_s
    while not worker.is_alive() and process_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if worker.is_alive() or process_group_members(pgid):
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with suppress(ProcessLookupError):
            os.kill(pgid, signal.SIGKILL)  # in case it had not yet called setsid()
    worker.join()
    deadline = time.monotonic() + 5.0
    while process_group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.close()
