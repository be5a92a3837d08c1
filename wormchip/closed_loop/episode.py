"""`run_episode`: a circuit acting in a world, on any backend, one control period at a time.

Each control step: the world's observation → `Encoder` → sensor currents held for one control period in
the backend's stepping session → spike counts and voltages → `Decoder` → action → `world.step`. The
result holds the world trajectory beside the spikes. The circuit's own stimuli are dropped: the world
is its input.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wormchip import ir
from wormchip.circuits.build import build
from wormchip.circuits.errors import Problem, SpecError
from wormchip.circuits.loader import located
from wormchip.circuits.schema import CircuitSpec
from wormchip.closed_loop.bindings import Decoder, Encoder, resolve
from wormchip.closed_loop.sessions import open_session
from wormchip.errors import WormchipError
from wormchip.result import Result
from wormchip.simulate import prepare
from wormchip.units import UnitError, parse_quantity
from wormchip.worlds import WORLDS, make_world
from wormchip.worlds.base import Trajectory, WorldError, WormWorld

Progress = Callable[[float], None]
#: A reward signal for three-factor plasticity: (observation, reward, terminated) after a world step → the
#: amount added to the circuit's neuromodulator D before the next control period (0: nothing).
Modulation = Callable[[np.ndarray, float, bool], float]


class EpisodeError(WormchipError):
    """An episode could not run (the world raised mid-episode, no binding for the world, ...)."""


#: `STAT:NAME` metrics: each statistic over a state variable's values in an episode (reset included).
STATISTICS: dict[str, Callable[[np.ndarray], float]] = {
    "min": np.min,
    "max": np.max,
    "mean": np.mean,
    "final": lambda values: values[-1],
}


def parse_statistic(metric: str) -> tuple[str, str] | None:
    """`max:position` → ("max", "position"); None when `metric` is not a `STAT:NAME` metric."""
    stat, colon, name = metric.partition(":")
    return (stat, name) if colon and stat in STATISTICS and name else None


def state_statistic(trajectory: Trajectory, metric: str) -> float:
    """The `STAT:NAME` metric of an episode: STAT over the recorded values of state variable NAME."""
    parsed = parse_statistic(metric)
    if parsed is None:
        raise EpisodeError(f"{metric!r} is not STAT:NAME with STAT one of {', '.join(STATISTICS)}")
    stat, name = parsed
    if not trajectory.states or name not in trajectory.states[0]:
        have = ", ".join(trajectory.states[0]) if trajectory.states else "nothing"
        raise EpisodeError(f"metric {metric!r}: no state variable {name!r}; the world records: {have}")
    return float(STATISTICS[stat](trajectory.state_array(name)))


@dataclass
class EpisodeResult:
    """One episode: the world trajectory, the spikes, the world's metrics and the episode return."""

    circuit: str
    world: str
    on: str
    seed: int
    trajectory: Trajectory
    result: Result
    metrics: dict[str, float]
    wall_s: float
    control_period: float
    world_env: object = field(repr=False, default=None)

    @property
    def episode_return(self) -> float:
        return self.trajectory.episode_return


def choose_binding(network: ir.Network, world: str | None) -> ir.WorldBinding:
    """The circuit's binding for `world` (its first binding when None)."""
    if not network.bindings:
        raise EpisodeError(
            f"circuit {network.name!r} has no world bindings; add a `bindings:` section (docs/closed_loop.md)"
        )
    if world is None:
        return network.bindings[0]
    for binding in network.bindings:
        if binding.world == world:
            return binding
    if world not in WORLDS and not world.startswith("gym:"):
        raise EpisodeError(f"unknown world {world!r}; choose one of {', '.join(WORLDS)} or gym:<id>")
    have = ", ".join(b.world for b in network.bindings)
    raise EpisodeError(f"circuit {network.name!r} has no binding for world {world!r}; it has: {have}")


def _make_world(binding: ir.WorldBinding) -> object:
    """The world of a binding; worm worlds step once per control period (their `dt`) unless told otherwise."""
    params = dict(binding.params)
    if not binding.world.startswith("gym:"):
        params.setdefault("dt", binding.control_period)
    try:
        return make_world(binding.world, **params)
    except WorldError as err:
        raise EpisodeError(str(err)) from None


def prepare_episode(
    circuit: str | Path | CircuitSpec, world: str | None = None, seed: int | None = None
) -> tuple[ir.Network, ir.WorldBinding, object, object]:
    """Build the circuit, choose the binding, make the world and check the binding against it."""
    spec, base = prepare(circuit, seed=seed)
    network = build(spec, base_dir=base)
    binding = choose_binding(network, world)
    env = _make_world(binding)
    try:
        resolved = resolve(binding, env)
    except SpecError as err:
        raise located(err.problems, spec) from None
    return network, binding, env, resolved


def episode_steps(binding: ir.WorldBinding, env: object, duration: str | float | None) -> int:
    """World steps in an episode of `duration` world seconds (default: the binding's)."""
    if duration is None:
        seconds = binding.duration
    elif isinstance(duration, str):
        try:
            seconds = parse_quantity(duration, "time")
        except UnitError as err:
            raise SpecError([Problem(["--duration"], str(err), duration)]) from None
    else:
        seconds = float(duration)
    if not seconds > 0:
        raise SpecError([Problem(["--duration"], "must be positive", duration)])
    world_dt = float(getattr(env, "dt", binding.control_period))
    return max(1, int(math.ceil(seconds / world_dt - 1e-9)))


