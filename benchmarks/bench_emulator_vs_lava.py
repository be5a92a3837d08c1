"""Emulator vs Lava (fixed point) on the compiled whole worm: same run, speed ratio, identical results.

Usage: .venv/bin/python benchmarks/bench_emulator_vs_lava.py [--steps 10000] [--circuit whole_worm]

The circuit is compiled as the pipeline does (`lower` + `quantize`: 302 neurons, chemical synapses, gap
junctions through `GapLIF`, refractory periods, the touch as a bias schedule). Lava and the emulator run the
same `--steps` steps with u and v recorded; spikes, u and v are compared at every step. The emulator is timed
with both engines (numba, the default, and the NumPy loop), warm (numba's compile time, cached on disk after
the first run, is printed separately). Lava is timed as the whole call (fork, compile, run, read-back, stop)
and as its `run()` alone.

End to end (issue 16, goal 2: ≥ 100×): `run_circuit(circuit, on="emulator")` against `run_circuit(on="lava")`,
compile included, interleaved; the emulator both with its calibration cached (the usual case after the first
run of a network) and with the cache cleared (the first run).

    .venv/bin/python benchmarks/bench_emulator_vs_lava.py [--steps 10000] [--pairs 3] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from common import Row, add_arguments, interleaved, report, seconds, spread, timed

from wormchip.backends.emulator import numba, run_emulator
from wormchip.circuits.build import build
from wormchip.circuits.loader import load_spec
from wormchip.mappers import quantize as quantize_module
from wormchip.mappers.lower import lower
from wormchip.mappers.quantize import quantize
from wormchip.pipeline import run_circuit

E2E_GOAL = 100.0


def best_of(fn, repeat: int) -> float:
    """Fastest of `repeat` wall-clock timings of `fn()` (the machine is shared)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--circuit", default="whole_worm")
    parser.add_argument("--repeat", type=int, default=3, help="emulator timings: best of this many")
    parser.add_argument("--pairs", type=int, default=3, help="end-to-end timings: interleaved pairs")
    add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeat, args.pairs = 2_000, 2, 2
    warnings.simplefilter("ignore")

    from wormchip.backends.lava_runner import run_lava

    net, _ = quantize(lower(build(load_spec(args.circuit))))
    k = args.steps
    n_gap = sum(b.weights.nnz for b in net.gap_weights)
    print(
        f"{args.circuit}: {net.n_neurons} neurons, {net.n_synapses} synapses in {len(net.weights)} + "
        f"{len(net.input_weights)} blocks, {n_gap} gap entries in {len(net.gap_weights)} graded blocks, "
        f"{len(net.bias_schedule)} bias changes; {k} steps"
    )
    if numba is not None:
        t0 = time.perf_counter()
        run_emulator(net, 2, engine="numba")
        print(f"numba kernel ready (compile or load from cache): {time.perf_counter() - t0:.2f} s")
    engines = ["numba", "numpy"] if numba is not None else ["numpy"]
    emu_s = {e: best_of(lambda e=e: run_emulator(net, k, engine=e), args.repeat) for e in engines}
    for e, s in emu_s.items():
        print(f"emulator ({e:5}) : {s:7.3f} s = {1e6 * s / k:8.1f} µs/step (u, v recorded)")

    t0 = time.perf_counter()
    lava = run_lava(net, k, timeout_s=3600)
    lava_s = time.perf_counter() - t0
    lava_run_s = lava.metadata["run_time_s"]
    print(f"lava whole call  : {lava_s:7.3f} s = {1e6 * lava_s / k:8.1f} µs/step (u, v recorded)")
    print(f"lava run() alone : {lava_run_s:7.3f} s = {1e6 * lava_run_s / k:8.1f} µs/step")
    for e, s in emu_s.items():
        print(
            f"speed ratio lava/emulator ({e}), same {k} steps: {lava_s / s:.0f}x (whole call), "
            f"{lava_run_s / s:.0f}x (run)"
        )

    emu = run_emulator(net, k)
    same_spikes = all(np.array_equal(emu.spike_times[n], lava.spike_times[n]) for n in net.neuron_names)
    same_uv = all(np.array_equal(emu.traces[x].values, lava.traces[x].values) for x in ("u", "v"))
    n_spikes = sum(emu.spike_counts().values())
    print(f"spikes identical: {same_spikes} ({n_spikes} spikes); u and v identical at every step: {same_uv}")
    if not (same_spikes and same_uv):
        raise SystemExit("MISMATCH between emulator and Lava")
    rows = [
        Row(
            f"emulator ({engines[0]}) vs Lava, backend call, {args.circuit} {k} steps",
            f"{emu_s[engines[0]]:.3g} s (best)",
            f"{lava_s:.3g} s",
            None,
            "— (same spikes, u, v)",
            None,
        )
    ]
    rows += end_to_end(args.circuit, f"{k * net_dt(args.circuit) * 1e3:g} ms", args.pairs)
    report(rows, args.json)


def net_dt(circuit: str) -> float:
    """The circuit's step (s)."""
    return build(load_spec(circuit)).dt


def end_to_end(circuit: str, duration: str, pairs: int) -> list[Row]:
    """`run_circuit` on the emulator (calibration cached, and cleared) vs on Lava, interleaved."""

    def emulator(cached: bool) -> None:
        if not cached:
            quantize_module._LOWEST_V.clear()
        run_circuit(circuit, on="emulator", duration=duration)

    emulator(True)  # fills the cache, compiles or loads the numba kernel
    lava, warm, cold = [], [], []
    for _ in range(pairs):
        ours, base = interleaved(
            lambda: emulator(True), lambda: run_circuit(circuit, on="lava", duration=duration), 1
        )
        warm += ours
        lava += base
        cold.append(timed(lambda: emulator(False)))
    rows = []
    for label, times in (("calibration cached", warm), ("first run, calibrating", cold)):
        ratio = spread([b / a for a, b in zip(times, lava)])
        print(f"run_circuit {circuit} {duration}: emulator ({label}) {seconds(times)}, lava {seconds(lava)}")
        rows.append(
            Row(
                f"run_circuit(on=emulator) vs on=lava, {circuit} {duration}, {label}",
                seconds(times),
                seconds(lava),
                ratio,
                f">= {E2E_GOAL:g}x",
                ratio[1] >= E2E_GOAL,
            )
        )
    return rows


if __name__ == "__main__":
    main()
