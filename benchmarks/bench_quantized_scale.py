"""`pipeline.quantized()` (lower + calibration + quantize) at 1k … 100k neurons with 50 synapses per neuron.

Network: one population of `lif` neurons (I_bias 0.2 nA, so they fire), a `random:` projection at p = 50/N
(exp_current, ±0.05 nA), 300 ms at dt 0.1 ms (3,000 steps for the calibration's float run). Each size runs in
its own subprocess (the build is timed apart), reporting `lower`, `calibrated_headroom` (the float run,
`simulate_lowered`), `quantize`, their sum and the process's max RSS. Goal (issue 16): ≤ 3 s at 100k neurons /
5M synapses.

    .venv/bin/python benchmarks/bench_quantized_scale.py [--sizes 1000 10000 100000] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from common import Row, add_arguments, report, seconds

GOAL_S = 3.0
GOAL_N = 100_000


def spec(n: int) -> dict:
    """The benchmark network as a spec dict."""
    return {
        "name": f"random_{n}",
        "populations": [{"name": "a", "size": n, "model": "lif", "params": {"I_bias": "0.2 nA"}}],
        "connections": [
            {
                "name": "r",
                "source": ["a"],
                "target": ["a"],
                "random": {"p": 50 / n},
                "weight_scale": "0.05 nA",
            }
        ],
        "run": {"dt": "0.1 ms", "duration": "300 ms"},
    }


def run_one(n: int) -> dict:
    """Build, then time each pass of `pipeline.quantized()` as it runs them."""
    from wormchip.circuits.build import build
    from wormchip.circuits.loader import from_dict
    from wormchip.mappers.lower import lower
    from wormchip.mappers.quantize import calibrated_headroom, quantize

    t0 = time.perf_counter()
    network = build(from_dict(spec(n)))
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    lowered = lower(network)
    t_lower = time.perf_counter() - t0
    t0 = time.perf_counter()
    headroom = calibrated_headroom(lowered)
    t_cal = time.perf_counter() - t0
    t0 = time.perf_counter()
    quantize(lowered, v_headroom=headroom)
    t_quant = time.perf_counter() - t0
    return {
        "neurons": n,
        "synapses": int(network.projections[0].size),
        "build_s": t_build,
        "lower_s": t_lower,
        "calibrate_s": t_cal,
        "quantize_s": t_quant,
        "quantized_s": t_lower + t_cal + t_quant,
        "max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (min/median/max)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    add_arguments(parser)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(run_one(args.worker)))
        return
    sizes, repeat = ([1_000, 10_000, 100_000], 1) if args.quick else (args.sizes, args.repeat)
    print(
        f"{'neurons':>8} {'synapses':>9} {'build s':>8} {'lower s':>8} {'calibrate s':>11} {'quantize s':>10} {'quantized s':>11} {'RSS GB':>7}"
    )
    rows = []
    for n in sizes:
        runs = []
        for _ in range(repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", str(n)], capture_output=True, text=True
            )
            if out.returncode:
                raise SystemExit(f"{n} neurons failed: {out.stderr.strip()[-500:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            runs.append(r)
            print(
                f"{n:>8} {r['synapses']:>9} {r['build_s']:>8.2f} {r['lower_s']:>8.2f} {r['calibrate_s']:>11.2f} "
                f"{r['quantize_s']:>10.2f} {r['quantized_s']:>11.2f} {r['max_rss_gb']:>7.2f}",
                flush=True,
            )
        total = [r["quantized_s"] for r in runs]
        goal = n == GOAL_N
        rows.append(
            Row(
                f"pipeline.quantized(), {n:,} neurons / {runs[0]['synapses']:,} synapses",
                seconds(total),
                "—",
                None,
                f"<= {GOAL_S:g} s" if goal else "linear in synapses",
                (sorted(total)[len(total) // 2] <= GOAL_S) if goal else None,
            )
        )
    report(rows, args.json)


if __name__ == "__main__":
    main()
