"""The fitting experiments of docs/fit.md: fit on Dask, then evaluate the best spec on held-out worlds and on
every backend.

Usage: .venv/bin/python scripts/fit_experiments.py klinotaxis|cartpole|mountaincar [--workers 2]
       [--generations G] [--resume] [--heldout-only]

- klinotaxis: stage 1 `scripts/experiments/klinotaxis_fit.yaml` (world seeds 0–2 of the Gaussian plate and
  seed 0 of the linear one, 150 s), then the refits of `KLINOTAXIS_REFITS` (each on the previous stage's best
  spec); the stage best on validation seeds 500–503 is kept; held out: seeds 100–119 on both gradient shapes,
  600 s, on the emulator; the unfitted library circuit on the same worlds; Brian2 on seeds 100–104 (150 s)
  against the emulator; the ElegansBot body on plates (seeds 100–104, 600 s) beside the point worm; Lava vs emulator.
- cartpole: `scripts/experiments/cartpole_fit.yaml` (trained on seeds 0–9); the 24 best candidates re-scored on
  validation seeds 500–549 and the best of them kept (`select_on_validation`); held out: seeds 1000–1099 on
  the emulator, 20 of them on Brian2, 3 in Lava.
- mountaincar: `scripts/experiments/mountaincar_fit.yaml` (return on seeds 0–7 plus a `max:position` shaping
  term), then as cartpole (validation seeds 500–549, held out 1000–1099; 20 s episodes).
`--trajectories` (klinotaxis) draws held-out paths, fitted vs unfitted: fit_klinotaxis_trajectories.png.
`--body` (klinotaxis) runs the body validation alone: fit_klinotaxis_body.json and .png.
`--brian2` (klinotaxis): Brian2 vs emulator for the kept spec, fit_klinotaxis_brian2.json.
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


def fit_summary(result) -> dict:
    """The figures of a finished fit that the results files keep."""
    return {"best_score": result.best_score, "best_values": result.best_values,
            "generations": result.generations, "evaluations": result.evaluations,
            "evals_per_s": result.evals_per_s, "wall_s": result.wall_s}  # fmt: skip


#: Klinotaxis refits after stage 1, in order: each puts its `fit` section on the previous stage's best spec.
KLINOTAXIS_REFITS = ("klinotaxis_refit", "klinotaxis_refit2")


def klinotaxis_next_stage(best, config: str):
    """`best` with the `fit` section of scripts/experiments/`config`.yaml (its values are the start point);
    the config's `sensor_clip`, if any, becomes the clip of every dC_dt sensor."""
    import yaml

    from wormchip.circuits.schema import CircuitSpec

    config_data = yaml.safe_load(Path(f"scripts/experiments/{config}.yaml").read_text())
    data = best.model_dump(mode="json")
    data["fit"] = config_data["fit"]
    for sensor in data["bindings"][0]["sensors"]:
        if sensor["observation"] == "dC_dt" and "sensor_clip" in config_data:
            sensor["clip"] = config_data["sensor_clip"]
    return CircuitSpec.model_validate(data)


def select_klinotaxis(stages: dict) -> tuple[str, dict]:
    """The stage whose best spec has the highest chemotaxis index on validation plates (seeds 500–503, both
    shapes, 600 s; disjoint from training and held-out seeds), as (name, validation means)."""
    seeds = range(500, 504)
    scores = {}
    for name, spec in stages.items():
        means = [np.mean([m["chemotaxis_index"] for m in _episodes(spec, "emulator", seeds, "600 s",
                                                                    params={"gradient": g})])
                 for g in ("gaussian", "linear")]  # fmt: skip
        scores[name] = {"gaussian": float(means[0]), "linear": float(means[1]), "mean": float(np.mean(means))}
        print("validation", name, scores[name], flush=True)
    return max(scores, key=lambda k: scores[k]["mean"]), scores


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


def body_spec(spec):
    """`spec` with its klinotaxis binding copied onto the ElegansBot body on the same plate: the same sensors
    and `steer` read-out (the neck bend), and a constant full forward drive (forward = 1, backward = 0, as the
    point worm's constant speed; the read-out neurons are ignored at gain 0)."""
    from wormchip.circuits.schema import CircuitSpec

    data = spec.model_dump(mode="json")
    binding = data["bindings"][0]
    steer = binding["motors"][0]
    constant = {"neurons": steer["neurons"], "readout": "rate", "gain": 0.0}
    body = {**binding, "world": "body", "params": {"gradient": "gaussian", **binding.get("params", {})},
            "motors": [{**constant, "action": "forward", "offset": 1.0},
                       {**constant, "action": "backward", "offset": 0.0}, steer]}  # fmt: skip
    data["bindings"] = [body]
    return CircuitSpec.model_validate(data)


