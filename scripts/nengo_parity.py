"""Nengo parity table of docs/backends.md: every library circuit on Brian2, Nengo and the emulator.

    .venv/bin/python scripts/nengo_parity.py [--circuits tap_withdrawal,ncp] [--json FILE]

Prints one markdown row per circuit: total spike counts per backend, the per-neuron spike-count correlation
and largest per-neuron difference between Brian2 (the reference) and Nengo, and each run's wall and CPU time
(build included; Brian2 picks its target as `wormchip run` does, cython code is cached after its first
compile; CPU time is this process's, steadier than wall time on a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from wormchip.circuits.loader import library_names
from wormchip.pipeline import run_circuit

BACKENDS = ("brian2", "nengo", "emulator")


def parity(circuit: str) -> dict:
    """Run `circuit` on each backend; counts per neuron (in Brian2's name order) and wall and CPU times."""
    counts, wall, cpu = {}, {}, {}
    for on in BACKENDS:
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_circuit(circuit, on=on)
        wall[on], cpu[on] = time.perf_counter() - t0, time.process_time() - c0
        counts[on] = np.array([len(result.spike_times[n]) for n in result.neuron_names])
    b, n = counts["brian2"], counts["nengo"]
    corr = float(np.corrcoef(b, n)[0, 1]) if b.std() > 0 and n.std() > 0 else float("nan")
    return {
        "circuit": circuit,
        "neurons": len(b),
        "duration_s": float(result.duration),
        "spikes": {k: int(v.sum()) for k, v in counts.items()},
        "count_correlation": corr,
        "max_abs_diff": int(np.abs(b - n).max()),
        "wall_s": wall,
        "cpu_s": cpu,
    }


def table(rows: list[dict]) -> str:
    head = (
        "| circuit | neurons | duration | spikes Brian2 | spikes Nengo | spikes emulator "
        "| count correlation Brian2–Nengo | max per-neuron Δ | wall (CPU) Brian2 | wall (CPU) Nengo "
        "| wall (CPU) emulator |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r['circuit']} | {r['neurons']} | {r['duration_s']:g} s | {r['spikes']['brian2']} "
        f"| {r['spikes']['nengo']} | {r['spikes']['emulator']} | {r['count_correlation']:.4f} "
        f"| {r['max_abs_diff']} | "
        + " | ".join(f"{r['wall_s'][on]:.1f} s ({r['cpu_s'][on]:.1f} s)" for on in BACKENDS)
        + " |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuits", default=",".join(library_names()), help="comma-separated")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    rows = []
    for circuit in args.circuits.split(","):
        rows.append(parity(circuit))
        print(f"{circuit}: done", flush=True)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
