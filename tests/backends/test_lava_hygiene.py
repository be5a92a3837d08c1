"""Lava runs clean up after themselves: real child tracebacks, timeouts, no leftover processes or /dev/shm.

Failures are injected by adding a misbehaving Lava process to the graph `run_lava` builds (the worker is forked,
so the monkeypatched graph class reaches it).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np
import pytest

from wormchip.errors import BackendUnavailable, WormchipError
from wormchip.mappers.fixed_point import FixedPointNetwork, WeightBlock

try:
    from wormchip.backends.lava_support import require_lava

    require_lava()
except BackendUnavailable as err:
    pytest.skip(f"Lava unavailable: {err}", allow_module_level=True)

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from wormchip.backends import lava_runner
from wormchip.backends.lava_runner import LavaRunError, process_group_members, run_lava

pytestmark = pytest.mark.lava

FAIL_STEP = 3


class Boom(AbstractProcess):
    """Receives the LIF spikes and raises at step FAIL_STEP."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape=shape)
        self.s_in = InPort(shape=shape)


@implements(proc=Boom, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyBoomModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)

    def run_spk(self) -> None:
        self.s_in.recv()
        if self.time_step == FAIL_STEP:
            raise ValueError(f"injected failure at step {self.time_step}")


class Stall(AbstractProcess):
    """Receives the LIF spikes and hangs at step 2 (like a deadlocked Lava run)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape=shape)
        self.s_in = InPort(shape=shape)


@implements(proc=Stall, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyStallModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)

    def run_spk(self) -> None:
        self.s_in.recv()
        if self.time_step == 2:
            time.sleep(600)


def _net(n: int = 6) -> FixedPointNetwork:
    rng = np.random.default_rng(0)
    return FixedPointNetwork(
        neuron_names=[f"n{i}" for i in range(n)],
        du=100,
        dv=200,
        vth=50,
        bias_mant=rng.integers(0, 200, n),
        bias_exp=2,
        weights=(WeightBlock(rng.integers(-50, 50, (n, n)), weight_exp=0),),
    )


def _inject(monkeypatch: pytest.MonkeyPatch, proc_class: type[AbstractProcess], model: type) -> None:
    """Make `run_lava` build its usual graph plus `proc_class` listening to the LIF spikes."""

    class Graph(lava_runner.LavaGraph):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            extra = proc_class(shape=self.lif.s_out.shape)
            self.lif.s_out.connect(extra.s_in)
            self.models[extra] = model

    monkeypatch.setattr(lava_runner, "LavaGraph", Graph)


def _children(pid: int) -> set[int]:
    """Live (non-zombie) child processes of `pid`, from /proc."""
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[1]) == pid:
                out.add(int(entry))
    return out


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm"))


def _in_use(segments: set[str]) -> set[str]:
    """Segments some live process still has open or mapped: another Lava run's, not our leak."""
    used: set[str] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            with open(f"/proc/{pid}/maps") as maps:
                links.append(maps.read())
        except OSError:  # the process ended, or is not ours to read
            continue
        text = "\n".join(links)
        used |= {s for s in segments if f"/dev/shm/{s}" in text}
    return used


@pytest.fixture
def clean_state():
    """Snapshot processes and /dev/shm before the test; after it, require nothing new to remain."""
    before_shm, before_children = _shm(), _children(os.getpid())
    before_mp = {p.pid for p in mp.active_children()}
    yield
    assert {p.pid for p in mp.active_children()} == before_mp
    assert _children(os.getpid()) <= before_children
    new = _shm() - before_shm
    if new:  # segments of another concurrent run vanish on their own; ours would stay
        time.sleep(2.0)
        new &= _shm()
        new -= _in_use(new)  # still held by a live process (another run on this machine): not a leak
    assert not new, f"leftover shared memory segments: {sorted(new)}"


def test_clean_run_leaves_nothing(clean_state: None) -> None:
    result = run_lava(_net(), 20, timeout_s=120)
    assert result.metadata["backend"] == "lava"
    assert process_group_members(result.metadata["lava_worker_pid"]) == []


def test_child_exception_surfaces_with_traceback(monkeypatch: pytest.MonkeyPatch, clean_state: None) -> None:
    _inject(monkeypatch, Boom, PyBoomModel)
    with pytest.raises(LavaRunError) as info:
        run_lava(_net(), 20, timeout_s=120)
    message = str(info.value)
    assert isinstance(info.value, WormchipError)
    assert f"ValueError: injected failure at step {FAIL_STEP}" in message
    assert "Traceback (most recent call last)" in message
    assert "in run_spk" in message
    assert process_group_members(info.value.worker_pid) == []


def test_hang_times_out_and_is_killed(monkeypatch: pytest.MonkeyPatch, clean_state: None) -> None:
    _inject(monkeypatch, Stall, PyStallModel)
    t0 = time.monotonic()
    with pytest.raises(LavaRunError, match=r"timed out after 4 s while running 20 steps") as info:
        run_lava(_net(), 20, timeout_s=4)
    assert time.monotonic() - t0 < 15
    assert process_group_members(info.value.worker_pid) == []


def test_lava_loads_after_another_start_method_was_set() -> None:
    """A fit's Dask LocalCluster (or any library) may set the start method first; Lava's import used to raise
    "context has already been set". In a fresh interpreter: spawn set first, then a Lava session's preload."""
    import subprocess
    import sys

    code = (
        "import multiprocessing as mp; mp.set_start_method('spawn'); "
        "from wormchip.backends.lava_runner import _preload_lava; _preload_lava(); print(mp.get_start_method())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "fork"
