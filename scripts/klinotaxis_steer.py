"""Experiment 1, stage 4 (docs/fit.md, "Steering on the cone"): klinotaxis on both plate shapes with one spec.

Usage: .venv/bin/python scripts/klinotaxis_steer.py surrogate|fit|validate|heldout [--workers 2] [--resume]

- surrogate: the closed-form rule steer = c + a·sweep − b·ON + k·OFF (ON/OFF: the clipped ASE inputs, scaled
  to [0, 1]) on validation plates (seeds 500–503, both shapes, 600 s): which terms the circuit needs.
- fit: the stage-2 spec (docs/figures/fit_klinotaxis_stage2.yaml) with the `start` values of
  scripts/experiments/klinotaxis_refit3.yaml, fit with that config's `fit` section (CMA-ES on Dask).
- validate: the start point and the fit's best candidates by training score re-scored on the validation plates;
  the one with the highest lower of the two shape means is written to docs/figures/fit_klinotaxis_steer.yaml.
- heldout: that spec on held-out plates (seeds 100–119, both shapes, 600 s, emulator).
Figures go to docs/figures/fit_klinotaxis_steer.json (the checkpoint stays in out/experiments/klinotaxis_refit3/).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from fit_experiments import FIGURES, _episodes, _stats, fit_summary, klinotaxis_next_stage  # noqa: E402

from wormchip.circuits.loader import load_spec, to_yaml  # noqa: E402
from wormchip.fit.params import ParameterSpace, set_value  # noqa: E402

CONFIG = Path("scripts/experiments/klinotaxis_refit3.yaml")
OUT = Path("out/experiments/klinotaxis_refit3")
RESULTS = FIGURES / "fit_klinotaxis_steer.json"
BEST = FIGURES / "fit_klinotaxis_steer.yaml"
VALIDATION = range(500, 504)
HELDOUT = range(100, 120)
SHAPES = ("gaussian", "linear")


def surrogate_index(c: float, a: float, b: float, k: float, gradient: str, seed: int, duration: float = 600.0,
                    clip: float = 0.002) -> float:  # fmt: skip
    """Chemotaxis index of the closed-form rule steer = c + a·sweep − b·ON + k·OFF on one plate, with
    ON = min(max(dC/dt, 0), clip)/clip and OFF = min(max(−dC/dt, 0), clip)/clip (the circuit's sensors)."""
    from wormchip.worlds.klinotaxis import KlinotaxisWorld, chemotaxis_metrics

    world = KlinotaxisWorld(gradient=gradient)
    obs, _ = world.reset(seed=seed)
    distance = [world.state()["distance_to_peak"]]
    for _ in range(round(duration / world.dt)):
        dcdt, sweep = obs[1], obs[2]
        on, off = min(max(dcdt, 0.0), clip) / clip, min(max(-dcdt, 0.0), clip) / clip
        obs, *_ = world.step([c + a * sweep - b * on + k * off])
        distance.append(world.state()["distance_to_peak"])
    return chemotaxis_metrics(np.array(distance), world.near_radius)["chemotaxis_index"]


#: (c, a, b, k): the stage-1 regression (docs/fit.md), its sweep raised, and single terms removed or flipped.
SURROGATES = ((0.06, 0.09, 0.08, 0.30), (0.06, 0.6, 0.08, 0.30), (0.06, 1.0, 0.08, 0.30), (0.06, 0.6, 0.08, 0.0),
              (0.06, 0.6, 0.0, 0.30), (0.0, 0.6, 0.08, 0.30), (0.06, 0.6, 0.08, -0.10), (0.03, 0.8, 0.0, 0.30),
              (0.06, 0.8, -0.05, 0.30))  # fmt: skip


def surrogate() -> dict:
    rows = []
    for c, a, b, k in SURROGATES:
        row = {"c": c, "a": a, "b": b, "k": k}
        for g in SHAPES:
            row[g] = _stats([{"ci": surrogate_index(c, a, b, k, g, s)} for s in VALIDATION], "ci")
        rows.append(row)
        print(row, flush=True)
    return {"seeds": [VALIDATION.start, VALIDATION.stop - 1], "duration": "600 s", "rules": rows}


def start_spec():
    """The stage-2 spec (kept until stage 4 replaced it) with the config's `start` values and `fit` section."""
    spec = load_spec(FIGURES / "fit_klinotaxis_stage2.yaml")
    for path, value in yaml.safe_load(CONFIG.read_text())["start"].items():
        spec = set_value(spec, path, value)
    return klinotaxis_next_stage(spec, CONFIG.stem)


def _indices(job: tuple) -> list[float]:
    """Chemotaxis indices (600 s, emulator) of (spec, plate shape, seeds), one per seed."""
    warnings.simplefilter("ignore")
    spec, gradient, seeds = job
    return [
        m["chemotaxis_index"]
        for m in _episodes(spec, "emulator", seeds, "600 s", params={"gradient": gradient})
    ]


def scores(specs: list, seeds: range, workers: int) -> list[dict]:
    """For each spec, {shape: statistics of the chemotaxis index over `seeds`}; episodes spread over
    `workers` processes (one job per spec, shape and half of the seeds)."""
    from concurrent.futures import ProcessPoolExecutor

    halves = [list(seeds)[: len(seeds) // 2], list(seeds)[len(seeds) // 2 :]]
    jobs = [(spec, g, half) for spec in specs for g in SHAPES for half in halves]
    with ProcessPoolExecutor(workers) as pool:
        values = list(pool.map(_indices, jobs))
    out = []
    for i in range(len(specs)):
        row = {}
        for j, g in enumerate(SHAPES):
            first = (i * len(SHAPES) + j) * len(halves)
            v = [x for part in values[first : first + len(halves)] for x in part]
            row[g] = {**_stats([{"ci": x} for x in v], "ci"), "per_seed": v}
        out.append(row)
    return out


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["surrogate", "fit", "validate", "heldout"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--generations", type=int)
    parser.add_argument("--top", type=int, default=4, help="validate: candidates re-scored")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    results = load_results()
    if args.step == "surrogate":
        results["surrogate"] = surrogate()
    elif args.step == "fit":
        from wormchip.fit.engine import convergence_figure, fit

        t0 = time.perf_counter()

        def report(done: int, total: int, best: float) -> None:
            print(
                f"generation {done}/{total}: best {best:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True
            )

        result = fit(start_spec(), workers=args.workers, generations=args.generations, resume=args.resume,
                     out=OUT, report=report)  # fmt: skip
        convergence_figure(result.history).savefig(FIGURES / "fit_klinotaxis_refit3_convergence.png", dpi=110)
        results["fit"] = fit_summary(result)
    elif args.step == "validate":
        start = start_spec()
        space = ParameterSpace(start)
        with open(OUT / "fit_state.pkl", "rb") as f:
            state = pickle.load(f)
        ranked = sorted(state.evaluations, key=lambda e: (e["score"], e["generation"]), reverse=True)[
            : args.top
        ]
        candidates = [("start", space.x0(), None)] + [
            (f"generation {e['generation']}", np.array(e["x"]), e["score"]) for e in ranked
        ]
        rows = []
        for (label, x, score), row in zip(candidates, scores([space.apply(x) for _, x, _ in candidates],
                                                              VALIDATION, args.workers)):  # fmt: skip
            rows.append({"candidate": label, "training_score": score, **row, "values": space.values(x)})
            print(label, score, {g: round(row[g]["mean"], 3) for g in SHAPES}, flush=True)
        chosen = max(range(len(rows)), key=lambda i: min(rows[i][g]["mean"] for g in SHAPES))
        BEST.write_text(to_yaml(space.apply(candidates[chosen][1])))
        results["validation"] = {"seeds": [VALIDATION.start, VALIDATION.stop - 1], "duration": "600 s",
                                 "candidates": rows, "chosen": rows[chosen]["candidate"],
                                 "rule": "highest lower of the two shape means"}  # fmt: skip
    else:
        best = load_spec(BEST)
        out = {"seeds": [HELDOUT.start, HELDOUT.stop - 1], "duration": "600 s", "on": "emulator"}
        out.update(scores([best], HELDOUT, args.workers)[0])
        print(out, flush=True)
        results["heldout"] = out
    RESULTS.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
