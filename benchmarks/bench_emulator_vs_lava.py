"""Emulator vs Lava (fixed point) on the compiled whole worm: same run, speed ratio, identical results.

Usage: .venv/bin/python benchmarks/bench_emulator_vs_lava.py [--steps 10000] [--circuit whole_worm]

The circuit is compiled as the pipeline does (`lower` + `quantize`: 302 neurons, chemical synapses, gap
junctions through `GapLIF`, refractory periods, the touch as a bias schedule). Lava and the emulator run the
same `--steps` steps with u and v recorded; spikes, u and v are compared at every step. The emulator is timed
with both engines (numba, the default, and the NumPy loop), warm (numba's compile time, cached on disk after
the first run, is printed separately). Lava is timed as the whole call (fork, compile, run, read-back, stop)
and as its `run()` alone.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from wormchip.backends.emulator import numba, run_emulator
from wormchip.circuits.build import build
from wormchip.circuits.loader import load_spec
from wormchip.mappers.lower import lower
from wormchip.mappers.quantize import quantize


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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
