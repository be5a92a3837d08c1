"""Experiment 4 of docs/fit.md, adaptation during operation: the CartPole controller of experiment 2 deployed
with plasticity on, the pole's length doubled mid-deployment; recovery versus the frozen circuit, same seeds.

Usage: .venv/bin/python scripts/adaptation_experiment.py [--seeds 20] [--on brian2|emulator|lava]
       [--spec docs/figures/fit_cartpole_best_session4.yaml]

- Circuit: experiment 2's best spec as of session 4 (tap-withdrawal circuit trained on CartPole-v1 on the chip
  when it still linearised conductances; `fit_cartpole_best_session4.yaml`, the spec the published figures
  used), run on Brian2 (target cython) or, with `--on emulator|lava`, on the chip: the network lowered and
  quantized, three-factor STDP in LearningDense blocks, the fall's D −= 1 through the session's `modulate`
  (a negative reward: y3 of the trace process). The chip has no form of homeostatic scaling, so its default
  conditions leave homeostasis out.
- Deployment: one continuous run of `--duration` (10 s = 500 control steps of 20 ms) in CartPole-v1
  (gymnasium's 500-step limit lifted); when the pole falls or the cart leaves the track the cart-pole is
  reset (next seed of the world's sequence) and the circuit runs on, its weights kept: lifelong operation
  with failures. The world changes after `--change-at` (3 s): pole length 0.5 → 1.0 m (GymWorld `change_at`/
  `change`; made from the start, it costs the frozen circuit three quarters of its 10-s return on Brian2:
  ≈400 → ≈100 over 6 seeds).
- Conditions, same world seeds 3000 … 3000 + seeds − 1:
  frozen — the trained circuit, static synapses;
  reward STDP (η = 10 Hz, the registry default) and reward STDP slow (η = 1 Hz) — the same circuit with
  three-factor STDP (`reward_stdp`, Izhikevich 2007) on every chemical synapse; the reward signal is the
  CartPole reward minus its per-step value 1, i.e. D −= 1 at every fall (`run_prepared(modulation=...)` →
  the session's `modulate`); before the first fall D = 0 and on Brian2 the run is the frozen one exactly;
  reward STDP unrewarded (chip default) — the plastic circuit with no reward (D = 0 throughout): on the chip
  the plastic blocks quantize the initial weights apart from the static synapses (w_max = 2·w0 ↔ 255 LSB),
  so this, not frozen, is the rewarded conditions' control there (`paired_vs_unrewarded`);
  homeostasis — the same circuit with multiplicative synaptic scaling (`homeostatic_scaling`, Turrigiano
  1998, registry defaults: target 10 Hz, τ_r 1 s, η 0.5 Hz) on every chemical synapse, no reward.
- Metrics per deployment: falls after the change (the deployment's failures; its CartPole returns are the
  lengths of the runs between falls), mean balance time after the change (post-change seconds / (falls + 1)),
  falls in each 5 s bin; also falls before the change. Paired by seed against frozen: mean difference with a
  95 % bootstrap interval, Wilcoxon signed-rank p.
Writes docs/figures/adaptation_cartpole.json and .png (Brian2), adaptation_cartpole_emulator/_lava (chip).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from wormchip.circuits.loader import load_spec  # noqa: E402
from wormchip.closed_loop.episode import prepare_episode, run_prepared  # noqa: E402
from wormchip.worlds.gym import GymWorld  # noqa: E402

FIGURES = Path("docs/figures")
WORLD = "gym:CartPole-v1"
CHANGE = {"physics": {"length": 1.0}}  # pole length ×2 (nominal 0.5 m, half-length as gymnasium names it)
SEED0 = 3000
BIN_S = 3.5  # two bins after the change (3 → 6.5 → 10 s)
RULES = {
    "reward_stdp": {"rule": "reward_stdp", "params": {"eta": "10 Hz", "tau_c": "1 s", "tau_D": "200 ms"}},
    "reward_stdp_slow": {"rule": "reward_stdp", "params": {"eta": "1 Hz", "tau_c": "1 s", "tau_D": "200 ms"}},
    "reward_stdp_unrewarded": {
        "rule": "reward_stdp",
        "params": {"eta": "10 Hz", "tau_c": "1 s", "tau_D": "200 ms"},
    },
    "homeostasis": {
        "rule": "homeostatic_scaling",
        "params": {"target_rate": "10 Hz", "tau_r": "1 s", "eta": "0.5 Hz"},
    },
}


UNREWARDED = "reward_stdp_unrewarded"  # the plastic circuit with D = 0 throughout: the chip's frozen control
W_MAX_SCALE = {"reward_stdp": 2.0, "homeostatic_scaling": 20.0}  # the registry defaults: w_max / |w0|


class Deployment(GymWorld):
    """CartPole run on after failures: a fall resets the cart-pole (seeded: episode seed × 1000 + falls),
    gives reward 0 on that step instead of 1 and is recorded in `falls` (step indices); the change of the
    world, counted from the deployment's start, persists across these resets."""

    def reset(self, *, seed=None, options=None):
        self.seed, self.falls = seed, []
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated:
            self.falls.append(self._steps)
            obs, _ = self.env.reset(seed=int(self.seed) * 1000 + len(self.falls))
            self._obs = np.asarray(obs)
            obs, reward, terminated = self._observed(obs), 0.0, False
        return obs, reward, terminated, truncated, info


