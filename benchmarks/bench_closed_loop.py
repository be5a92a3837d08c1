"""Closed-loop speed: the klinotaxis world on the emulator vs real time, Brian2's closed loop vs the same
circuit's open-loop run, and Brian2's two ways of interleaving with a world (network operation vs chunks).

Usage: .venv/bin/python benchmarks/bench_closed_loop.py [--quick] [--pairs 3] [--json PATH]

- Emulator: `run_episode("klinotaxis", on="emulator")` for 60 s of worm time (everything: spec, lowering,
  quantization with the sensor range, calibration, 1,200 control periods, world), warm numba cache; the
  ratio is worm time / wall time (goal ≥ 100× real time).
- Brian2: the same circuit in the same world (operation mode, the default) against `run_brian2` of the open
  loop spec (its own gradient stimulus) for the same simulated time on the same code-generation target (the
  runtime target the closed loop picks; cpp_standalone, which `auto` may pick for a long open-loop run, cannot
  call Python during a run), interleaved; goal ≤ 2×.
- Brian2 modes: one `Network.run` per control period ("chunks") against the network operation, interleaved.
"""

from __future__ import annotations

import argparse
import warnings

from common import Row, add_arguments, interleaved, report, seconds, spread, timed

from wormchip.backends.brian2_backend import RUNTIME_TARGETS, choose_target, run_brian2
from wormchip.closed_loop.episode import run_episode
from wormchip.pipeline import build_circuit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--pairs", type=int, default=3, help="interleaved repetitions")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    worm_s = 60.0
    brian2_s = 10.0 if args.quick else 60.0
    modes_s = 2.0 if args.quick else 10.0
    rows = []

    run_episode("klinotaxis", on="emulator", duration="1 s")  # numba kernel loaded from its cache
    emulator = [
        timed(lambda: run_episode("klinotaxis", on="emulator", duration=f"{worm_s} s"))
        for _ in range(args.pairs)
    ]
    speedup = [worm_s / t for t in emulator]
    rows.append(Row("klinotaxis world, 60 s worm time, emulator closed loop", seconds(emulator),
                    f"{worm_s:g} s real time", spread(speedup), "≥ 100× real time", min(speedup) >= 100))  # fmt: skip

    open_loop = build_circuit("klinotaxis", duration=f"{brian2_s} s")
    target = choose_target(open_loop, None, RUNTIME_TARGETS)  # what the closed loop runs on
    run_brian2(open_loop, target=target)  # cython compile, cached afterwards
    run_episode("klinotaxis", on="brian2", duration="0.5 s")
    closed, opened = interleaved(
        lambda: run_episode("klinotaxis", on="brian2", duration=f"{brian2_s} s"),
        lambda: run_brian2(open_loop, target=target),
        args.pairs,
    )
    ratio = [c / o for c, o in zip(closed, opened)]
    rows.append(Row(f"Brian2 closed loop vs open loop ({target}), klinotaxis {brian2_s:g} s", seconds(closed),
                    seconds(opened), spread(ratio), "≤ 2×", max(ratio) <= 2.0))  # fmt: skip

    chunks, operation = interleaved(
        lambda: run_episode("klinotaxis", on="brian2", duration=f"{modes_s} s", brian2_mode="chunks"),
        lambda: run_episode("klinotaxis", on="brian2", duration=f"{modes_s} s", brian2_mode="operation"),
        args.pairs,
    )
    rows.append(Row(f"Brian2 closed loop: run per period vs network operation, {modes_s:g} s", seconds(chunks),
                    seconds(operation), spread([c / o for c, o in zip(chunks, operation)]),
                    "operation mode is the default: faster", min(chunks) > max(operation)))  # fmt: skip
    report(rows, args.json)


if __name__ == "__main__":
    main()
