"""Scale benchmark of the partition + place passes on synthetic worm-like networks (10k … 1M neurons).

Generator (`worm_like_graph`, vectorized numpy): neurons sit in modules of lognormal size (median 120, σ 0.5);
each neuron's out-degree is lognormal (σ = 1, heavy-tailed: a few hubs with thousands of targets) scaled to a
mean of ~100 synapses. A synapse's target is drawn in the neuron's own module with probability 0.85, in a
nearby module (ring distance ±1, ±2, … with geometric odds 0.6, 0.24, …) with 0.13, and anywhere with 0.02. Neuron indices
are then randomly permuted: like a connectome listed by name, the index order says nothing about the
modules, so partitioning matters (`--ordered` keeps the module order, which favours the contiguous split).

Each size and index order runs in its own subprocess; it reports the wall time of the compiler's default
partition (`method="metis"`: METIS, repair, dissolve, merge) + place (uninstrumented), its CPU time (less
sensitive than wall time to other jobs on a shared machine; the 1-minute load average is printed too), the
process's max RSS (generator
included: an upper bound on the passes' memory), with `--trace-memory` also the passes' own peak (tracemalloc,
numpy included; it slows numpy's allocations, so the time is then not comparable), the inter-core
traffic against the nengo-loihi-style contiguous split measured (and timed) in the same run (goal ≤ 0.5×), the
core count against the resource lower bound (goal ≤ 1.05×; also against the legacy bound, which priced
each source as one axon and is not a valid bound), and which of the two `method="best"` would keep.

    .venv/bin/python benchmarks/bench_compile_scale.py                 # 10k and 100k, shuffled and ordered
    .venv/bin/python benchmarks/bench_compile_scale.py --sizes 1000000 --orders shuffled
    .venv/bin/python benchmarks/bench_compile_scale.py --quick --json rows.json  # 100k shuffled only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp
from common import Row, add_arguments, report


def worm_like_graph(
    n: int,
    mean_degree: float = 100.0,
    module_median: int = 120,
    p_local: float = 0.85,
    p_near: float = 0.13,
    seed: int = 0,
    ordered: bool = False,
) -> sp.csr_matrix:
    """Post × pre int32 synapse counts of a modular, heavy-tailed random network (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sizes = np.maximum(rng.lognormal(np.log(module_median), 0.5, size=n // 20 + 10).astype(np.int64), 20)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= sizes.sum() - n
    n_mod = sizes.size
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    module_of = np.repeat(np.arange(n_mod, dtype=np.int32), sizes)
    deg = rng.lognormal(0.0, 1.0, n)
    deg = np.clip(np.rint(deg * mean_degree / deg.mean()), 1, min(n - 1, 50 * mean_degree)).astype(np.int64)
    pre = np.repeat(np.arange(n, dtype=np.int32), deg)
    mod = module_of[pre]
    del module_of
    kind = rng.random(pre.size, dtype=np.float32)
    offset = rng.geometric(0.6, pre.size).astype(np.int32) * rng.choice(np.array([-1, 1], np.int32), pre.size)
    near = (kind >= p_local) & (kind < p_local + p_near)
    mod[near] = (mod[near] + offset[near]) % n_mod
    del offset, near
    far = kind >= p_local + p_near
    mod[far] = rng.integers(0, n_mod, int(far.sum()), dtype=np.int32)
    del kind, far
    post = (starts[mod] + (rng.random(pre.size, dtype=np.float32) * sizes[mod]).astype(np.int64)).astype(
        np.int32
    )
    del mod
    np.minimum(post, n - 1, out=post)
    self_loop = post == pre
    post[self_loop] = (post[self_loop] + 1) % n
    if not ordered:
        perm = rng.permutation(n).astype(np.int32)
        pre, post = perm[pre], perm[post]
    g = sp.coo_matrix((np.ones(pre.size, np.int32), (post, pre)), shape=(n, n)).tocsr()
    g.sum_duplicates()
    return g


def run_one(n: int, ordered: bool, seed: int, trace_memory: bool = False) -> dict:
    """Generate, then time the compiler's default partition (METIS + repair + merge) + place; time the
    contiguous split on its own; "best" is the better of the two (fewer cores, then less traffic), as
    `partition(method="best")` would return without running both again."""
    from wormchip.mappers.hardware import loihi1
    from wormchip.mappers.partition import partition
    from wormchip.mappers.place import place, placement_cost

    t0 = time.perf_counter()
    g = worm_like_graph(n, seed=seed, ordered=ordered)
    t_gen = time.perf_counter() - t0
    if trace_memory:
        tracemalloc.start()
    t0, cpu0 = time.perf_counter(), time.process_time()
    metis = partition(g, loihi1, method="metis", seed=seed)
    t_part = time.perf_counter() - t0
    t0 = time.perf_counter()
    plc = place(metis, g, loihi1)
    t_place = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak = None
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    t0 = time.perf_counter()
    base = partition(g, loihi1, method="contiguous")
    t_base = time.perf_counter() - t0
    part = min((metis, base), key=lambda p: (p.n_cores, p.traffic))

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3) if b else 0.0

    return {
        "neurons": n,
        "synapses": int(g.sum()),
        "ordered": ordered,
        "generate_s": round(t_gen, 2),
        "partition_s": round(t_part, 2),
        "place_s": round(t_place, 2),
        "total_s": round(t_part + t_place, 2),
        "cpu_s": round(cpu, 2),
        "load_1min": round(os.getloadavg()[0], 1),
        "peak_traced_gb": None if peak is None else round(peak / 1e9, 2),
        "max_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "chosen": part.method,
        "cores": part.n_cores,
        "lower_bound": part.lower_bound,
        "cores_ratio": ratio(part.n_cores, part.lower_bound),
        "legacy_bound": part.legacy_bound,
        "cores_ratio_legacy": ratio(part.n_cores, part.legacy_bound),
        "traffic": part.traffic,
        "traffic_ratio": ratio(part.traffic, base.traffic),
        "metis_cores": metis.n_cores,
        "metis_traffic_ratio": ratio(metis.traffic, base.traffic),
        "contiguous_cores": base.n_cores,
        "contiguous_traffic": base.traffic,
        "contiguous_s": round(t_base, 2),
        "chips": plc.n_chips,
        "hop_cost": placement_cost(plc, part, g),
        "all_cores_fit": bool((part.usage.load(loihi1) <= 1).all()),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument(
        "--orders",
        nargs="+",
        choices=("shuffled", "ordered"),
        default=["shuffled", "ordered"],
        help="neuron index order: shuffled, or module order kept (favours the contiguous split)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ordered", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--trace-memory", action="store_true", help="also report the passes' tracemalloc peak")
    add_arguments(ap)
    args = ap.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(run_one(args.worker, args.ordered, args.seed, args.trace_memory)))
        return
    if args.quick:
        args.sizes, args.orders = [100_000], ["shuffled"]
    rows = []
    print(
        f"{'neurons':>9} {'order':>8} {'synapses':>11} {'part+place s':>12} {'peak GB':>8} {'rss GB':>7} "
        f"{'cores':>6} {'LB':>6} {'cores/LB':>8} {'old LB':>6} {'/old':>6} {'chosen':>10} {'traffic/contig':>14} {'METIS/contig':>12} "
        f"{'contig cores':>12} {'contig s':>8} {'fit':>4}"
    )
    for n in args.sizes:
        for order in args.orders:
            cmd = [sys.executable, __file__, "--worker", str(n), "--seed", str(args.seed)]
            if order == "ordered":
                cmd.append("--ordered")
            if args.trace_memory:
                cmd.append("--trace-memory")
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                print(f"{n:>9} {order:>8} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{r['neurons']:>9} {order:>8} {r['synapses']:>11} {r['total_s']:>12} {str(r['peak_traced_gb'] or '-'):>8} "
                f"{r['max_rss_gb']:>7} {r['cores']:>6} {r['lower_bound']:>6} {r['cores_ratio']:>8} "
                f"{r['legacy_bound']:>6} {r['cores_ratio_legacy']:>6} "
                f"{r['chosen']:>10} {r['traffic_ratio']:>14} {r['metis_traffic_ratio']:>12} "
                f"{r['contiguous_cores']:>12} {r['contiguous_s']:>8} {str(r['all_cores_fit']):>4}"
            )
            print("  " + json.dumps(r), flush=True)
            rows.append(
                Row(
                    f"partition + place, {n:,} neurons ({order}), {r['synapses']:,} synapses",
                    f"{r['total_s']} s, {r['max_rss_gb']} GB, {r['cores']} cores",
                    f"contiguous {r['contiguous_s']} s, {r['contiguous_cores']} cores",
                    (r["traffic_ratio"],) * 3,
                    "traffic <= 0.5x; 1M: <= 45 s, <= 8 GB" if n >= 1_000_000 else "traffic <= 0.5x",
                    r["traffic_ratio"] <= 0.5
                    and (n < 1_000_000 or (r["total_s"] <= 45 and r["max_rss_gb"] <= 8)),
                )
            )
    report(rows, args.json)


if __name__ == "__main__":
    main()
