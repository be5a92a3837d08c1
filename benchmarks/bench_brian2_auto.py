"""`run.target: auto` against the clock: does it pick the Brian2 target that finishes first, build included?

For each (circuit, duration) every target runs end to end (`run_brian2`, build and compile included; cython
after one warm-up run, so its code is in Brian2's cache as it is for a user's second run) and the fastest is
compared with auto's pick and its estimates (issue 16 goal 1). Targets estimated at more than `--skip`× the
best estimate are not run (reported as skipped).

    .venv/bin/python benchmarks/bench_brian2_auto.py [--quick] [--json rows.json]
"""

from __future__ import annotations

import argparse
import gc
import time

from common import Row, add_arguments, report

from wormchip.backends.brian2_backend import TARGETS, pick_target, run_brian2
from wormchip.circuits.build import build
from wormchip.simulate import prepare

CASES = [("klinotaxis", 1.0), ("whole_worm", 10.0), ("whole_worm", 300.0)]
QUICK_CASES = [("klinotaxis", 1.0), ("whole_worm", 10.0)]


def _network(circuit: str, duration: float):
    spec, _ = prepare(circuit, duration=f"{duration} s", dt="0.1 ms")
    spec.probes = []
    return build(spec)


def measure(circuit: str, duration: float, skip: float) -> Row:
    """One row: auto's pick and estimates vs every target's measured end-to-end wall time."""
    network, warm = (_network(circuit, d) for d in (duration, 0.05))
    run_brian2(warm, target="cython")  # compiles or loads the cache and records it (as any cython run)
    choice = pick_target(network, "auto")
    best_estimate = min(choice.estimates.values())
    measured: dict[str, float] = {}
    for target in TARGETS:
        if choice.estimates[target] > skip * best_estimate:
            continue
        gc.collect()
        t0 = time.perf_counter()
        run_brian2(network, target=target)
        measured[target] = time.perf_counter() - t0
    fastest = min(measured, key=measured.__getitem__)
    print(f"{circuit} {duration:g} s: {choice.describe()}")
    print("  measured: " + ", ".join(f"{t} {s:.3g} s" for t, s in measured.items()))
    ratio = measured[choice.target] / measured[fastest]
    return Row(
        f"run.target auto, {circuit} {duration:g} s: picked {choice.target}, fastest {fastest}",
        f"{choice.target} {measured[choice.target]:.3g} s (est. {choice.estimates[choice.target]:.3g} s)",
        ", ".join(
            f"{t} {measured[t]:.3g} s (est. {choice.estimates[t]:.3g})" if t in measured else f"{t} skipped"
            for t in TARGETS
            if t != choice.target
        ),
        (ratio, ratio, ratio),
        "picked = fastest (or within 10 %)",
        ratio <= 1.1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip", type=float, default=4.0, help="skip targets estimated above this × the best"
    )
    add_arguments(parser)
    args = parser.parse_args()
    rows = [measure(c, d, args.skip) for c, d in (QUICK_CASES if args.quick else CASES)]
    report(rows, args.json)


if __name__ == "__main__":
    main()
