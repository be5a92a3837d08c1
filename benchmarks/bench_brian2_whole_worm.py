"""whole_worm in Brian2: wormchip's generated network vs a hand-written Brian2 script of the same network.

Same target, same connectome weights and inputs, measured in the same process (issue 16 goal 1: ratio ≤ 1.05
on cython and on cpp_standalone, and ≥ 20× real time on cpp_standalone). The hand-written script is the
idiomatic one: gap current `w·(v_pre − v_post)` as a summed variable, so exponential Euler integrates the
leak only, while wormchip keeps the gap conductance in the membrane's decay (as its other backends do); the
two differ by a few spikes of ~4,460 in 10 s (an integration difference, not a bug).
- cython/numpy: each side built and run once (compile or cache load), then `--pairs` times alternately; the
  run loop's wall time (and CPU time, printed too).
- cpp_standalone: each program built once, then run alternately (≥ 3 pairs); the programs' own timing of
  their run loop, which is CPU time (std::clock), so the load of a shared machine matters less.

    .venv/bin/python benchmarks/bench_brian2_whole_worm.py [--duration 10] [--targets cython cpp_standalone]
    .venv/bin/python benchmarks/bench_brian2_whole_worm.py --quick --json rows.json  # 2 s, 2 pairs
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import tempfile
import time

import brian2 as b2
import numpy as np
from common import Row, add_arguments, report, seconds, spread

from wormchip.backends.brian2_backend import NEURON_METHOD, run_brian2
from wormchip.circuits.build import build
from wormchip.simulate import prepare


def hand_written(network, target: str, keep: str | None = None) -> tuple[float, float, int]:
    """The same LIF + exp-current + gap network written directly in Brian2; returns the run loop's wall and
    CPU seconds and the spike count.

    cpp_standalone: the binary's own timing of its run loop, which is CPU time (as wormchip's `run_s`);
    `keep`: build there and leave the folder (to read the generated code), else a temporary folder.
    """
    standalone_dir = None
    if target == "cpp_standalone":
        standalone_dir = keep or tempfile.mkdtemp(prefix="bench_hand_cpp_")
        b2.set_device("cpp_standalone", directory=standalone_dir, build_on_run=False)
    else:
        b2.set_device("runtime")
        b2.prefs.codegen.target = target
    b2.start_scope()
    b2.defaultclock.dt = network.dt * b2.second
    b2.seed(network.seed)
    (block,) = network.blocks
    p = block.params
    chem, gap = network.projections
    n = network.size
    cur = network.current
    stim = b2.TimedArray(np.c_[cur.values, np.zeros(len(cur.values))] * b2.amp, dt=cur.dt * b2.second)
    stim_col = np.full(n, len(cur.target))
    stim_col[cur.target] = np.arange(len(cur.target))
    eqs = f"""
    dv/dt = (g_L*(E_L - v) + I_chem + I_in + Igap + I_bias + stim(t, col))/C_m : volt (unless refractory)
    dI_chem/dt = -I_chem/({chem.params["tau"]!r}*second) : amp
    dI_in/dt = -I_in/({network.spike_inputs[0].params["tau"]!r}*second) : amp
    Igap : amp
    col : integer (constant)
    C_m : farad (constant)
    g_L : siemens (constant)
    E_L : volt (constant)
    v_th : volt (constant)
    v_reset : volt (constant)
    t_ref : second (constant)
    I_bias : amp (constant)
    """
    g = b2.NeuronGroup(
        n,
        eqs,
        threshold="v > v_th",
        reset="v = v_reset",
        refractory="t_ref",
        method=NEURON_METHOD,  # the same integration method as wormchip
        namespace={"stim": stim},
    )
    for key, unit in (
        ("C_m", b2.farad),
        ("g_L", b2.siemens),
        ("E_L", b2.volt),
        ("v_th", b2.volt),
        ("v_reset", b2.volt),
        ("t_ref", b2.second),
        ("I_bias", b2.amp),
    ):
        setattr(g, key, p[key] * unit)
    g.v = p["E_L"] * b2.volt
    g.col = stim_col
    s = b2.Synapses(g, g, "w : amp", on_pre="I_chem_post += w")
    s.connect(i=chem.pre, j=chem.post)
    s.w = chem.weight * b2.amp
    gj = b2.Synapses(g, g, "wg : siemens\nIgap_post = wg*(v_pre - v_post) : amp (summed)")
    gj.connect(i=np.r_[gap.pre, gap.post], j=np.r_[gap.post, gap.pre])
    gj.wg = np.r_[gap.weight, gap.weight] * b2.siemens
    inp = network.spike_inputs[0]
    idx = np.concatenate([np.full(len(t), k) for k, t in enumerate(inp.spike_times)])
    gen = b2.SpikeGeneratorGroup(len(inp.target), idx, np.concatenate(inp.spike_times) * b2.second)
    si = b2.Synapses(gen, g, "w : amp", on_pre="I_in_post += w")
    si.connect(i=np.arange(len(inp.target)), j=inp.target)
    si.w = inp.weight * b2.amp
    mon = b2.SpikeMonitor(g)
    net = b2.Network(g, s, gj, gen, si, mon)
    t0, c0 = time.perf_counter(), time.process_time()
    net.run(network.duration * b2.second)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if standalone_dir is None:
        return wall, cpu, int(mon.num_spikes)
    try:
        b2.device.build(directory=standalone_dir, compile=True, run=True)
        run = float(b2.device._last_run_time)  # std::clock: CPU time
        return run, run, int(mon.num_spikes)
    finally:
        b2.device.reinit()
        b2.device.activate()
        b2.set_device("runtime")
        if keep is None:
            shutil.rmtree(standalone_dir, ignore_errors=True)


def rerun_program(directory: str) -> float:
    """Run a built cpp_standalone program again; its run loop's CPU seconds (results/last_run_info.txt)."""
    subprocess.run(["./main"], cwd=directory, check=True, capture_output=True)
    with open(os.path.join(directory, "results", "last_run_info.txt")) as f:
        return float(f.read().split()[0])