def run_episode(
    circuit: str | Path | CircuitSpec,
    world: str | None = None,
    on: str = "brian2",
    seed: int = 0,
    duration: str | float | None = None,
    report: Progress | None = None,
    brian2_mode: str = "operation",
    timeout_s: float = 60.0,
) -> EpisodeResult:
    """Run one episode of `circuit` in `world` (a name its spec binds: klinotaxis, touch, body, gym:ID) on
    `on` (brian2, emulator or lava); `seed` seeds the world's reset; `duration` is world time ("60 s")."""
    network, binding, env, resolved = prepare_episode(circuit, world)
    return run_prepared(network, binding, env, resolved, on, seed, duration, report, brian2_mode, timeout_s)


def run_prepared(
    network: ir.Network,
    binding: ir.WorldBinding,
    env,
    resolved,
    on: str,
    seed: int,
    duration: str | float | None = None,
    report: Progress | None = None,
    brian2_mode: str = "operation",
    timeout_s: float = 60.0,
    modulation: Modulation | None = None,
    statistics: Sequence[str] = (),
) -> EpisodeResult:
    """`run_episode` for an already prepared circuit and world (several episodes reuse them); `modulation`
    turns each world step into a reward signal for the circuit's `reward_stdp` rules (Brian2, emulator, Lava);
    `statistics`: `STAT:NAME` metrics to add to the episode's metrics (`state_statistic`)."""
    t0 = time.perf_counter()
    n_steps = episode_steps(binding, env, duration)
    period_steps = max(1, int(round(binding.control_period / network.dt)))
    period = period_steps * network.dt
    encoder = Encoder(resolved, network.size)
    decoder = Decoder(resolved, period)
    session = open_session(
        network, on, period_steps, n_steps * period_steps, encoder.max_current(), brian2_mode, timeout_s
    )
    trajectory = Trajectory(dt=float(getattr(env, "dt", period)))
    if modulation is not None and not hasattr(session, "modulate"):
        session.close()
        raise EpisodeError(
            f"a reward signal (modulation) needs the brian2, emulator or lava closed loop, not {on!r}"
        )
    try:
        obs, _ = env.reset(seed=seed)
        trajectory.observations.append(np.asarray(obs, dtype=float).ravel())
        trajectory.states.append(_state(env, obs))
        for k in range(n_steps):
            out = session.advance(period_steps, encoder(obs))
            action = decoder(out.counts, out.v_rel)
            try:
                obs, reward, terminated, truncated, _ = env.step(action)
            except Exception as err:
                raise EpisodeError(
                    f"world {binding.world!r} raised at step {k} of seed {seed}: {type(err).__name__}: {err}"
                ) from err
            trajectory.actions.append(np.atleast_1d(np.asarray(action, dtype=float)))
            trajectory.rewards.append(float(reward))
            trajectory.observations.append(np.asarray(obs, dtype=float).ravel())
            trajectory.states.append(_state(env, obs))
            if modulation is not None:
                amount = float(modulation(trajectory.observations[-1], float(reward), bool(terminated)))
                if amount:
                    session.modulate(amount)
            if report is not None and (k % 20 == 0 or k == n_steps - 1):
                report((k + 1) / n_steps)
            if terminated or truncated:
                trajectory.terminated, trajectory.truncated = bool(terminated), bool(truncated)
                break
    finally:
        result = session.close()
    metrics = {"return": trajectory.episode_return, "steps": float(trajectory.steps)}
    if isinstance(env, WormWorld):
        metrics.update(env.metrics(trajectory))
    metrics.update({metric: state_statistic(trajectory, metric) for metric in statistics})
    result.metadata.update(circuit=network.metadata.get("circuit", network.name), world=binding.world)
    return EpisodeResult(
        circuit=network.metadata.get("circuit", network.name),
        world=binding.world,
        on=on,
        seed=seed,
        trajectory=trajectory,
        result=result,
        metrics={k: float(v) for k, v in metrics.items()},
        wall_s=time.perf_counter() - t0,
        control_period=period,
        world_env=env,
    )


def _state(env, obs) -> dict[str, float]:
    """The world's recorded state (gym environments: the observation components)."""
    if isinstance(env, WormWorld):
        return {k: float(v) for k, v in env.state().items()}
    return {f"obs_{i}": float(x) for i, x in enumerate(np.asarray(obs, dtype=float).ravel())}


def summarize(episodes: list[EpisodeResult]) -> dict:
    """Mean and standard deviation of the return and of every metric over episodes."""
    returns = np.array([e.episode_return for e in episodes])
    keys = sorted({k for e in episodes for k in e.metrics})
    metrics = {}
    for key in keys:
        values = np.array([e.metrics[key] for e in episodes if key in e.metrics], dtype=float)
        finite = values[np.isfinite(values)]
        metrics[key] = float(finite.mean()) if len(finite) else None
        metrics[f"{key}_std"] = float(finite.std()) if len(finite) else None
    return {
        "episodes": len(episodes),
        "return_mean": float(returns.mean()) if len(returns) else None,
        "return_std": float(returns.std()) if len(returns) else None,
        "metrics": metrics,
    }
