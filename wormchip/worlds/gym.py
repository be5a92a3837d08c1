"""Any installed gymnasium environment as a wormchip world: names for its components, dt, return, a drawing.

gymnasium (Farama Foundation, https://gymnasium.farama.org, MIT) defines the `Env` API that `WormWorld`
follows; this adapter adds what the closed loop needs. Component names for the classic-control tasks follow
gymnasium's documentation of each environment (CartPole after Barto, Sutton & Anderson 1983; Pendulum;
MountainCarContinuous after Moore 1990); other ids get `obs_0…`, `act_0…`. Lechner et al. 2019/2020
(tap-withdrawal circuit as a controller; ICRA 2019 doi:10.1109/ICRA.2019.8793840) used such tasks.

dt (world seconds per step) comes from the environment: `tau` (CartPole, 0.02 s), `dt` (Pendulum, 0.05 s),
else 1 / metadata["render_fps"] (MountainCarContinuous: 1/30 s, its animation rate, as it has no clock),
else 1 s.

Shifts, for testing a controller under conditions it was not trained in (parameters of the world, beside
gymnasium.make's own keyword arguments): `physics` sets attributes of the unwrapped environment after it is
made (CartPole's `length`, `gravity`, `masspole`, `masscart`, `force_mag`; its derived `total_mass` and
`polemass_length` are recomputed); `observation_noise` adds Gaussian noise of that standard deviation to every
observation component (seeded with the episode); `action_delay` applies each action that many steps late (the
first action fills the queue).

A change of the world mid-episode (adaptation during operation): `change` holds shifts of the same three
kinds (`physics`, `observation_noise`, `action_delay`) that take effect after `change_at` steps of an
episode (from the step that follows); `reset` restores the world as made, so every episode starts unchanged.
`changed` says whether the change is in effect.
"""

from __future__ import annotations

import difflib
from collections import deque
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from wormchip.worlds.base import Trajectory, WorldError, WormWorld

# id prefix (before "-v") → (observation names, action names)
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "CartPole": (
        ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"),
        ("push_left", "push_right"),
    ),
    "MountainCarContinuous": (("position", "velocity"), ("force",)),
    "MountainCar": (("position", "velocity"), ("accelerate_left", "no_acceleration", "accelerate_right")),
    "Pendulum": (("cos_theta", "sin_theta", "angular_velocity"), ("torque",)),
    "Acrobot": (
        ("cos_theta1", "sin_theta1", "cos_theta2", "sin_theta2", "angular_velocity1", "angular_velocity2"),
        ("torque_minus", "torque_zero", "torque_plus"),
    ),
}


def _width(space: gymnasium.Space) -> int:
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        return int(space.shape[0])
    raise WorldError(f"gym: only Box (1-D) and Discrete spaces are supported, not {space}")


