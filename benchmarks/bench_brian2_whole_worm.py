"""whole_worm in Brian2: wormchip's generated network vs a hand-written Brian2 script of the same network.

Same target (cython by default), same equations, same connectome weights and inputs, measured in the same
process. Each side runs once to fill the compile cache, then `--pairs` times alternately (run loop only,
network construction excluded). Prints the wall-time ratio (issue 16 goal ≤ 1.05) and the real-time factor
(simulated s per wall s).

    .venv/bin/python benchmarks/bench_brian2_whole_worm.py [--duration 10] [--target cython] [--pairs 3]
    .venv/bin/python benchmarks/bench_brian2_whole_worm.py --quick --json rows.json  # 2 s, 2 pairs
"""

from __future__ import annotations

import argparse
import time

import brian2 as b2
import numpy as np
from common import Row, add_arguments, report, spread

from wormchip.backends.brian2_backend import NEURON_METHOD, run_brian2
from wormchip.circuits.build import build
from wormchip.simulate import prepare


def hand_written(network, target: str) -> tuple[float, int]:
    """The same LIF + exp-current + gap network written directly in Brian2; returns (wall s, spikes)."""
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
    t0 = time.perf_counter()
    net.run(network.duration * b2.second)
    return time.perf_counter() - t0, int(mon.num_spikes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="biological seconds (default 10)")
    parser.add_argument("--target", default="cython", choices=["numpy", "cython"])
    parser.add_argument("--pairs", type=int, default=3, help="timed runs of each side, alternating")
    add_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.duration, args.pairs = 2.0, 2
    spec, _ = prepare("whole_worm", duration=f"{args.duration} s", dt="0.1 ms")
    spec.probes = []  # the hand-written script records spikes only
    network = build(spec)
    ours_wall, hand_wall = [], []
    for k in range(args.pairs + 1):  # the first pair compiles (or loads the cache) and is not timed
        for side in ("ours", "hand") if k % 2 else ("hand", "ours"):
            if side == "ours":
                ours = run_brian2(network, target=args.target)
                ours_wall.append(ours.metadata["wall_s"] - ours.metadata["build_s"])
            else:
                wall, hand_spikes = hand_written(network, args.target)
                hand_wall.append(wall)
    ours_wall, hand_wall = ours_wall[1:], hand_wall[1:]
    ours_spikes = sum(ours.spike_counts().values())
    ratio = spread([a / b for a, b in zip(ours_wall, hand_wall)])
    print(
        f"whole_worm: {network.size} neurons, {sum(p.size for p in network.projections)} synapses, "
        f"{args.duration:g} s at dt 0.1 ms, target {args.target}"
    )
    print(f"  wormchip     run {min(ours_wall):7.2f} s (min)  spikes {ours_spikes}")
    print(f"  hand-written run {min(hand_wall):7.2f} s (min)  spikes {hand_spikes}")
    print(
        f"  ratio wormchip/hand-written min/median/max: {'/'.join(f'{r:.3f}' for r in ratio)}  (goal <= 1.05)"
    )
    print(f"  real-time factor (wormchip): {args.duration / min(ours_wall):.2f}x  (simulated s per wall s)")
    report(
        [
            Row(
                f"Brian2 {args.target} run loop, whole_worm {args.duration:g} s, vs hand-written Brian2",
                "/".join(f"{v:.3g}" for v in spread(ours_wall)) + f" s, {ours_spikes} spikes",
                "/".join(f"{v:.3g}" for v in spread(hand_wall)) + f" s, {hand_spikes} spikes",
                ratio,
                "<= 1.05",
                ratio[1] <= 1.05,
            )
        ],
        args.json,
    )


if __name__ == "__main__":
    main()
