"""Checks before work starts, so a run fails in a second instead of after it: output paths, and whether the work
fits this machine.

`check_output` proves an output folder (or file) can be written by creating and removing a probe file in it
(or in its nearest existing parent). `estimate_spec` prices a circuit spec before it is built, with a deliberately
simple, documented model (see `COSTS`): memory = neurons × bytes per neuron + synapses × bytes per synapse +
recorded samples × 8 B (+ dense n × n weight blocks for Lava), time = neuron-steps × cost per neuron-step +
synapses × set-up cost per synapse + fixed set-up. `check_spec` refuses work above the machine's available
memory or above `MAX_SECONDS`, with the estimate in the message; `force=True` (`--force`) skips the refusal.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wormchip.errors import WormchipError

#: Longest estimated run accepted without `--force` (seconds).
MAX_SECONDS = 3600.0
#: Estimated runs longer than this are announced before they start (seconds).
NOTICE_SECONDS = 60.0
#: Share of the machine's available memory a run may be estimated to use without `--force`.
MEMORY_FRACTION = 0.8
#: Upper bound of neurons in a population drawn from the connectome (the largest dataset has 302).
CONNECTOME_NEURONS = 302
#: Upper bound of synapses of a `from_connectome` connection (cook2019: 3,709 chemical edges, 1,105 gap pairs).
CONNECTOME_EDGES = 4_000


class OutputError(WormchipError, ValueError):
    """An output path (`--out`) cannot be written; found before any work is done."""


class ResourceLimitError(WormchipError, ValueError):
    """The estimated memory or time of a run exceeds this machine; `estimate` holds the figures."""

    def __init__(self, message: str, estimate: Estimate | None = None) -> None:
        super().__init__(message)
        self.estimate = estimate


@dataclass(frozen=True)
class Cost:
    """Measured per-unit costs of one backend (2-core development machine, December 2026).

    brian2: 35 ns per neuron-step measured (cython, 20,000 LIF neurons, 400 k synapses, warm cache), 240 ns
    including set-up for 200,000 neurons × 200 steps; peak memory 2.4 kB per neuron (200,000 neurons) and 170 B
    per synapse (4 M random synapses); building spends ~1.3 µs per random synapse; a fixed ~20 µs per step
    bounds tiny networks. Lava: ~3.6 ms per step for whole_worm on one core (docs/lava.md), and its Dense
    processes hold and multiply full n × n matrices every step (int64, copied into Lava's child process). The
    emulator calibrates with a float NumPy run first, so its costs cover two runs.
    """

    neuron_step_s: float
    step_s: float  # per step, independent of size (Lava's per-process messaging)
    synapse_s: float  # building and setting up one synapse
    setup_s: float
    neuron_bytes: float
    synapse_bytes: float
    dense_bytes: float = 0.0  # per neuron², for backends that hold n × n weight matrices
    dense_step_s: float = 0.0  # per neuron² and step (Lava's Dense multiplies the full matrix every step)


COSTS: dict[str, Cost] = {
    "brian2": Cost(50e-9, 20e-6, 2e-6, 20.0, 2500.0, 170.0),
    "nengo": Cost(200e-9, 20e-6, 2e-6, 5.0, 2500.0, 170.0),
    "emulator": Cost(200e-9, 20e-6, 2e-6, 5.0, 2500.0, 170.0),
    "lava": Cost(100e-9, 4e-3, 2e-6, 10.0, 2500.0, 170.0, dense_bytes=16.0, dense_step_s=1e-9),
}


@dataclass(frozen=True)
class Estimate:
    """Predicted size, memory and wall time of one run."""

    backend: str
    neurons: int
    synapses: int
    steps: int
    recorded_samples: int
    memory_bytes: float
    seconds: float

    def describe(self) -> str:
        """One line: sizes, memory and time."""
        return (
            f"{self.neurons:,} neurons, {self.synapses:,} synapses, {self.steps:,} steps on {self.backend}: "
            f"about {_bytes(self.memory_bytes)} and {_duration(self.seconds)}"
        )


def _bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 1e3:.3g} kB"


def _duration(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.3g} days"
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    if s >= 60:
        return f"{s / 60:.3g} min"
    return f"{s:.2g} s"


def available_memory() -> float:
    """Bytes of memory available to new work (MemAvailable from /proc/meminfo; else total physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def check_output(path: str | Path | None, option: str = "--out", kind: str = "folder") -> Path | None:
    """Check that `path` (a folder, or a file with `kind="file"`) can be written; nothing is created.

    Raises `OutputError` naming the option, the path and the reason. Returns the path (None stays None).
    """
    if path is None:
        return None
    text = str(path)
    if not text.strip() or "\0" in text:
        raise OutputError(f"{option} {text!r} is not a valid path; give a {kind} name, e.g. out/run1")
    target = Path(text)
    if kind == "file":
        if target.is_dir():
            raise OutputError(f"{option} {text} is a folder; give a file name inside it, e.g. {target / 'x'}")
        folder = target.parent
    else:
        if target.exists() and not target.is_dir():
            raise OutputError(f"{option} {text} is a file, not a folder; give a folder name")
        folder = target
    existing = folder
    while not existing.exists():  # the nearest existing parent must be a writable folder
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{option} {text}: {existing} is a file, so nothing can be created under it")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".wormchip-write-test-"):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise OutputError(
            f"{option} {text}: cannot write in {existing} ({reason}); choose a writable {kind}"
        ) from None
    return target


def estimate_spec(spec: object, on: str = "brian2") -> Estimate:
    """Price a `CircuitSpec` on backend `on` before building it (see the module docstring for the model)."""
    from wormchip.units import UnitError, parse_quantity

    sizes: dict[str, int] = {}
    for pop in spec.populations:
        if pop.size is not None:
            sizes[pop.name] = int(pop.size)
        elif pop.cells is not None:
            sizes[pop.name] = len(pop.cells)
        else:
            sizes[pop.name] = CONNECTOME_NEURONS
    neurons = sum(sizes.values())
    synapses = 0
    for conn in spec.connections:
        pre = sum(sizes.get(name, 0) for name in conn.source)
        post = sum(sizes.get(name, 0) for name in conn.target)
        if conn.random is not None:
            synapses += int(conn.random.p * pre * post)
        elif conn.edges is not None:
            synapses += len(conn.edges)
        else:
            synapses += min(pre * post, CONNECTOME_EDGES)
    try:
        dt = parse_quantity(spec.run.dt, "time")
        duration = parse_quantity(spec.run.duration, "time")
    except UnitError:  # the build reports bad units with file and line
        dt, duration = 1.0, 0.0
    steps = int(duration / dt) if dt > 0 else 0
    samples = 0
    for probe in spec.probes:
        try:
            probe_dt = max(parse_quantity(probe.dt, "time"), dt)
        except UnitError:
            probe_dt = dt
        probed = neurons if probe.neurons == "all" else min(neurons, len(probe.neurons) * CONNECTOME_NEURONS)
        samples += int(duration / probe_dt) * probed * len(probe.variables) if probe_dt > 0 else 0
    cost = COSTS.get(on, COSTS["brian2"])
    memory = (
        neurons * cost.neuron_bytes
        + synapses * cost.synapse_bytes
        + samples * 8.0
        + cost.dense_bytes * float(neurons) ** 2
    )
    per_step = cost.step_s + neurons * cost.neuron_step_s + cost.dense_step_s * float(neurons) ** 2
    seconds = cost.setup_s + steps * per_step + synapses * cost.synapse_s
    return Estimate(on, neurons, synapses, steps, samples, memory, seconds)


def check_estimate(
    estimate: Estimate,
    force: bool = False,
    notify: Callable[[str], None] | None = None,
    max_seconds: float = MAX_SECONDS,
) -> Estimate:
    """Refuse an estimate above the available memory or `max_seconds` (unless `force`); announce long ones."""
    memory_limit = MEMORY_FRACTION * available_memory()
    problems = []
    if estimate.memory_bytes > memory_limit:
        problems.append(f"needs {_bytes(estimate.memory_bytes)}, {_bytes(memory_limit)} available")
    if estimate.seconds > max_seconds:
        problems.append(f"would take {_duration(estimate.seconds)}, limit {_duration(max_seconds)}")
    if problems and not force:
        raise ResourceLimitError(
            f"too large for this machine ({'; '.join(problems)}): estimated {estimate.describe()}; "
            "reduce size, duration or connection probability, or pass --force to run anyway",
            estimate,
        )
    if notify is not None and (problems or estimate.seconds > NOTICE_SECONDS):
        notify(f"estimated {estimate.describe()}")
    return estimate


#: Seconds per perturbation run of the atlas comparison on whole_worm (0.40 s per shuffle and 0.71 s for the
#: real connectome measured, 2-core machine): one run per shuffle plus the real one.
ATLAS_RUN_S = 0.5


def check_shuffles(shuffles: int, force: bool = False, notify: Callable[[str], None] | None = None) -> float:
    """Refuse an atlas comparison whose (shuffles + 1) runs × `ATLAS_RUN_S` exceed `MAX_SECONDS`; return it."""
    seconds = (shuffles + 1) * ATLAS_RUN_S
    line = f"{shuffles:,} shuffles: about {_duration(seconds)} ({ATLAS_RUN_S:g} s per perturbation run)"
    if seconds > MAX_SECONDS and not force:
        raise ResourceLimitError(
            f"--shuffles {shuffles:,} would take about {_duration(seconds)} (limit {_duration(MAX_SECONDS)}, "
            f"{ATLAS_RUN_S:g} s per run); use fewer shuffles (100 give p ≥ 0.01) or pass --force"
        )
    if notify is not None and seconds > NOTICE_SECONDS:
        notify(f"estimated {line}")
    return seconds
