"""Closed-loop behaviour of the library circuits: Brian2 vs the fixed-point emulator, and the float-vs-float
spread of the same metric (Brian2 with every weight ×(1 + 1e-5·N(0, 1)), `analysis.fidelity.perturbed`).

Usage: .venv/bin/python scripts/closed_loop_results.py [--episodes 20] [--tasks klinotaxis touch ...]
       [--json docs/figures/closed_loop_results.json]

Per task, `--episodes` episodes with world seeds 0 … N − 1 on each of: brian2, emulator, brian2 perturbed.
Prints one markdown table (docs/closed_loop.md, "Brian2 vs chip") with each metric's mean ± sd per condition,
the relative difference of the means (emulator vs Brian2) and the float-vs-float difference (perturbed vs
Brian2), and writes every episode's metrics as JSON (tasks not rerun keep their stored episodes).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from wormchip.analysis.fidelity import perturbed
from wormchip.closed_loop.episode import prepare_episode, run_prepared

#: task → (circuit, world, episode duration, metrics reported)
TASKS = {
    "klinotaxis": ("klinotaxis", "klinotaxis", "30 s", ("chemotaxis_index", "mean_distance_to_peak")),
    "touch": (
        "touch_response",
        "touch",
        "4 s",
        ("reversal", "reversal_latency_s", "acceleration_after_posterior"),
    ),
    "cartpole": ("tap_withdrawal", "gym:CartPole-v1", "10 s", ("return",)),
    "pendulum": ("tap_withdrawal", "gym:Pendulum-v1", "10 s", ("return",)),
    "body": ("touch_response", "body", "3 s", ("speed", "undulation_frequency_hz")),
}


def _mean_sd(values: list[float]) -> tuple[float, float, int]:
    arr = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    return (float(arr.mean()), float(arr.std()), len(arr)) if len(arr) else (math.nan, math.nan, 0)


def run_task(task: str, episodes: int) -> dict:
    circuit, world, duration, metrics = TASKS[task]
    network, binding, env, resolved = prepare_episode(circuit, world)
    runs: dict[str, list[dict]] = {"brian2": [], "emulator": [], "brian2_perturbed": []}
    t0 = time.perf_counter()
    for seed in range(episodes):
        for condition in runs:
            net = perturbed(network, 1e-5, seed=seed) if condition == "brian2_perturbed" else network
            on = "emulator" if condition == "emulator" else "brian2"
            episode = run_prepared(net, binding, env, resolved, on, seed, duration)
            runs[condition].append(episode.metrics)
        print(f"  {task}: episode {seed + 1}/{episodes} ({time.perf_counter() - t0:.0f} s)", flush=True)
    summary = {}
    for metric in metrics:
        stats = {c: _mean_sd([m.get(metric) for m in runs[c]]) for c in runs}
        ref = stats["brian2"][0]
        scale = abs(ref) if ref and math.isfinite(ref) else math.nan
        summary[metric] = {
            **{c: {"mean": s[0], "sd": s[1], "n": s[2]} for c, s in stats.items()},
            "chip_vs_brian2_rel": abs(stats["emulator"][0] - ref) / scale,
            "float_vs_float_rel": abs(stats["brian2_perturbed"][0] - ref) / scale,
        }
    return {"circuit": circuit, "world": world, "duration": duration, "episodes": episodes,
            "summary": summary, "runs": runs}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--json", default="docs/figures/closed_loop_results.json")
    args = parser.parse_args()
    results = {}
    path = Path(args.json)
    stored = json.loads(path.read_text()) if path.exists() else {}  # tasks not rerun keep their episodes
    for task in args.tasks:
        results[task] = run_task(task, args.episodes)
        stored[task] = results[task]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=1, default=float))
    print("| task | metric | Brian2 | emulator | Brian2 perturbed 1e-5 | chip vs Brian2 | float vs float |")
    print("|---|---|---|---|---|---|---|")
    for task, res in results.items():
        for metric, s in res["summary"].items():
            cells = [
                f"{s[c]['mean']:.4g} ± {s[c]['sd']:.2g} (n {s[c]['n']})"
                for c in ("brian2", "emulator", "brian2_perturbed")
            ]
            print(
                f"| {task} | {metric} | {' | '.join(cells)} | {s['chip_vs_brian2_rel']:.1%} | {s['float_vs_float_rel']:.1%} |"
            )


if __name__ == "__main__":
    main()
