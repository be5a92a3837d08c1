"""The fitting experiments of docs/fit.md: fit on Dask, then evaluate the best spec on held-out worlds and on
every backend.

Usage: .venv/bin/python scripts/fit_experiments.py klinotaxis|cartpole|mountaincar [--workers 2]
       [--generations G] [--resume] [--heldout-only]

- klinotaxis: `scripts/experiments/klinotaxis_fit.yaml` (trained on world seeds 0–2 of the Gaussian plate and
  seed 0 of the linear one, 150 s); held out: seeds 100–119 on both gradient shapes, 600 s, on the emulator;
  the unfitted library circuit on the same worlds; Brian2 on seeds 100–104 (150 s) against the emulator.
- cartpole: `scripts/experiments/cartpole_fit.yaml` (trained on seeds 0–9); the 24 best candidates re-scored on
  validation seeds 500–549 and the best of them kept (`select_on_validation`); held out: seeds 1000–1099 on
  the emulator, 20 of them on Brian2, 3 in Lava.
- mountaincar: `scripts/experiments/mountaincar_fit.yaml` (return on seeds 0–7 plus a `max:position` shaping
  term), then as cartpole (validation seeds 500–549, held out 1000–1099; 20 s episodes).
`--trajectories` (klinotaxis) draws held-out paths, fitted vs unfitted: fit_klinotaxis_trajectories.png.
Writes docs/figures/fit_<name>.json, fit_<name>_convergence.png, fit_<name>_best.yaml (the checkpoint stays in
out/experiments/<name>/).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from wormchip.circuits.loader import load_spec, to_yaml
from wormchip.closed_loop.episode import prepare_episode, run_prepared
from wormchip.fit.engine import convergence_figure, fit

FIGURES = Path("docs/figures")


def _episodes(
    spec, on: str, seeds, duration: str, world: str | None = None, params: dict | None = None
) -> list:
    from dataclasses import replace

    from wormchip.closed_loop.bindings import resolve
    from wormchip.closed_loop.episode import _make_world

    network, binding, env, resolved = prepare_episode(spec, world)
    if params:
        binding = replace(binding, params={**binding.params, **params})
        env = _make_world(binding)
        resolved = resolve(binding, env)
    return [run_prepared(network, binding, env, resolved, on, s, duration).metrics for s in seeds]


def _stats(rows: list[dict], key: str) -> dict:
    values = np.array([r[key] for r in rows], dtype=float)
    return {"mean": float(values.mean()), "sd": float(values.std()), "n": len(values),
            "min": float(values.min()), "max": float(values.max())}  # fmt: skip


VALIDATION_SEEDS = range(500, 550)  # model selection: disjoint from training (0–9) and held out (1000+)
#: The gym experiments: world and episode length.
GYM = {"cartpole": ("gym:CartPole-v1", "10 s"), "mountaincar": ("gym:MountainCarContinuous-v0", "20 s")}


def network_returns(
    network,
    seeds,
    shift: dict | None = None,
    world: str = "gym:CartPole-v1",
    on: str = "emulator",
    duration: str = "10 s",
) -> np.ndarray:
    """Episode returns of an IR network in `world` (with a world `shift`) on `on`, one per seed."""
    from dataclasses import replace

    from wormchip.closed_loop.bindings import resolve
    from wormchip.closed_loop.episode import _make_world, choose_binding

    binding = choose_binding(network, world)
    binding = replace(binding, params={**binding.params, **(shift or {})})
    env = _make_world(binding)
    resolved = resolve(binding, env)
    return np.array(
        [run_prepared(network, binding, env, resolved, on, s, duration).metrics["return"] for s in seeds]
    )


def select_on_validation(
    spec_path: Path,
    out_dir: Path,
    network_transform=None,
    top: int = 24,
    world: str = "gym:CartPole-v1",
    duration: str = "10 s",
):
    """The fit's `top` candidates by training score (ties: the later generation), re-scored (mean return in
    `world`) on the validation seeds; the best of them (ties: the higher training score) → (its spec, a
    summary). A fit on few training episodes picks the first candidate that succeeds on those; this picks the
    one that generalizes."""
    import pickle

    from wormchip.circuits.build import build
    from wormchip.fit.params import ParameterSpace

    space = ParameterSpace(load_spec(spec_path))
    with open(out_dir / "fit_state.pkl", "rb") as f:
        state = pickle.load(f)
    ranked = sorted(state.evaluations, key=lambda e: (e["score"], e["generation"]), reverse=True)[:top]
    rows = []
    for e in ranked:
        candidate = space.apply(np.array(e["x"]))
        network = build(candidate)
        if network_transform is not None:
            network = network_transform(network)
        rows.append(
            (
                float(network_returns(network, VALIDATION_SEEDS, world=world, duration=duration).mean()),
                e["score"],
                e["generation"],
                candidate,
            )
        )
    validation, training, generation, spec = max(rows, key=lambda r: (r[0], r[1]))
    print(
        f"selected: generation {generation}, training {training:.1f}, validation {validation:.1f}", flush=True
    )
    summary = {"candidates": len(rows), "validation_seeds": [VALIDATION_SEEDS.start, VALIDATION_SEEDS.stop - 1],
               "generation": generation, "training_score": training, "validation_mean": validation,
               "validation_of_top_training": rows[0][0]}  # fmt: skip
    return spec, summary


def heldout_klinotaxis(best, base) -> dict:
    out: dict = {}
    seeds = range(100, 120)
    for gradient in ("gaussian", "linear"):
        for label, spec in (("fitted", best), ("unfitted", base)):
            rows = _episodes(spec, "emulator", seeds, "600 s", params={"gradient": gradient})
            out[f"{label}_{gradient}_600s_emulator"] = _stats(rows, "chemotaxis_index")
            print(label, gradient, out[f"{label}_{gradient}_600s_emulator"], flush=True)
    for on in ("emulator", "brian2"):
        rows = _episodes(best, on, range(100, 105), "150 s")
        out[f"fitted_gaussian_150s_{on}"] = _stats(rows, "chemotaxis_index")
        print(on, out[f"fitted_gaussian_150s_{on}"], flush=True)
    return out


def klinotaxis_trajectories(best, base) -> None:
    """Held-out Gaussian plates (seeds 100–104, 600 s, emulator): unfitted and fitted paths side by side."""
    import matplotlib.pyplot as plt

    from wormchip.closed_loop.figures import _draw

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, (label, spec) in zip(axes, (("unfitted library circuit", base), ("fitted", best))):
        network, binding, env, resolved = prepare_episode(spec, None)
        for seed in range(100, 105):
            _draw(ax, run_prepared(network, binding, env, resolved, "emulator", seed, "600 s"))
        ax.set_title(f"{label}: held-out plates (seeds 100–104), 600 s", fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), loc="upper right", fontsize="small")
        ax.set(xlim=(-7.5, 7.5), ylim=(-7.5, 7.5))
    fig.tight_layout()
    fig.savefig(FIGURES / "fit_klinotaxis_trajectories.png", dpi=110)


def heldout_gym(best, base, world: str, duration: str) -> dict:
    """Held-out returns (seeds 1000+): 100 on the emulator (fitted and unfitted), 20 on Brian2 and 3 in Lava,
    each beside the emulator on the same seeds."""

    def returns(spec, on: str, n: int) -> dict:
        return _stats(_episodes(spec, on, range(1000, 1000 + n), duration, world), "return")

    out = {"fitted_emulator_100": returns(best, "emulator", 100)}
    print(out, flush=True)
    out["unfitted_emulator_100"] = returns(base, "emulator", 100)
    out["fitted_emulator_20"] = returns(best, "emulator", 20)
    out["fitted_brian2_20"] = returns(best, "brian2", 20)
    print(out, flush=True)
    out["fitted_lava_3"] = returns(best, "lava", 3)
    out["fitted_emulator_3"] = returns(best, "emulator", 3)
    print(out, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=["klinotaxis", *GYM])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--generations", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--heldout-only", action="store_true", help="evaluate the saved best spec only")
    parser.add_argument("--trajectories", action="store_true", help="klinotaxis: draw held-out paths only")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.trajectories:
        klinotaxis_trajectories(load_spec(FIGURES / "fit_klinotaxis_best.yaml"), load_spec("klinotaxis"))
        return
    name = args.experiment
    spec_path = Path(f"scripts/experiments/{name}_fit.yaml")
    best_path = FIGURES / f"fit_{name}_best.yaml"
    results_path = FIGURES / f"fit_{name}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if not args.heldout_only:
        t0 = time.perf_counter()

        def report(done: int, total: int, best: float) -> None:
            print(
                f"generation {done}/{total}: best {best:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True
            )

        result = fit(spec_path, workers=args.workers, generations=args.generations, resume=args.resume,
                     out=Path("out/experiments") / name, report=report)  # fmt: skip
        best_path.write_text(to_yaml(result.best_spec))
        convergence_figure(result.history).savefig(FIGURES / f"fit_{name}_convergence.png", dpi=110)
        results["fit"] = {"best_score": result.best_score, "best_values": result.best_values,
                          "generations": result.generations, "evaluations": result.evaluations,
                          "evals_per_s": result.evals_per_s, "wall_s": result.wall_s}  # fmt: skip
        results_path.write_text(json.dumps(results, indent=1))
        if name in GYM:
            world, duration = GYM[name]
            selected, results["selection"] = select_on_validation(
                spec_path, Path("out/experiments") / name, world=world, duration=duration
            )
            best_path.write_text(to_yaml(selected))
            results_path.write_text(json.dumps(results, indent=1))
    best = load_spec(best_path)
    base = load_spec("klinotaxis" if name == "klinotaxis" else "tap_withdrawal")
    if name in GYM:
        results["heldout"] = heldout_gym(best, base, *GYM[name])
    else:
        results["heldout"] = heldout_klinotaxis(best, base)
    results_path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
