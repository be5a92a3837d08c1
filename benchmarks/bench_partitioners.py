"""Compare k-way partitioners inside the partition pass: METIS (pymetis) against KaHIP, Mt-KaHyPar and KaHyPar.

`wormchip.mappers.partition.partition(method="metis")` runs a k-way partitioner at k = the resource lower bound,
re-aims k by the measured mean load while a core overflows (up to 4 times; once above 2 M synapses), then
`_repair` (METIS bisection of over-full cores) and `_merge_cores`. This script swaps only the k-way step: each
worker replaces `partition._metis_parts` by a wrapper that sends the k-way calls (no `tpwgts`) to the chosen
partitioner and the repair's bisections (with `tpwgts`) to METIS as before. So every partitioner gets the same
k, the same re-aim rule, the same vertex weights, the same repair and merge, and is scored by the same code.

Partitioners (each skipped if its package is not installed):

- `metis`: pymetis k-way on the symmetrized graph; edge j→i weighs rate_j × synapses / fan-out_j (the pass as is).
- `kahip-fast`, `kahip-eco`, `kahip-fastsocial`: KaHIP `kaffpa` on the same weighted graph, imbalance 1 %.
- `mtkahypar-default`, `mtkahypar-quality`, `mtkahypar-large_k`: Mt-KaHyPar presets (2 threads) on the
  hypergraph with one hyperedge per source neuron j, {j} ∪ targets(j), weighted by rate_j, objective km1
  (connectivity − 1: exactly the pass's traffic objective), imbalance 1 %.
- `kahypar`: KaHyPar (sequential) with the same hypergraph, km1. Its wheel ships no configuration file: pass
  one with `--kahypar-ini` (e.g. `km1_kKaHyPar_sea20.ini` from KaHyPar's `config/` folder), else it is skipped.

Graph: `worm_like_graph` from bench_compile_scale.py (shuffled indices), uniform rates, profile loihi1. Each
(size, partitioner) runs in its own subprocess with a wall-clock limit (`--time-limit`, default 300 s); the
contiguous split runs first as the traffic reference. Reported per partitioner: wall time of the whole
`partition` call, the time inside the k-way partitioner (hypergraph construction included), the k values it
was called with, cores and cores / lower bound, traffic and traffic / contiguous, the raw k-way result's
traffic and max core load before repair, and the total synaptic memory over the lower bound's memory.

    .venv/bin/python benchmarks/bench_partitioners.py                       # 10k and 100k, all installed
    .venv/bin/python benchmarks/bench_partitioners.py --sizes 10000 --partitioners metis mtkahypar-default
    .venv/bin/python benchmarks/bench_partitioners.py --kahypar-ini /path/to/km1_kKaHyPar_sea20.ini
    .venv/bin/python benchmarks/bench_partitioners.py --quick --json rows.json  # 10k, METIS only
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from common import Row, add_arguments, report

HERE = Path(__file__).resolve().parent
EPSILON = 0.01  # allowed imbalance, as METIS's ufactor 10 in the pass
MT_THREADS = 2
PARTITIONERS = (
    "metis",
    "kahip-fast",
    "kahip-eco",
    "kahip-fastsocial",
    "mtkahypar-default",
    "mtkahypar-quality",
    "mtkahypar-large_k",
    "kahypar",
)
PartsFn = Callable[[sp.csr_matrix, int, np.ndarray, np.ndarray, int], np.ndarray]


def worm_like_graph(n: int, seed: int) -> sp.csr_matrix:
    """The scale benchmark's synthetic worm-like network (shuffled indices); benchmarks/ is not a package."""
    spec = importlib.util.spec_from_file_location("bench_compile_scale", HERE / "bench_compile_scale.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.worm_like_graph(n, seed=seed)


def available(name: str, kahypar_ini: str | None) -> bool:
    """Whether the package behind a partitioner imports (and KaHyPar has a configuration file)."""
    module = {"metis": "pymetis", "kahypar": "kahypar"}.get(name, name.split("-")[0])
    if name == "kahypar" and not kahypar_ini:
        return False
    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------------------------------ inputs
def symmetric_weights(graph: sp.csr_matrix, rates: np.ndarray) -> sp.csr_matrix:
    """The weighted undirected graph METIS sees in `_metis_parts` (int edge weights ≥ 1, mean ~16)."""
    from wormchip.mappers.partition import symmetric_edge_weights

    n = graph.shape[0]
    fan_out = np.maximum(np.bincount(graph.indices, weights=graph.data, minlength=n), 1)
    sym, ew = symmetric_edge_weights(graph, rates, fan_out)
    sym.data = ew.astype(sym.data.dtype)
    sym.sort_indices()
    return sym


def hyperedges(graph: sp.csr_matrix, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One hyperedge per source neuron with a target: {j} ∪ targets(j), weight ~ rate_j (int ≥ 1).

    Returns (sources, CSR-style index pointer, pins); km1 of this hypergraph is the pass's traffic.
    """
    csc = graph.tocsc()
    csc.setdiag(0)
    csc.eliminate_zeros()
    csc.sort_indices()
    deg = np.diff(csc.indptr)
    src = np.flatnonzero(deg > 0)
    ptr = np.r_[0, np.cumsum(deg[src] + 1)]
    pins = np.empty(int(ptr[-1]), np.int64)
    pins[ptr[:-1]] = src  # the source first, then its targets
    mask = np.ones(pins.size, bool)
    mask[ptr[:-1]] = False
    pins[mask] = csc.indices  # columns without targets contribute nothing, so the order matches
    return src, ptr, pins


def edge_weights(rates: np.ndarray) -> np.ndarray:
    positive = rates[rates > 0]
    scale = 1.0 / positive.mean() if positive.size else 1.0
    return np.maximum(np.rint(rates * scale), 1).astype(np.int64)


# ------------------------------------------------------------------------------------- partitioners
def kahip_parts(mode_name: str) -> PartsFn:
    import kahip

    mode = getattr(kahip, mode_name.upper())

    def run(g: sp.csr_matrix, k: int, rates: np.ndarray, vweights: np.ndarray, seed: int) -> np.ndarray:
        sym = symmetric_weights(g, rates)
        _, blocks = kahip.kaffpa(
            vweights.astype(np.int64).tolist(),
            sym.indptr.astype(np.int64).tolist(),
            sym.data.astype(np.int64).tolist(),
            sym.indices.astype(np.int64).tolist(),
            k,
            EPSILON,
            True,
            seed,
            mode,
        )
        return np.asarray(blocks, np.int64)

    return run


def mtkahypar_parts(preset_name: str) -> PartsFn:
    import mtkahypar

    mt = mtkahypar.initialize(MT_THREADS, False)  # once per process
    preset = getattr(mtkahypar.PresetType, preset_name.upper())

    def run(g: sp.csr_matrix, k: int, rates: np.ndarray, vweights: np.ndarray, seed: int) -> np.ndarray:
        mtkahypar.set_seed(seed)
        ctx = mt.context_from_preset(preset)
        ctx.set_partitioning_parameters(k, EPSILON, mtkahypar.Objective.KM1)
        ctx.logging = False
        src, ptr, pins = hyperedges(g, rates)
        flat = pins.tolist()
        edges = [flat[a:b] for a, b in zip(ptr[:-1].tolist(), ptr[1:].tolist())]
        hg = mt.create_hypergraph(
            ctx,
            g.shape[0],
            len(edges),
            edges,
            vweights.astype(np.int64).tolist(),
            edge_weights(rates[src]).tolist(),
        )
        return np.asarray(hg.partition(ctx).get_partition(), np.int64)

    return run


def kahypar_parts(ini: str) -> PartsFn:
    import kahypar

    def run(g: sp.csr_matrix, k: int, rates: np.ndarray, vweights: np.ndarray, seed: int) -> np.ndarray:
        src, ptr, pins = hyperedges(g, rates)
        hg = kahypar.Hypergraph(
            g.shape[0],
            src.size,
            ptr.tolist(),
            pins.tolist(),
            k,
            edge_weights(rates[src]).tolist(),
            vweights.astype(np.int64).tolist(),
        )
        ctx = kahypar.Context()
        ctx.loadINIconfiguration(ini)
        ctx.setK(k)
        ctx.setEpsilon(EPSILON)
        ctx.setSeed(seed)
        ctx.suppressOutput(True)
        kahypar.partition(hg, ctx)
        return np.fromiter((hg.blockID(i) for i in range(g.shape[0])), np.int64, g.shape[0])

    return run


def parts_fn(name: str, kahypar_ini: str | None) -> PartsFn | None:
    """The k-way partitioner for `name`; None for METIS (the pass's own `_metis_parts` stays)."""
    family, _, variant = name.partition("-")
    if family == "metis":
        return None
    if family == "kahip":
        return kahip_parts(variant)
    if family == "mtkahypar":
        return mtkahypar_parts(variant)
    if family == "kahypar":
        assert kahypar_ini
        return kahypar_parts(kahypar_ini)
    raise ValueError(name)


# ------------------------------------------------------------------------------------------- worker
def run_one(n: int, name: str, seed: int, kahypar_ini: str | None) -> dict:
    """Partition the n-neuron graph with `name` as the k-way step of `partition(method="metis")`."""
    from wormchip.mappers import partition as pm
    from wormchip.mappers.hardware import loihi1

    g = worm_like_graph(n, seed)
    per_src = np.asarray(g.sum(axis=0)).ravel()
    bound_memory = float(pm.synapse_memory_bits(per_src, loihi1).sum())
    if name == "contiguous":
        t0 = time.perf_counter()
        part = pm.partition(g, loihi1, method="contiguous")
        wall = time.perf_counter() - t0
        calls: list[dict] = []
    else:
        inner = parts_fn(name, kahypar_ini)
        original = pm._metis_parts
        calls = []
        last: dict[str, np.ndarray] = {}

        def wrapper(
            graph: sp.csr_matrix,
            n_parts: int,
            rates: np.ndarray,
            vweights: np.ndarray,
            seed: int,
            tpwgts: list[float] | None = None,
            ufactor: int = pm.METIS_UFACTOR,
            max_edges: int | None = None,
        ) -> np.ndarray:
            if tpwgts is not None:  # the repair's bisections stay METIS
                return original(graph, n_parts, rates, vweights, seed, tpwgts, ufactor)
            t = time.perf_counter()
            if inner is None or n_parts <= 1:
                parts = original(graph, n_parts, rates, vweights, seed, tpwgts, ufactor, max_edges)
            else:
                parts = inner(graph, n_parts, rates, vweights, seed)
            calls.append({"k": n_parts, "s": time.perf_counter() - t})
            last["parts"] = parts
            return parts

        pm._metis_parts = wrapper
        try:
            t0 = time.perf_counter()
            part = pm.partition(g, loihi1, method="metis", seed=seed)
            wall = time.perf_counter() - t0
        finally:
            pm._metis_parts = original
    raw: dict[str, float | int] = {}
    if calls:
        parts = np.unique(last["parts"], return_inverse=True)[1]
        k = int(parts.max()) + 1
        raw = {
            "raw_parts": k,
            "raw_traffic": pm.inter_core_traffic(g, parts),
            "raw_max_load": round(float(pm.core_usage(g, parts, k, loihi1).load(loihi1).max()), 3),
        }
    return {
        "neurons": n,
        "synapses": int(g.sum()),
        "partitioner": name,
        "wall_s": round(wall, 2),
        "kway_s": round(sum(c["s"] for c in calls), 2),
        "k": [c["k"] for c in calls],
        "cores": part.n_cores,
        "lower_bound": part.lower_bound,
        "cores_ratio": round(part.n_cores / part.lower_bound, 3),
        "traffic": part.traffic,
        "memory_ratio": round(float(part.usage.memory_bits.sum()) / bound_memory, 4),
        "all_cores_fit": bool((part.usage.load(loihi1) <= 1).all()),
        **raw,
    }


# ------------------------------------------------------------------------------------------- driver
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--partitioners", nargs="+", choices=PARTITIONERS, default=list(PARTITIONERS))
    ap.add_argument("--kahypar-ini", help="KaHyPar configuration file (km1); without it KaHyPar is skipped")
    ap.add_argument("--time-limit", type=float, default=300.0, help="seconds per (size, partitioner) run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", nargs=2, metavar=("N", "PARTITIONER"), help=argparse.SUPPRESS)
    add_arguments(ap)
    args = ap.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(run_one(int(args.worker[0]), args.worker[1], args.seed, args.kahypar_ini)))
        return
    if args.quick:
        args.sizes, args.partitioners = [10_000], ["metis"]
    rows = []
    print(
        f"{'neurons':>8} {'partitioner':>18} {'wall s':>7} {'k-way s':>7} {'k':>11} {'cores':>6} {'LB':>5} "
        f"{'cores/LB':>8} {'traffic':>10} {'/contig':>7} {'raw traffic':>11} {'raw load':>8} {'mem/LB':>7} {'fit':>5}"
    )
    for n in args.sizes:
        base_traffic = None
        for name in ["contiguous", *args.partitioners]:
            if name != "contiguous" and not available(name, args.kahypar_ini):
                print(
                    f"{n:>8} {name:>18} skipped: not installed"
                    + (" or no --kahypar-ini" if name == "kahypar" else "")
                )
                continue
            cmd = [sys.executable, __file__, "--worker", str(n), name, "--seed", str(args.seed)]
            if args.kahypar_ini:
                cmd += ["--kahypar-ini", args.kahypar_ini]
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.time_limit)
            except subprocess.TimeoutExpired:
                print(f"{n:>8} {name:>18} timed out after {args.time_limit:.0f} s", flush=True)
                continue
            if out.returncode:
                print(f"{n:>8} {name:>18} failed: {out.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if name == "contiguous":
                base_traffic = r["traffic"]
            rel = round(r["traffic"] / base_traffic, 3) if base_traffic else float("nan")
            ks = ",".join(map(str, r["k"])) or "-"
            print(
                f"{n:>8} {name:>18} {r['wall_s']:>7} {r['kway_s']:>7} {ks:>11} {r['cores']:>6} "
                f"{r['lower_bound']:>5} {r['cores_ratio']:>8} {r['traffic']:>10.0f} {rel:>7} "
                f"{r.get('raw_traffic', float('nan')):>11.0f} {r.get('raw_max_load', '-'):>8} "
                f"{r['memory_ratio']:>7} {str(r['all_cores_fit']):>5}"
            )
            print("  " + json.dumps({**r, "traffic_ratio": rel}), flush=True)
            if name != "contiguous":
                rows.append(
                    Row(
                        f"partition {name}, {n:,} worm-like neurons: traffic vs contiguous; cores/LB {r['cores_ratio']}",
                        f"{r['wall_s']} s, {r['cores']} cores",
                        f"contiguous, traffic {base_traffic:.0f}" if base_traffic else "—",
                        (rel, rel, rel),
                        "traffic <= 0.5x, cores <= 1.05x LB",
                        rel <= 0.5 and r["cores_ratio"] <= 1.05,
                    )
                )
    report(rows, args.json)


if __name__ == "__main__":
    main()