def body_validation(best, seeds=range(100, 105), duration: str = "600 s", physics_dt: float = 5e-5) -> dict:
    """The fitted spec on the emulator driving the ElegansBot body on held-out plates, beside the point worm
    on the same seeds and duration; draws both paths (fit_klinotaxis_body.png). The body's physics step is
    `physics_dt` (the world's default is ElegansBot's 10 µs; 50 µs runs about 4.5× faster, and under a fixed
    drive its head is 1.2 % of the distance crawled from the 10 µs path after 60 s; test_physics_step_converges).
    Closed loop, the kept spec on seed 100 (600 s) reaches CI 0.750 / 0.747 (Gaussian / cone) at 10 µs and
    0.748 / 0.748 at 50 µs; physics_dt=1e-5 is the default body's run (5× slower) for other specs."""
    from dataclasses import replace

    import matplotlib.pyplot as plt

    from wormchip.closed_loop.bindings import resolve
    from wormchip.closed_loop.episode import _make_world
    from wormchip.worlds.klinotaxis import Plate

    out: dict = {"seeds": [seeds.start, seeds.stop - 1], "duration": duration, "physics_dt": physics_dt}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, gradient in zip(axes, ("gaussian", "linear")):
        grid = np.linspace(-6.0, 6.0, 121)
        gx, gy = np.meshgrid(grid, grid)
        ax.contourf(gx, gy, Plate(gradient).concentration_at(gx, gy), levels=12, cmap="Blues", alpha=0.6)
        ax.plot([0.0], [0.0], marker="*", color="gold", markeredgecolor="k", markersize=14)
        for label, spec, world, color, x, y, scale in (
            ("point", best, None, "tab:red", "x", "y", 1.0),
            ("body", body_spec(best), "body", "tab:green", "head_x", "head_y", 0.1),
        ):
            network, binding, env, resolved = prepare_episode(spec, world)
            extra = {"physics_dt": physics_dt} if world == "body" else {}
            binding = replace(binding, params={**binding.params, "gradient": gradient, **extra})
            env = _make_world(binding)
            resolved = resolve(binding, env)
            rows = []
            for seed in seeds:
                t0 = time.perf_counter()
                episode = run_prepared(network, binding, env, resolved, "emulator", seed, duration)
                rows.append(episode.metrics)
                out.setdefault("per_seed", []).append(
                    {"worm": label, "gradient": gradient, "seed": seed, "wall_s": time.perf_counter() - t0,
                     **{k: episode.metrics[k] for k in ("chemotaxis_index", "final_distance_to_peak")}}
                )  # fmt: skip
                print(out["per_seed"][-1], flush=True)
                xs, ys = scale * episode.trajectory.state_array(x), scale * episode.trajectory.state_array(y)
                ax.plot(xs, ys, color=color, lw=1.0, label=f"{label} (head)" if seed == seeds.start else None)
                ax.plot(xs[:1], ys[:1], "o", color="k", markersize=3)
            out[f"{label}_{gradient}"] = {
                key: _stats(rows, key) for key in ("chemotaxis_index", "final_distance_to_peak")
            }
            print(label, gradient, out[f"{label}_{gradient}"], flush=True)
        ax.set(xlim=(-6, 6), ylim=(-6, 6), aspect="equal", xlabel="x (cm)", ylabel="y (cm)")
        ax.set_title(f"{gradient} plate: point worm vs ElegansBot body, seeds {seeds.start}–{seeds.stop - 1}, "
                     f"{duration}", fontsize=9)  # fmt: skip
        ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(FIGURES / "fit_klinotaxis_body.png", dpi=110)
    return out


def point_at_body_speed(
    best, seeds=range(100, 105), duration: str = "600 s", speed_mm_s: float = 0.187
) -> dict:
    """The point worm slowed to the body's crawling speed (0.187 mm/s under full forward drive, 50 µs step) with
    its turn gain scaled alike (the same path curvature per steer as the body's neck): chemotaxis index per
    seed on both plate shapes, to separate the body's slower crawl from the rest of the body."""
    from wormchip.worlds.klinotaxis import SPEED_CM_S, TURN_GAIN_RAD_S

    speed = speed_mm_s / 10.0
    params = {"speed": speed, "turn_gain": TURN_GAIN_RAD_S * speed / SPEED_CM_S}
    out: dict = {"seeds": [seeds.start, seeds.stop - 1], "duration": duration, **params}
    for gradient in ("gaussian", "linear"):
        rows = _episodes(best, "emulator", seeds, duration, params={**params, "gradient": gradient})
        out[gradient] = {
            key: [r[key] for r in rows] for key in ("chemotaxis_index", "final_distance_to_peak")
        }
        print("point at body speed", gradient, out[gradient], flush=True)
    return out


