"""The user-facing pipeline shared by the CLI, notebooks and `make demo`: circuit → IR → run or compile.

`run_circuit(circuit, on=...)` runs one circuit on any backend and returns the shared `Result`;
`compile_circuit(circuit, target=...)` applies the compiler passes (lower → quantize → partition → place) and
returns every intermediate product plus the resource report. Backends and passes stay independent of each
other; this module is the only place that strings them together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wormchip import ir
from wormchip.circuits.build import build
from wormchip.circuits.schema import CircuitSpec
from wormchip.errors import WormchipError
from wormchip.result import Result, Trace
from wormchip.simulate import prepare

if TYPE_CHECKING:  # the passes are imported where they run, so `import wormchip.pipeline` stays light
    import scipy.sparse as sp

    from wormchip.mappers.energy import InferenceEnergy
    from wormchip.mappers.fixed_point import FixedPointNetwork
    from wormchip.mappers.hardware import HardwareProfile
    from wormchip.mappers.lower import LoweredNetwork
    from wormchip.mappers.partition import Partition
    from wormchip.mappers.place import Placement
    from wormchip.mappers.quantize import QuantizationReport
    from wormchip.mappers.report import ResourceReport

BACKENDS = ("brian2", "nengo", "lava", "emulator")
Progress = Callable[[float], None]


def build_circuit(
    circuit: str | Path | CircuitSpec | ir.Network,
    duration: str | None = None,
    dt: str | None = None,
    seed: int | None = None,
    ablate: list[str] | None = None,
    on: str = "brian2",
    force: bool = False,
    notify: Callable[[str], None] | None = None,
) -> ir.Network:
    """A library name, YAML path, spec object or ready IR → IR (run-setting overrides as unit strings).

    Before building, the run's memory and time on backend `on` are estimated (`wormchip.preflight`): work
    beyond this machine raises `ResourceLimitError` unless `force`; `notify(line)` hears long estimates.
    """
    if isinstance(circuit, ir.Network):
        if duration or dt or seed is not None or ablate:
            raise WormchipError("overrides (duration, dt, seed, ablate) need a spec, not a built network")
        return circuit
    from wormchip.preflight import check_estimate, estimate_spec

    spec, base = prepare(circuit, duration, dt, seed)
    check_estimate(estimate_spec(spec, on), force=force, notify=notify)
    return build(spec, base_dir=base, ablate=ablate)


@dataclass
class Compiled:
    """Everything the compiler produced for one network (see docs/compiler.md for each pass)."""

    network: ir.Network
    lowered: LoweredNetwork
    fixed: FixedPointNetwork
    quantization: QuantizationReport
    profile: HardwareProfile | None = None
    partition: Partition | None = None
    placement: Placement | None = None
    report: ResourceReport | None = None
    graph: sp.csr_matrix | None = None  # synapse counts (post × pre) the partitioner saw
    rates: np.ndarray | None = None  # Hz per neuron used for traffic and energy


def quantized(network: ir.Network, calibrate: bool = True) -> Compiled:
    """Lower and quantize (the passes a fixed-point run needs). With `calibrate`, each neuron's voltage range
    below rest is measured in a float run of the lowered network (`calibrated_headroom`), so strongly inhibited
    neurons do not clip (docs/compiler.md, Fidelity)."""
    from wormchip.mappers.lower import lower
    from wormchip.mappers.quantize import calibrated_headroom, quantize

    lowered = lower(network)
    headroom = calibrated_headroom(lowered) if calibrate else 1.0
    fixed, qreport = quantize(lowered, v_headroom=headroom)
    return Compiled(network, lowered, fixed, qreport)


def run_circuit(
    circuit: str | Path | CircuitSpec | ir.Network,
    on: str = "brian2",
    duration: str | None = None,
    dt: str | None = None,
    seed: int | None = None,
    ablate: list[str] | None = None,
    target: str | None = None,
    report: Progress | None = None,
    timeout_s: float = 600.0,
    cores_for: str | Path | None = None,
    force: bool = False,
    notify: Callable[[str], None] | None = None,
    stage: Callable[[str], None] | None = None,
) -> Result:
    """Run a circuit on `on` (brian2, nengo, lava or emulator) and return the shared `Result`.

    Lava and the emulator run the compiled fixed-point network (bit-identical to each other); their `v` trace
    is converted back to volts (per-neuron scale from quantization, plus E_L), the raw registers are kept as
    `v_fixed` and `u_fixed`. With `cores_for` (a hardware profile) Lava runs the network partitioned for that
    target, one process group per core (the emit pass; slower, for checking a partition's arithmetic).
    `force` and `notify`: see `build_circuit` (work estimated beyond this machine is refused unless `force`).
    `stage(text)` hears each stage of a Lava run as it starts ("compiling and starting Lava's processes", …).
    """
    if cores_for is not None and on != "lava":
        raise WormchipError(f"cores_for applies to on='lava' only, not {on!r}")
    if on not in BACKENDS:
        raise WormchipError(f"unknown backend {on!r}; choose one of {', '.join(BACKENDS)}")
    network = build_circuit(circuit, duration, dt, seed, ablate, on=on, force=force, notify=notify)
    if on == "brian2":
        from wormchip.backends.brian2_backend import run_brian2

        return run_brian2(network, target=target, report=report)
    if on == "nengo":
        from wormchip.backends.nengo_backend import run_nengo

        return run_nengo(network, report=report)
    compiled = quantized(network)
    steps = compiled.lowered.steps
    if on == "emulator":
        from wormchip.backends.emulator import run_emulator

        result = run_emulator(compiled.fixed, steps)
    else:
        from wormchip.backends.lava_runner import run_lava

        core_of = None
        if cores_for is not None:
            core_of = map_to_cores(compiled, cores_for).partition.core_of
        result = run_lava(compiled.fixed, steps, timeout_s=timeout_s, core_of=core_of, on_stage=stage)
        result.metadata["cores"] = 1 if core_of is None else int(np.unique(core_of).size)
    if report is not None:
        report(1.0)
    return _to_physical(result, compiled, network)


def _to_physical(result: Result, compiled: Compiled, network: ir.Network) -> Result:
    """Rename fixed-point traces and add `v` in volts; attach circuit metadata."""
    traces = {}
    for key, trace in result.traces.items():
        traces[f"{key}_fixed"] = trace
    if "v" in result.traces:
        raw = result.traces["v"]
        scale = np.asarray(compiled.quantization.v_scale, dtype=float)
        volts = raw.values.astype(float) * scale[None, :] + np.asarray(compiled.lowered.e_l)[None, :]
        traces["v"] = Trace(raw.times, raw.channels, volts, "V")
    result.traces = traces
    result.metadata.update(
        circuit=network.metadata.get("circuit", network.name),
        seed=network.seed,
        approximations=[a.feature for a in compiled.lowered.approximations],
    )
    return result


def compile_circuit(
    circuit: str | Path | CircuitSpec | ir.Network,
    target: str | Path = "loihi2",
    method: str = "metis",
    rates: np.ndarray | None = None,
    duration: str | None = None,
    force: bool = False,
) -> Compiled:
    """Lower, quantize, partition and place a circuit for a hardware profile (`loihi1`, `loihi2` or a YAML
    file); the resource report uses `rates` (Hz per neuron) for traffic and energy, else a run of the emulator
    over the circuit's duration (so the work is estimated as an emulator run; `force`: see `build_circuit`)."""
    network = build_circuit(circuit, duration=duration, on="emulator", force=force)
    return map_to_cores(quantized(network), target, method, rates)


def map_to_cores(
    compiled: Compiled, target: str | Path = "loihi2", method: str = "metis", rates: np.ndarray | None = None
) -> Compiled:
    """Partition, place and report an already quantized network (`quantized`); fills in `compiled`."""
    from wormchip.mappers.hardware import load_profile
    from wormchip.mappers.partition import graph_from_fixed_point, inputs_from_fixed_point, partition
    from wormchip.mappers.place import place
    from wormchip.mappers.report import resource_report

    network = compiled.network
    profile = load_profile(target).with_delays(compiled.fixed.max_delay)
    spikes: np.ndarray | None = None
    if rates is None:
        from wormchip.backends.emulator import run_emulator

        run = run_emulator(compiled.fixed, compiled.lowered.steps, record=())
        steps = run.spike_steps()
        spikes = np.zeros((compiled.lowered.steps, network.size), dtype=bool)
        for k, name in enumerate(compiled.fixed.neuron_names):
            spikes[steps[name], k] = True
        rates = spikes.mean(axis=0) / network.dt
    graph = graph_from_fixed_point(compiled.fixed)
    external = inputs_from_fixed_point(compiled.fixed)
    parts = partition(
        graph, profile, rates=rates, method=method, external=external, names=compiled.fixed.neuron_names
    )
    placement = place(parts, graph, profile, rates=rates)
    compiled.profile, compiled.partition, compiled.placement = profile, parts, placement
    compiled.graph, compiled.rates = graph, rates
    compiled.report = resource_report(
        graph, parts, placement, profile, spikes=spikes if spikes is not None else rates, dt=network.dt
    )
    return compiled


def closed_loop_energy(
    circuit: str | Path | CircuitSpec | ir.Network,
    result: Result,
    control_period: float,
    target: str | Path = "loihi2",
    method: str = "metis",
) -> tuple[Compiled, InferenceEnergy]:
    """Energy per inference (one control period) of a closed-loop run on the emulator: the circuit compiled
    with the run's rates, the report counted from the run's spike raster, against the same network as dense
    float arithmetic on a CPU. Returns (Compiled, `wormchip.mappers.energy.InferenceEnergy`)."""
    from wormchip.mappers.energy import dense_step_cost, inference_energy
    from wormchip.mappers.partition import synapse_graph
    from wormchip.mappers.report import resource_report

    compiled = quantized(build_circuit(circuit, on="emulator"))
    names = compiled.fixed.neuron_names
    steps = int(round(result.duration / result.dt))
    raster = np.zeros((steps, len(names)), dtype=bool)
    for k, name in enumerate(names):
        hit = result.spike_steps().get(name, np.zeros(0, dtype=np.int64))
        raster[hit[(hit >= 0) & (hit < steps)], k] = True
    compiled = map_to_cores(compiled, target, method, rates=raster.mean(axis=0) / result.dt)
    report = resource_report(
        compiled.graph, compiled.partition, compiled.placement, compiled.profile, spikes=raster, dt=result.dt
    )
    compiled.report = report
    fixed = compiled.fixed
    graded = sum(synapse_graph(b.weights).nnz for b in (*fixed.gap_weights, *fixed.graded_weights))
    period_steps = max(1, int(round(control_period / result.dt)))
    energy = inference_energy(
        report, period_steps, dense_step_cost(compiled.network), compiled.profile, graded
    )
    return compiled, energy