def measure_runtime(network, target: str, pairs: int) -> dict:
    """numpy/cython: both sides built and run alternately, `pairs` timed pairs after one untimed pair (the
    first compiles or loads Brian2's cache)."""
    ours_wall, ours_cpu, hand_wall, hand_cpu = [], [], [], []
    for k in range(pairs + 1):
        for side in ("ours", "hand") if k % 2 else ("hand", "ours"):
            # Collect the last run's objects first: Brian2 names objects (and so their generated code) after
            # the living ones, so leftovers would give a new name, new code and a compile inside the timing.
            gc.collect()
            if side == "ours":
                ours = run_brian2(network, target=target)
                ours_wall.append(ours.metadata["run_s"])
                ours_cpu.append(ours.metadata["run_cpu_s"])
            else:
                wall, cpu, hand_spikes = hand_written(network, target)
                hand_wall.append(wall)
                hand_cpu.append(cpu)
    return {
        "ours": ours_wall[1:],
        "hand": hand_wall[1:],
        "ours_cpu": ours_cpu[1:],
        "hand_cpu": hand_cpu[1:],
        "ours_spikes": sum(ours.spike_counts().values()),
        "hand_spikes": hand_spikes,
    }


def measure_standalone(network, pairs: int) -> dict:
    """cpp_standalone: each side's program built once, then run alternately `pairs` times (run-loop CPU time
    as the programs report it)."""
    ours_dir, hand_dir = (
        tempfile.mkdtemp(prefix="bench_ours_cpp_"),
        tempfile.mkdtemp(prefix="bench_hand_cpp_"),
    )
    try:
        ours = run_brian2(network, target="cpp_standalone", standalone_dir=ours_dir)
        _, _, hand_spikes = hand_written(network, "cpp_standalone", keep=hand_dir)
        ours_t, hand_t = [], []
        for k in range(pairs):
            for side in ("ours", "hand") if k % 2 else ("hand", "ours"):
                (ours_t if side == "ours" else hand_t).append(
                    rerun_program(ours_dir if side == "ours" else hand_dir)
                )
    finally:
        shutil.rmtree(ours_dir, ignore_errors=True)
        shutil.rmtree(hand_dir, ignore_errors=True)
    return {
        "ours": ours_t,
        "hand": hand_t,
        "ours_cpu": ours_t,
        "hand_cpu": hand_t,
        "ours_spikes": sum(ours.spike_counts().values()),
        "hand_spikes": hand_spikes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="biological seconds (default 10)")
    parser.add_argument(
        "--targets",
        nargs="+",
        default=["cython", "cpp_standalone"],
        choices=["numpy", "cython", "cpp_standalone"],
    )
    parser.add_argument("--pairs", type=int, default=3, help="timed runs of each side, alternating")
    add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.pairs = 2.0, 2
    spec, _ = prepare("whole_worm", duration=f"{args.duration} s", dt="0.1 ms")
    spec.probes = []  # the hand-written script records spikes only
    network = build(spec)
    print(
        f"whole_worm: {network.size} neurons, {sum(p.size for p in network.projections)} synapses, "
        f"{args.duration:g} s at dt 0.1 ms"
    )
    rows = []
    for target in args.targets:
        if target == "cpp_standalone":
            m = measure_standalone(network, max(args.pairs, 3))
        else:
            m = measure_runtime(network, target, args.pairs)
        ratio = spread([a / b for a, b in zip(m["ours"], m["hand"])])
        cpu_ratio = spread([a / b for a, b in zip(m["ours_cpu"], m["hand_cpu"])])
        clock = "CPU" if target == "cpp_standalone" else "wall"
        print(f"{target} (run loop, {clock} time; min/median/max):")
        print(f"  wormchip     {seconds(m['ours'])}  spikes {m['ours_spikes']}")
        print(f"  hand-written {seconds(m['hand'])}  spikes {m['hand_spikes']}")
        print(f"  ratio wormchip/hand-written: {'/'.join(f'{r:.3f}' for r in ratio)}  (goal <= 1.05)")
        if target != "cpp_standalone":
            print(f"  ratio of CPU times:          {'/'.join(f'{r:.3f}' for r in cpu_ratio)}")
        speed = spread([args.duration / t for t in m["ours"]])
        print(f"  real-time factor (wormchip): {'/'.join(f'{r:.1f}' for r in speed)}x  (simulated s per s)")
        what = f"Brian2 {target} run loop, whole_worm {args.duration:g} s, vs hand-written Brian2"
        if target == "cpp_standalone":
            what += f" (CPU time; wormchip {speed[1]:.1f}x real time, goal >= 20x)"
        rows.append(
            Row(
                what,
                seconds(m["ours"]) + f", {m['ours_spikes']} spikes",
                seconds(m["hand"]) + f", {m['hand_spikes']} spikes",
                ratio,
                "<= 1.05" + (", >= 20x real time" if target == "cpp_standalone" else ""),
                ratio[1] <= 1.05 and (target != "cpp_standalone" or speed[1] >= 20),
            )
        )
    report(rows, args.json)


if __name__ == "__main__":
    main()