def brian2_check(best, seeds=range(100, 105), duration: str = "150 s") -> dict:
    """The fitted spec on Brian2 beside the emulator on held-out Gaussian plates: chemotaxis index per seed."""
    out: dict = {"seeds": [seeds.start, seeds.stop - 1], "duration": duration}
    for on in ("emulator", "brian2"):
        t0 = time.perf_counter()
        rows = _episodes(best, on, seeds, duration)
        out[on] = {"chemotaxis_index": [r["chemotaxis_index"] for r in rows], "wall_s": time.perf_counter() - t0,
                   "stats": _stats(rows, "chemotaxis_index")}  # fmt: skip
        print(on, out[on], flush=True)
    return out


def lava_check(best, seed: int = 100, duration: str = "3 s") -> dict:
    """The fitted spec in Lava's fixed-point simulator beside the emulator on one held-out plate: whether
    every period's action and world state and every neuron's spike count are identical."""
    network, binding, env, resolved = prepare_episode(best, None)
    runs = {}
    for on in ("emulator", "lava"):
        t0 = time.perf_counter()
        episode = run_prepared(network, binding, env, resolved, on, seed, duration)
        runs[on] = (episode, time.perf_counter() - t0)
    (emu, emu_s), (lava, lava_s) = runs["emulator"], runs["lava"]
    counts = emu.result.spike_counts()
    out = {"seed": seed, "duration": duration, "periods": emu.trajectory.steps,
           "actions_identical": all(np.array_equal(a, b) for a, b in zip(emu.trajectory.actions,
                                                                        lava.trajectory.actions)),
           "states_identical": emu.trajectory.states == lava.trajectory.states,
           "spike_counts_identical": counts == lava.result.spike_counts(),
           "spikes": int(sum(counts.values())), "lava_s": lava_s, "emulator_s": emu_s}  # fmt: skip
    print("lava", out, flush=True)
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
    parser.add_argument("--body", action="store_true", help="klinotaxis: the ElegansBot body validation only")
    parser.add_argument("--brian2", action="store_true", help="klinotaxis: Brian2 vs emulator (kept spec)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if args.trajectories:
        klinotaxis_trajectories(load_spec(FIGURES / "fit_klinotaxis_best.yaml"), load_spec("klinotaxis"))
        return
    if args.body:  # its own file: the body episodes take long (fit_klinotaxis_body.json)
        body = body_validation(load_spec(FIGURES / "fit_klinotaxis_best.yaml"))
        body["point_at_body_speed"] = point_at_body_speed(load_spec(FIGURES / "fit_klinotaxis_best.yaml"))
        (FIGURES / "fit_klinotaxis_body.json").write_text(json.dumps(body, indent=1))
        return
    if args.brian2:
        check = brian2_check(load_spec(FIGURES / "fit_klinotaxis_best.yaml"))
        (FIGURES / "fit_klinotaxis_brian2.json").write_text(json.dumps(check, indent=1))
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
        results["fit"] = fit_summary(result)
        results_path.write_text(json.dumps(results, indent=1))
        stages = {"klinotaxis_fit": result.best_spec}
        for config in KLINOTAXIS_REFITS if name == "klinotaxis" else ():
            result = fit(klinotaxis_next_stage(result.best_spec, config), workers=args.workers,
                         resume=args.resume, out=Path("out/experiments") / config, report=report)  # fmt: skip
            best_path.write_text(to_yaml(result.best_spec))
            convergence_figure(result.history).savefig(FIGURES / f"fit_{config}_convergence.png", dpi=110)
            results[config] = fit_summary(result)
            stages[config] = result.best_spec
        if name == "klinotaxis":
            chosen, results["selection"] = select_klinotaxis(stages)
            results["selection"]["chosen"] = chosen
            best_path.write_text(to_yaml(stages[chosen]))
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
        results["body"] = body_validation(best)
        results_path.write_text(json.dumps(results, indent=1))
        results["lava"] = lava_check(best)
        klinotaxis_trajectories(best, base)
    results_path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
