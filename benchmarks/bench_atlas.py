"""`atlas-compare` per shuffle on whole_worm: the compiled perturbation loop vs the NumPy loop, same results.

Each measurement is `atlas_compare(shuffles=N)` (175 stimulated neurons batched, 0.3 s warm-up + 0.2 s
window at dt 0.1 ms), timed per shuffle (shuffle + warm-up + batch + statistics) as `timing["per_shuffle_s"]`
reports it; engine "auto" (numba) and "numpy" alternate, and their results must be identical. Both use the
compiled swap loops, so the baseline is ~0.05–0.1 s per shuffle faster than the code before issue 16.
Goal (issue 16): ≤ 0.4 s per shuffle.

    .venv/bin/python benchmarks/bench_atlas.py [--shuffles 10] [--pairs 5] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json

from common import Row, add_arguments, interleaved, report, seconds, spread

from wormchip.analysis.atlas import atlas_compare
from wormchip.circuits.build import build
from wormchip.circuits.loader import load_spec

GOAL_S = 0.4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shuffles", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=5)
    add_arguments(parser)
    args = parser.parse_args()
    shuffles, pairs = (3, 3) if args.quick else (args.shuffles, args.pairs)
    network = build(load_spec("whole_worm"))
    results: dict[str, list] = {"auto": [], "numpy": []}

    def run(engine: str) -> None:
        results[engine].append(atlas_compare(network=network, shuffles=shuffles, engine=engine))

    run("auto")  # compile (or load from the cache) before timing
    results["auto"].clear()
    interleaved(lambda: run("auto"), lambda: run("numpy"), pairs)
    ours = [r.timing["per_shuffle_s"] for r in results["auto"]]
    base = [r.timing["per_shuffle_s"] for r in results["numpy"]]
    same = all(
        json.dumps({**a.to_dict(), "timing": None}) == json.dumps({**b.to_dict(), "timing": None})
        for a, b in zip(results["auto"], results["numpy"])
    )
    print(f"whole_worm atlas-compare, {shuffles} shuffles x {pairs} pairs; results identical: {same}")
    if not same:
        raise SystemExit("MISMATCH between the numba and NumPy perturbation loops")
    ratio = spread([b / a for a, b in zip(ours, base)])
    report(
        [
            Row(
                "atlas-compare s/shuffle, whole_worm (baseline: NumPy loop)",
                seconds(ours),
                seconds(base),
                ratio,
                f"<= {GOAL_S} s/shuffle, same bits",
                spread(ours)[1] <= GOAL_S,
            )
        ],
        args.json,
    )


if __name__ == "__main__":
    main()
