"""Emulator vs Lava (fixed point) on a worm-sized random network: per-step time, speed ratio, identical spikes.

Usage: .venv/bin/python benchmarks/bench_emulator_vs_lava.py [--steps 10000] [--lava-steps 1000] [--seed 0]

Both backends run the same `--lava-steps` steps (spikes, u and v compared step by step); the emulator also runs
`--steps` steps alone. Lava is timed twice: the whole call (fork, compile, start-up, run, read-back) and the
`run()` call alone, so the ratio is reported both ways.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from wormchip.backends.emulator import run_emulator
from wormchip.mappers.fixed_point import FixedPointNetwork, WeightBlock

N_NEURONS = 302
N_SYNAPSES = 7000
N_INPUTS = 20


def worm_sized_net(seed: int, steps: int) -> FixedPointNetwork:
    """302 neurons, ~7,000 recurrent synapses (excitatory and inhibitory blocks), 20 Poisson-like inputs."""
    rng = np.random.default_rng(seed)
    n = N_NEURONS
    flat = rng.choice(n * n, size=N_SYNAPSES, replace=False)
    post, pre = np.divmod(flat, n)
    inhibitory = rng.random(N_SYNAPSES) < 0.4

    def block(sel: np.ndarray, lo: int, hi: int, exp: int) -> WeightBlock:
        w = sp.csr_matrix((rng.integers(lo, hi + 1, sel.sum()), (post[sel], pre[sel])), shape=(n, n))
        return WeightBlock(w, weight_exp=exp)

    inputs = sp.random(
        n, N_INPUTS, density=0.1, random_state=seed, data_rvs=lambda k: rng.integers(50, 256, k)
    )
    return FixedPointNetwork(
        neuron_names=[f"N{i:03d}" for i in range(n)],
        du=rng.integers(200, 2000, n),
        dv=rng.integers(100, 1000, n),
        vth=rng.integers(400, 1600, n),
        bias_mant=rng.integers(-100, 60, n),
        bias_exp=3,
        weights=(block(~inhibitory, 1, 255, -2), block(inhibitory, -255, -1, 1)),
        input_spikes=rng.random((steps, N_INPUTS)) < 0.05,
        input_weights=(WeightBlock(inputs.astype(np.int64), weight_exp=0),),
        dt=1e-3,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="emulator-only run length")
    parser.add_argument("--lava-steps", type=int, default=1_000, help="steps both backends run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from wormchip.backends.lava_runner import run_lava

    net = worm_sized_net(args.seed, max(args.steps, args.lava_steps))
    print(f"network: {net.n_neurons} neurons, {net.n_synapses} synapses (incl. {N_INPUTS} inputs' fan-out)")

    t0 = time.perf_counter()
    emu_long = run_emulator(net, args.steps, record=())
    emu_long_s = time.perf_counter() - t0
    spikes = sum(emu_long.spike_counts().values())
    print(
        f"emulator  {args.steps:>6} steps: {emu_long_s:7.3f} s = {1e6 * emu_long_s / args.steps:8.1f} µs/step "
        f"({spikes} spikes, {spikes / (args.steps * net.n_neurons):.3f} per neuron-step), no traces"
    )

    k = args.lava_steps
    t0 = time.perf_counter()
    emu = run_emulator(net, k)
    emu_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lava = run_lava(net, k, timeout_s=3600)
    lava_s = time.perf_counter() - t0
    lava_run_s = lava.metadata["run_time_s"]
    print(f"emulator  {k:>6} steps: {emu_s:7.3f} s = {1e6 * emu_s / k:8.1f} µs/step (with u, v traces)")
    print(
        f"lava      {k:>6} steps: {lava_s:7.3f} s = {1e6 * lava_s / k:8.1f} µs/step (whole call, with u, v)"
    )
    print(f"lava run() alone      : {lava_run_s:7.3f} s = {1e6 * lava_run_s / k:8.1f} µs/step")
    print(
        f"speed ratio lava/emulator, same {k} steps: {lava_s / emu_s:.0f}x (whole call), {lava_run_s / emu_s:.0f}x (run)"
    )

    same_spikes = all(np.array_equal(emu.spike_times[n], lava.spike_times[n]) for n in net.neuron_names)
    same_uv = all(np.array_equal(emu.traces[x].values, lava.traces[x].values) for x in ("u", "v"))
    n_spikes = sum(emu.spike_counts().values())
    print(f"spikes identical: {same_spikes} ({n_spikes} spikes); u and v identical at every step: {same_uv}")
    if not (same_spikes and same_uv):
        raise SystemExit("MISMATCH between emulator and Lava")


if __name__ == "__main__":
    main()
