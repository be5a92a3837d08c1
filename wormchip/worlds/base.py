"""The world interface: anything a circuit can act in, following gymnasium's `Env` API.

A world is a `gymnasium.Env` (`reset(seed=...) -> (obs, info)`, `step(action) -> (obs, reward, terminated,
truncated, info)`, `observation_space`, `action_space`), so every installed gymnasium environment is a world
for free (`GymWorld` adapts one). wormchip's own worlds subclass `WormWorld`, which adds what the closed loop
and its reports need: names for observation and action components (bindings refer to them), the world
state to record in the trajectory, world-specific metrics of an episode, and a drawing of the trajectory.

Worlds never know which backend runs the circuit: the closed loop (`wormchip.closed_loop`) turns
observations into sensor currents and neuron activity into actions, once per control period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np

from wormchip.errors import WormchipError


class WorldError(WormchipError):
    """A world failed mid-episode, or was built with invalid parameters (wrapped into one clear CLI line).

    A `WormchipError`, so the CLI prints it as one line and exits with code 2.
    """


@dataclass
class Trajectory:
    """One episode of a world: per control step the observation, action, reward and recorded world state.

    `states[k]` is `world.state()` after step k (index 0: after reset); `observations[k]` likewise;
    `actions[k]` and `rewards[k]` belong to the transition k → k + 1. `dt` is world seconds per step.
    """

    dt: float
    observations: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    states: list[dict[str, float]] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False

    @property
    def steps(self) -> int:
        """Control steps taken."""
        return len(self.actions)

    @property
    def episode_return(self) -> float:
        """Sum of rewards."""
        return float(np.sum(self.rewards)) if self.rewards else 0.0

    def state_array(self, key: str) -> np.ndarray:
        """One recorded state variable over time (length steps + 1)."""
        return np.array([s[key] for s in self.states], dtype=float)


class WormWorld(gymnasium.Env):
    """Base of wormchip's own worlds: gymnasium's `Env` plus names, state, metrics and drawing.

    Subclasses set `observation_names`, `action_names` (same lengths as the Box spaces' shapes), `dt`
    (seconds of world time per `step`), and implement `reset`, `step`, `state`, `metrics` and `draw`.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    observation_names: tuple[str, ...] = ()
    action_names: tuple[str, ...] = ()
    dt: float = 0.01

    def state(self) -> dict[str, float]:
        """The world's state to record in the trajectory (e.g. x, y, heading): plain floats."""
        raise NotImplementedError

    def metrics(self, trajectory: Trajectory) -> dict[str, float]:
        """World-specific figures of one episode (e.g. chemotaxis_index); plain floats."""
        raise NotImplementedError

    def draw(self, ax: Any, trajectory: Trajectory, upto: int | None = None) -> None:
        """Draw the trajectory (its first `upto` steps) on a matplotlib axis: the figure and GIF frames."""
        raise NotImplementedError


def rollout(world: gymnasium.Env, policy: Any, steps: int, seed: int | None = None) -> Trajectory:
    """Run `policy(observation) -> action` (plain Python) for up to `steps` steps; the reference rollouts.

    Records what the closed loop records (observations, actions, rewards, `world.state()` when the world has
    one) and stops early when the world terminates or truncates. Used by tests, docs and reference figures.
    """
    has_state = isinstance(world, WormWorld)
    obs, _ = world.reset(seed=seed)
    traj = Trajectory(dt=float(getattr(world, "dt", 1.0)))
    traj.observations.append(np.asarray(obs))
    if has_state:
        traj.states.append(world.state())
    for _ in range(steps):
        action = policy(obs)
        obs, reward, terminated, truncated, _ = world.step(action)
        traj.actions.append(np.asarray(action))
        traj.rewards.append(float(reward))
        traj.observations.append(np.asarray(obs))
        if has_state:
            traj.states.append(world.state())
        if terminated or truncated:
            traj.terminated, traj.truncated = bool(terminated), bool(truncated)
            break
    return traj