def punish_falls(obs, reward, terminated) -> float:
    """The reward signal: the CartPole reward minus its per-step value (−1 at a fall, else 0)."""
    return float(reward) - 1.0


def spec_with(spec_path: Path, condition: str):
    """The trained spec, Brian2 target cython, with `condition`'s rule on the chemical connection."""
    spec = load_spec(spec_path)
    data = spec.model_dump(mode="json", exclude_none=True)
    data["run"]["target"] = "cython"
    if condition in RULES:
        data["plasticity"] = [{"name": "adapt", **RULES[condition]}]
        for conn in data["connections"]:
            if conn["name"] == "chemical":
                conn["plasticity"] = ["adapt"]
    return type(spec).model_validate(data)


def deploy(spec, condition: str, seed: int, steps: int, change_at: int, backend: str = "brian2") -> dict:
    """One deployment on `backend`: fall times (s) and weights at the end (plastic conditions)."""
    network, binding, _, resolved = prepare_episode(spec, WORLD)
    env = Deployment("CartPole-v1", change_at=change_at, change=CHANGE, max_episode_steps=10 * steps)
    rewarded = condition.startswith("reward_stdp") and condition != UNREWARDED
    modulation = punish_falls if rewarded else None
    ep = run_prepared(network, binding, env, resolved, backend, seed, steps * env.dt, modulation=modulation)
    assert ep.trajectory.steps == steps, "deployments run to the end"
    weights = None
    if condition in RULES and ep.result.weights:
        w = next(iter(ep.result.weights.values()))
        weights = {
            "synapses": list(w.channels),
            "initial": w.values[0].tolist(),
            "final": w.values[-1].tolist(),
        }
    return {"falls_s": [k * env.dt for k in env.falls], "weights": weights}


def summarize(falls_s: list[float], change_s: float, duration: float) -> dict:
    falls = np.asarray(falls_s)
    after = falls[falls > change_s]
    bins = np.r_[np.arange(change_s, duration - 1e-9, BIN_S), duration]
    return {
        "falls_before": int(np.sum(falls <= change_s)),
        "falls_after": len(after),
        "balance_s_after": (duration - change_s) / (len(after) + 1),
        "falls_per_bin": np.histogram(after, bins=bins)[0].tolist(),
    }