class GymWorld(WormWorld):
    """A gymnasium environment behind the `WormWorld` interface (spaces and stepping unchanged).

    `action_names` has one name per Box component, or one per choice of a Discrete space (the closed loop
    picks one). `state()` is the current observation as a dict; `metrics` gives the episode `return`.
    """

    def __init__(
        self,
        env_id: str,
        physics: dict[str, float] | None = None,
        observation_noise: float = 0.0,
        action_delay: int = 0,
        change_at: int | None = None,
        change: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Make `env_id` with gymnasium.make(env_id, **kwargs), then apply the shifts (module docstring);
        unknown ids or attributes, negative noise or delay, a `change` without `change_at` (or with unknown
        keys) raise WorldError."""
        super().__init__()
        self.env_id = env_id
        registry = gymnasium.envs.registry
        if env_id not in registry:
            close = difflib.get_close_matches(env_id, list(registry), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else " (see gymnasium.envs.registry)"
            raise WorldError(f"gym: no installed gymnasium environment {env_id!r}{hint}")
        try:
            self.env = gymnasium.make(env_id, **kwargs)
        except Exception as exc:  # missing extras (box2d, mujoco) or bad kwargs: one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorldError(f"gym: cannot make {env_id!r}: {first}") from exc
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        n_obs, n_act = _width(self.observation_space), _width(self.action_space)
        obs_names, act_names = NAMES.get(env_id.split("-v")[0], ((), ()))
        self.observation_names = (
            obs_names if len(obs_names) == n_obs else tuple(f"obs_{i}" for i in range(n_obs))
        )
        self.action_names = act_names if len(act_names) == n_act else tuple(f"act_{i}" for i in range(n_act))
        self.dt = _env_dt(self.env)
        self._obs = np.zeros(n_obs)
        _set_physics(self.env.unwrapped, env_id, physics or {})
        _check_noise_delay(observation_noise, action_delay)
        self.observation_noise = float(observation_noise)
        self.action_delay = int(action_delay)
        self._noise = np.random.default_rng(0)
        self._pending: deque = deque()
        self.change_at, self.change = _check_change(change_at, change)
        self.changed = False
        self._steps = 0
        base = self.env.unwrapped
        # what reset restores: the world as made (shifts included), before any change
        self._initial = (
            {
                name: getattr(base, name)
                for name in (*self.change.get("physics", {}), *_DERIVED)
                if hasattr(base, name)
            },
            self.observation_noise,
            self.action_delay,
        )
        _check_physics(base, env_id, self.change.get("physics", {}))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """gymnasium's reset, seeded."""
        if self.changed:
            physics, self.observation_noise, self.action_delay = self._initial
            for name, value in physics.items():
                setattr(self.env.unwrapped, name, value)
            self.changed = False
        self._steps = 0
        obs, info = self.env.reset(seed=seed, options=options)
        self._noise = np.random.default_rng(None if seed is None else [seed, 0x5EED])
        self._pending.clear()
        self._obs = np.asarray(obs)
        return self._observed(obs), info

    def step(self, action: Any):
        """gymnasium's step; an exception inside the environment becomes a WorldError."""
        if self.change_at is not None and not self.changed and self._steps >= self.change_at:
            self._apply_change()
        self._steps += 1
        if self.action_delay:
            if not self._pending:
                self._pending.extend([action] * self.action_delay)
            self._pending.append(action)
            action = self._pending.popleft()
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as exc:
            raise WorldError(f"gym: {self.env_id} failed in step(): {exc}") from exc
        self._obs = np.asarray(obs)
        return self._observed(obs), reward, terminated, truncated, info

    def _apply_change(self) -> None:
        """Put `change` in effect: physics attributes, noise, and the delay (the queue of pending actions
        grows by repeating its oldest action, or drops its oldest ones)."""
        _set_physics(self.env.unwrapped, self.env_id, self.change.get("physics", {}))
        self.observation_noise = float(self.change.get("observation_noise", self.observation_noise))
        delay = int(self.change.get("action_delay", self.action_delay))
        if self._pending:
            while len(self._pending) > delay:
                self._pending.popleft()
            while len(self._pending) < delay:
                self._pending.appendleft(self._pending[0])
        self.action_delay = delay
        self.changed = True

    def _observed(self, obs: Any) -> Any:
        """The observation the circuit gets: with Gaussian noise when `observation_noise` > 0."""
        if not self.observation_noise:
            return obs
        noisy = np.asarray(obs, dtype=float) + self._noise.normal(0.0, self.observation_noise, np.shape(obs))
        return noisy.astype(np.asarray(obs).dtype)

    def state(self) -> dict[str, float]:
        """The current observation, by name."""
        return {name: float(v) for name, v in zip(self.observation_names, np.ravel(self._obs))}

    def metrics(self, trajectory: Trajectory) -> dict[str, float]:
        """return: the sum of rewards; steps: control steps taken."""
        return {"return": trajectory.episode_return, "steps": float(trajectory.steps)}

    def draw(self, ax: Any, trajectory: Trajectory, upto: int | None = None) -> None:
        """Each observation component over time (s)."""
        n = len(trajectory.states) if upto is None else max(1, min(upto + 1, len(trajectory.states)))
        t = np.arange(n) * trajectory.dt
        for name in self.observation_names:
            ax.plot(t, trajectory.state_array(name)[:n], lw=1.0, label=name)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("observation")
        ax.set_title(f"{self.env_id}, return {float(np.sum(trajectory.rewards[: max(0, n - 1)])):.1f}")
        ax.legend(loc="upper right", fontsize="small")

    def close(self) -> None:
        """Close the wrapped environment."""
        self.env.close()


_DERIVED = ("total_mass", "polemass_length")  # CartPole attributes recomputed from the masses and length
_CHANGE_KEYS = ("physics", "observation_noise", "action_delay")


def _check_noise_delay(observation_noise: float, action_delay: int) -> None:
    if not (observation_noise >= 0.0 and float(action_delay) == int(action_delay) >= 0):
        raise WorldError(
            f"gym: observation_noise must be ≥ 0 and action_delay a whole number ≥ 0, got "
            f"{observation_noise!r} and {action_delay!r}"
        )


def _check_change(change_at: int | None, change: dict[str, Any] | None) -> tuple[int | None, dict[str, Any]]:
    """`change_at` a whole number ≥ 0 when `change` is given; `change`'s keys among `_CHANGE_KEYS`."""
    change = dict(change or {})
    unknown = sorted(set(change) - set(_CHANGE_KEYS))
    if unknown:
        raise WorldError(
            f"gym: change has unknown key(s) {', '.join(unknown)}; use {', '.join(_CHANGE_KEYS)}"
        )
    if change and change_at is None:
        raise WorldError("gym: change needs change_at (the step after which it takes effect)")
    if change_at is not None and not (float(change_at) == int(change_at) >= 0):
        raise WorldError(f"gym: change_at must be a whole number of steps ≥ 0, got {change_at!r}")
    _check_noise_delay(change.get("observation_noise", 0.0), change.get("action_delay", 0))
    return (None if change_at is None else int(change_at)), change


def _check_physics(base: Any, env_id: str, physics: dict[str, float]) -> None:
    """Every name in `physics` is a numeric attribute of the unwrapped environment."""
    for name in physics:
        current = getattr(base, name, None)
        if not isinstance(current, int | float) or isinstance(current, bool):
            numeric = sorted(
                k for k, v in vars(base).items() if isinstance(v, float) and not k.startswith("_")
            )
            raise WorldError(
                f"gym: {env_id} has no numeric attribute {name!r} to shift; it has: {', '.join(numeric)}"
            )


def _set_physics(base: Any, env_id: str, physics: dict[str, float]) -> None:
    """Set attributes of the unwrapped environment; CartPole's derived masses follow."""
    _check_physics(base, env_id, physics)
    for name, value in physics.items():
        setattr(base, name, float(value))
    if physics and {"masspole", "masscart", "length"} <= set(vars(base)):
        base.total_mass = base.masspole + base.masscart
        base.polemass_length = base.masspole * base.length


def _env_dt(env: gymnasium.Env) -> float:
    base = env.unwrapped
    for attr in ("tau", "dt"):
        value = getattr(base, attr, None)
        if isinstance(value, int | float) and value > 0:
            return float(value)
    fps = (getattr(base, "metadata", None) or {}).get("render_fps")
    return 1.0 / float(fps) if fps else 1.0
