"""The score of a candidate spec: a weighted sum of objective terms, computed where Dask puts it.

Terms: a world metric (or the episode return, or a `STAT:NAME` statistic of a recorded state variable such as
`max:position`, a shaping term) averaged over closed-loop episodes with fixed world seeds
(0 … episodes − 1, so every candidate meets the same worlds), target firing rates from a CSV file (minus the
RMS error in Hz, open loop), or a Python callable `f(spec) -> float` (API only: spec files are data). An
optional IR transform (API only, e.g. `transforms.current_based` for a circuit's current-based twin) is applied
to every candidate's network before it runs. `Evaluator`
is a small picklable object: Dask ships it to the workers once, and each task is one candidate.
"""

from __future__ import annotations

import csv
import difflib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from wormchip import ir
from wormchip.circuits.errors import Problem, SpecError
from wormchip.circuits.schema import CircuitSpec, Objective

#: A metric undefined in every episode (e.g. `reversal` when no anterior touch happened) scores this, times
#: the term's weight: worse than any defined value of the bounded metrics we ship.
UNDEFINED_PENALTY = -1e3


@dataclass
class Evaluation:
    """One candidate's score and its terms (each as the raw metric value), and how long it took."""

    score: float
    terms: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0


def read_target(path: Path) -> dict[str, float]:
    """`neuron,rate_hz` rows → {neuron: rate}."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return {row["neuron"]: float(row["rate_hz"]) for row in rows}
    except (OSError, KeyError, ValueError) as err:
        raise SpecError([Problem(["fit", "objectives", "target"], f"cannot read target rates: {err}; expected "
                                 "a CSV with columns neuron,rate_hz", str(path))]) from None  # fmt: skip


class Evaluator:
    """Candidate spec (plain data) → `Evaluation`, on backend `on`."""

    def __init__(
        self,
        objectives: list[Objective],
        on: str,
        base_dir: str | None = None,
        extra: Callable[[CircuitSpec], float] | None = None,
        network_transform: Callable[[ir.Network], ir.Network] | None = None,
    ) -> None:
        self.objectives = objectives
        self.network_transform = network_transform
        self.on = on
        self.base_dir = base_dir
        self.extra = extra
        self.targets = {
            k: read_target(Path(base_dir or ".") / o.target)
            for k, o in enumerate(objectives)
            if o.metric == "rates"
        }

    def __call__(self, candidate: dict) -> Evaluation:
        t0 = time.perf_counter()
        spec = CircuitSpec.model_validate(candidate)
        score, terms = 0.0, {}
        for k, objective in enumerate(self.objectives):
            value = self._term(k, objective, spec)
            terms[
                f"{objective.metric}@{objective.world or 'default'}"
                if objective.metric != "rates"
                else "rates_rmse_hz"
            ] = value
            if math.isnan(value):
                score += UNDEFINED_PENALTY * abs(objective.weight)
            else:
                score += objective.weight * (value if objective.goal == "maximize" else -value)
        if self.extra is not None:
            value = float(self.extra(spec))
            terms["callable"] = value
            score += value
        return Evaluation(score, terms, time.perf_counter() - t0)

    def _term(self, k: int, objective: Objective, spec: CircuitSpec) -> float:
        if objective.metric == "rates":
            from wormchip.circuits.build import build
            from wormchip.pipeline import run_circuit

            circuit = spec
            if self.network_transform is not None:
                circuit = self.network_transform(build(spec, base_dir=self.base_dir))
            result = run_circuit(circuit, on=self.on)
            rates = result.rates_hz()
            target = self.targets[k]
            return float(np.sqrt(np.mean([(rates.get(n, 0.0) - r) ** 2 for n, r in target.items()])))
        return episode_metric(spec, objective, self.on, self.base_dir, self.network_transform)


def episode_metric(
    spec: CircuitSpec,
    objective: Objective,
    on: str,
    base_dir: str | None = None,
    network_transform: Callable[[ir.Network], ir.Network] | None = None,
) -> float:
    """Mean of a world metric over `objective.episodes` closed-loop episodes (NaN if undefined in all);
    `network_transform` (IR → IR, e.g. `transforms.current_based`) is applied to the built network."""
    from wormchip.circuits.build import build
    from wormchip.closed_loop.bindings import resolve
    from wormchip.closed_loop.episode import _make_world, choose_binding, parse_statistic, run_prepared

    network = build(spec, base_dir=base_dir)
    if network_transform is not None:
        network = network_transform(network)
    binding = choose_binding(network, objective.world)
    if objective.world_params:
        binding = replace(binding, params={**binding.params, **objective.world_params})
    env = _make_world(binding)
    resolved = resolve(binding, env)
    statistics = [objective.metric] if parse_statistic(objective.metric) else []
    values = []
    for seed in range(objective.episodes):
        episode = run_prepared(
            network, binding, env, resolved, on, seed, objective.duration, statistics=statistics
        )
        values.append(episode.metrics.get(objective.metric, math.nan))
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def check_objectives(
    spec: CircuitSpec,
    objectives: list[Objective] | None = None,
    base_dir: str | None = None,
    option: str | None = None,
) -> None:
    """Before any work: every objective's world is bound and its metric is one the world reports
    (`objectives`: default the spec's `fit.objectives`; `option`: the CLI option they came from, for errors)."""
    from wormchip.circuits.build import build
    from wormchip.closed_loop.episode import EpisodeError, _make_world, choose_binding, parse_statistic
    from wormchip.worlds.base import Trajectory, WormWorld

    problems = []
    network = build(spec, base_dir=base_dir)
    for k, objective in enumerate(spec.fit.objectives if objectives is None else objectives):
        path = [option] if option else ["fit", "objectives", k]
        if objective.metric == "rates":
            if not objective.target:
                problems.append(Problem([*path, "target"], "`metric: rates` needs a `target` CSV file"))
            continue
        try:
            binding = choose_binding(network, objective.world)
            env = _make_world(replace(binding, params={**binding.params, **objective.world_params}))
        except EpisodeError as err:
            problems.append(Problem(path if option else [*path, "world"], str(err), objective.world))
            continue
        known = {"return", "steps"}
        state: set[str] = set()
        if isinstance(env, WormWorld):  # its metric names, from a one-step trajectory
            obs, _ = env.reset(seed=0)
            trajectory = Trajectory(dt=env.dt, observations=[obs], states=[env.state()])
            obs, reward, *_ = env.step(env.action_space.sample() * 0)
            trajectory.actions.append(np.zeros(1))
            trajectory.rewards.append(float(reward))
            trajectory.observations.append(obs)
            trajectory.states.append(env.state())
            known |= set(env.metrics(trajectory))
            state = set(trajectory.states[0])
        statistic = parse_statistic(objective.metric)
        if objective.metric not in known and not (statistic and statistic[1] in state):
            problems.append(Problem(path if option else [*path, "metric"],
                                    _unknown_metric(binding.world, objective.metric, known, state),
                                    objective.metric))  # fmt: skip
    if problems:
        from wormchip.circuits.loader import located

        raise located(problems, spec)


def _unknown_metric(world: str, metric: str, known: set[str], state: set[str]) -> str:
    """One line: what the world reports (its metrics and `STAT:NAME` statistics) and the closest name."""
    from wormchip.closed_loop.episode import STATISTICS

    candidates = sorted(known) + [f"{stat}:{name}" for stat in STATISTICS for name in sorted(state)]
    close = difflib.get_close_matches(metric, candidates, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    reports = ", ".join(sorted(known))
    if state:
        reports += f", and {'|'.join(STATISTICS)}:NAME for NAME in {', '.join(sorted(state))}"
    return f"world {world!r} has no metric {metric!r}; it reports: {reports}{hint}"