def paired(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> dict:
    """a − b by seed: means, mean difference, 95 % bootstrap interval, Wilcoxon p."""
    diff = np.asarray(a, float) - np.asarray(b, float)
    boot = rng.choice(diff, size=(10_000, len(diff))).mean(axis=1)
    p = 1.0 if not np.any(diff) else float(stats.wilcoxon(diff).pvalue)
    return {
        "mean": float(np.mean(a)),
        "frozen_mean": float(np.mean(b)),
        "difference": float(diff.mean()),
        "difference_ci95": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
        "wilcoxon_p": p,
        "n": len(diff),
        "lower_higher_same": [int(np.sum(diff < 0)), int(np.sum(diff > 0)), int(np.sum(diff == 0))],
    }


def paired_metrics(runs: list[dict], base: list[dict], rng: np.random.Generator) -> dict:
    """`paired` of the summaries `runs` against `base` (same seeds): falls after and before the change,
    balance time after it, falls in the last bin."""
    table = {}
    for key in ("falls_after", "balance_s_after", "falls_before"):
        table[key] = paired([s[key] for s in runs], [s[key] for s in base], rng)
    last = [[s["falls_per_bin"][-1] for s in summary] for summary in (runs, base)]
    table["falls_last_bin"] = paired(last[0], last[1], rng)
    return table


def figure(out: dict) -> plt.Figure:
    conds = list(out["runs"])
    change_s, duration = out["change_s"], out["duration_s"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.arange(0.0, duration + 1e-9, 1.0)
    for c, ls in zip(conds, ("-", "--", ":", "-.")):
        falls = np.concatenate([r["falls_s"] for r in out["runs"][c]] or [np.zeros(0)])
        n = len(out["runs"][c])
        ax1.stairs(np.histogram(falls, bins=bins)[0] / n, bins, label=c, ls=ls, lw=1.6)
    ax1.axvline(change_s, color="k", ls="--", lw=1)
    ax1.text(change_s, ax1.get_ylim()[1] * 0.95, " pole length ×2", va="top")
    ax1.set_xlabel("deployment time (s)")
    ax1.set_ylabel("falls per second, mean over seeds")
    ax1.legend(loc="upper left", fontsize="small")
    x = np.arange(len(conds))
    for k, c in enumerate(conds):
        v = [s["falls_after"] for s in out["summary"][c]]
        ax2.scatter(np.full(len(v), k) + np.linspace(-0.15, 0.15, len(v)), v, s=12)
        ax2.errorbar(k, np.mean(v), yerr=np.std(v, ddof=1) / np.sqrt(len(v)), fmt="k_", ms=20, capsize=4)
    ax2.set_xticks(x, conds, rotation=15, ha="right")
    ax2.set_ylabel(f"falls after the change ({duration - change_s:g} s)")
    ax2.set_title(f"n = {len(out['seeds'])} world seeds, same for every condition")
    fig.tight_layout()
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=FIGURES / "fit_cartpole_best_session4.yaml")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--duration", type=float, default=10.0, help="deployment, s")
    ap.add_argument("--change-at", type=float, default=3.0, help="s")
    ap.add_argument("--on", choices=("brian2", "emulator", "lava"), default="brian2", help="backend")
    ap.add_argument("--conditions", help="default: all; on the chip without homeostasis (no chip form)")
    ap.add_argument("--no-report", action="store_true", help="only run (and cache) the conditions")
    ap.add_argument("--part", default="0/1", help="k/m: run every m-th seed from the k-th (parallel runs)")
    ap.add_argument("--cache", type=Path, help="folder of per-run results (default: OUT_runs)")
    ap.add_argument("--cached-only", action="store_true", help="report the seeds already run, run nothing")
    ap.add_argument("--out", type=Path, help="default: FIGURES/adaptation_cartpole[_emulator|_lava]")
    args = ap.parse_args()
    chip = args.on != "brian2"
    default = "frozen,reward_stdp,reward_stdp_slow" + (f",{UNREWARDED}" if chip else ",homeostasis")
    conds = (args.conditions or default).split(",")
    args.out = args.out or FIGURES / ("adaptation_cartpole" + (f"_{args.on}" if chip else ""))
    dt = 0.02
    steps, change_at = round(args.duration / dt), round(args.change_at / dt)
    seeds = list(range(SEED0, SEED0 + args.seeds))
    out = {
        "spec": str(args.spec),
        "spec_sha256": hashlib.sha256(args.spec.read_bytes()).hexdigest(),
        "backend": "brian2 (cython)" if args.on == "brian2" else args.on,
        "world": WORLD,
        "change": CHANGE,
        "change_s": args.change_at,
        "duration_s": args.duration,
        "seeds": seeds,
        "rules": {c: RULES[c] for c in conds if c in RULES},
        "reward_signal": "CartPole reward − 1 per control step (D −= 1 at each fall), reward_stdp conditions",
        "runs": {},
        "summary": {},
    }
    t0 = time.perf_counter()
    key = {"spec_sha256": out["spec_sha256"], "duration_s": args.duration, "change_s": args.change_at}
    if chip:
        key["backend"] = args.on
    part, parts = (int(x) for x in args.part.split("/"))
    # one file per (condition, seed), so parts can run in parallel and a stopped run resumes
    cache_dir = args.cache or args.out.parent / f"{args.out.name}_runs"
    cache_dir.mkdir(parents=True, exist_ok=True)
    for c in conds:
        spec = None
        out["runs"][c] = []
        for seed in seeds[part::parts]:
            cache = cache_dir / f"{c}_{seed}.json"
            if cache.exists() and json.loads(cache.read_text())["key"] == key:
                run = json.loads(cache.read_text())["run"]
            elif args.cached_only:
                continue
            else:
                spec = spec or spec_with(args.spec, c)
                run = deploy(spec, c, seed, steps, change_at, args.on)
                cache.write_text(json.dumps({"key": key, "run": run}))
                s = summarize(run["falls_s"], args.change_at, args.duration)
                print(
                    f"{c} seed {seed}: falls before {s['falls_before']}, after {s['falls_after']}", flush=True
                )
            out["runs"][c].append({"seed": seed, **run})
    if args.no_report or parts > 1:
        return
    if args.cached_only:  # the seeds every condition has, in order
        common = sorted(set.intersection(*({r["seed"] for r in out["runs"][c]} for c in conds)))
        out["seeds"] = common
        for c in conds:
            out["runs"][c] = [r for r in out["runs"][c] if r["seed"] in common]
    for c in conds:
        out["summary"][c] = [summarize(r["falls_s"], args.change_at, args.duration) for r in out["runs"][c]]
    rng = np.random.default_rng(0)
    out["paired_vs_frozen"] = {}
    if UNREWARDED in conds:  # on the chip the plastic blocks quantize w0 apart from the static synapses
        out["paired_vs_unrewarded"] = {
            c: paired_metrics(out["summary"][c], out["summary"][UNREWARDED], rng)
            for c in conds
            if c.startswith("reward_stdp") and c != UNREWARDED
        }
    for c in conds:
        if c == "frozen":
            continue
        table = paired_metrics(out["summary"][c], out["summary"]["frozen"], rng)
        if RULES[c]["rule"] == "reward_stdp":  # D = 0 until the first fall: it comes at the frozen time
            runs = zip(out["runs"][c], out["runs"]["frozen"])
            firsts = [(r["falls_s"][:1], f["falls_s"][:1]) for r, f in runs]
            table["first_fall_same_as_frozen"] = int(sum(a == b for a, b in firsts))
        ws = [r["weights"] for r in out["runs"][c] if r["weights"]]
        if ws:  # how far the rule moved the chemical weights by the end (|w| relative to the start)
            w0 = np.array([w["initial"] for w in ws])
            w1 = np.array([w["final"] for w in ws])
            top = np.abs(w0) * W_MAX_SCALE[RULES[c]["rule"]]  # w_max (on the chip in LSB, ±1 for rounding)
            table["weights_end"] = {
                "mean_abs_change_relative": float(np.mean(np.abs(w1 - w0)) / np.mean(np.abs(w0))),
                "fraction_at_zero": float(np.mean(np.abs(w1) < 1e-3 * np.abs(w0))),
                "fraction_at_w_max": float(
                    np.mean(np.abs(w1) >= top - 1 if chip else np.abs(w1) > top * (1 - 1e-3))
                ),
            }
        out["paired_vs_frozen"][c] = table
        print(c, json.dumps(table, indent=1), flush=True)
    out["wall_s"] = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=1))
    figure(out).savefig(args.out.with_suffix(".png"), dpi=120)
    print(f"wrote {args.out.with_suffix('.json')} and .png in {out['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
