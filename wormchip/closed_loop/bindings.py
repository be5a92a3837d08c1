"""Sensor and motor bindings at run time: observations → currents, neuron activity → actions.

Pure NumPy, the same for every backend, so a circuit acts identically wherever it runs: `Encoder` turns one
observation into the current per neuron held over the next control period; `Decoder` turns the period's
spike counts and voltages into the world's action (sliding-window rates, population differences, graded
voltages; gain, offset, first-order low-pass, clipping to the action space). `resolve` checks a binding
against a world's observation and action names before anything runs, naming the binding, field and line.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import gymnasium
import numpy as np

from wormchip import ir
from wormchip.circuits.errors import Problem, SpecError, closest


@dataclass(frozen=True)
class Resolved:
    """A binding with observation and action components as indices into the world's vectors."""

    binding: ir.WorldBinding
    observation_index: tuple[int, ...]
    action_index: tuple[int, ...]
    action_space: gymnasium.Space


def _component(names: tuple[str, ...], size: int, key: str | int) -> int | str:
    """Index of `key` (a name or an index) in a vector of `size` components, or an error text."""
    if isinstance(key, int):
        return key if key < size else f"index {key} is out of range: the world has {size} (0…{size - 1})"
    if key in names:
        return names.index(key)
    hint = closest(key, names)
    return f"unknown name{'; ' + hint if hint else ''}; the world has {', '.join(names) or 'no names'}"


def resolve(binding: ir.WorldBinding, world: gymnasium.Env, source: str | None = None) -> Resolved:
    """Check `binding` against `world` (names, index ranges, every action component bound exactly once)."""
    obs_space, act_space = world.observation_space, world.action_space
    n_obs = int(np.prod(obs_space.shape)) if obs_space.shape else 1
    obs_names = tuple(getattr(world, "observation_names", ()))
    act_names = tuple(getattr(world, "action_names", ()))
    if isinstance(act_space, gymnasium.spaces.Discrete):
        n_act = 1
    elif isinstance(act_space, gymnasium.spaces.Box) and len(act_space.shape) == 1:
        n_act = int(act_space.shape[0])
    else:
        raise SpecError(
            [
                Problem(
                    ["bindings", binding.spec_index, "world"],
                    f"action space {act_space} is not supported (a Box vector or a Discrete)",
                    binding.world,
                )
            ],
            source,
        )
    problems = []
    path = ["bindings", binding.spec_index]
    obs_index = []
    for j, sensor in enumerate(binding.sensors):
        found = _component(obs_names, n_obs, sensor.observation)
        if isinstance(found, str):
            problems.append(Problem([*path, "sensors", j, "observation"], found, sensor.observation))
        else:
            obs_index.append(found)
    act_index = []
    for j, motor in enumerate(binding.motors):
        found = _component(act_names, n_act, motor.action)
        if isinstance(found, str):
            problems.append(Problem([*path, "motors", j, "action"], found, motor.action))
        elif found in act_index:
            problems.append(
                Problem([*path, "motors", j, "action"], "action component bound twice", motor.action)
            )
        else:
            act_index.append(found)
    if not problems and len(act_index) != n_act:
        missing = [act_names[i] if i < len(act_names) else str(i) for i in range(n_act) if i not in act_index]
        problems.append(
            Problem(
                [*path, "motors"],
                f"action dimension mismatch: the world takes {n_act} action component(s), the motors bind "
                f"{len(act_index)}; unbound: {', '.join(missing)}",
            )
        )
    if problems:
        raise SpecError(problems, source)
    return Resolved(binding, tuple(obs_index), tuple(act_index), act_space)


class Encoder:
    """Observation → current per neuron (A), see `schema.Sensor`."""

    def __init__(self, resolved: Resolved, n_neurons: int) -> None:
        self.sensors = resolved.binding.sensors
        self.index = resolved.observation_index
        self.n = n_neurons

    def __call__(self, observation: np.ndarray) -> np.ndarray:
        obs = np.asarray(observation, dtype=float).ravel()
        current = np.zeros(self.n)
        for sensor, k in zip(self.sensors, self.index):
            x = obs[k] - sensor.offset
            if sensor.encoding == "on":
                x = max(x, 0.0)
            elif sensor.encoding == "off":
                x = max(-x, 0.0)
            x = min(max(x, sensor.clip[0]), sensor.clip[1])
            current[sensor.targets] += sensor.gain * x
        return current

    def max_current(self) -> np.ndarray:
        """The largest |current| each neuron can receive (sizes the fixed-point bias range)."""
        out = np.zeros(self.n)
        for sensor in self.sensors:
            lo, hi = sensor.clip
            if sensor.encoding in ("on", "off"):
                lo = max(lo, 0.0)
            out[sensor.targets] += abs(sensor.gain) * max(abs(lo), abs(hi))
        return out


class Decoder:
    """Spike counts and voltages of each period → the world's action, see `schema.Motor`."""

    def __init__(self, resolved: Resolved, period: float) -> None:
        self.motors = resolved.binding.motors
        self.index = resolved.action_index
        self.space = resolved.action_space
        self.period = period
        self.windows = [max(1, math.ceil(m.window / period - 1e-9)) for m in self.motors]
        self.history = [deque(maxlen=w) for w in self.windows]
        self.alphas = [1.0 if m.filter is None else 1.0 - math.exp(-period / m.filter) for m in self.motors]
        self.state = np.zeros(len(self.motors))
        self.value = np.zeros(len(self.motors))

    def _readout(self, k: int, counts: np.ndarray, v_rel: np.ndarray) -> float:
        motor = self.motors[k]
        if motor.readout == "voltage":
            return float(np.mean(v_rel[motor.plus])) * 1e3  # mV above rest
        plus = float(np.sum(counts[motor.plus])) / max(len(motor.plus), 1)
        minus = float(np.sum(counts[motor.minus])) / max(len(motor.minus), 1) if len(motor.minus) else 0.0
        self.history[k].append(plus - minus)
        return float(np.sum(self.history[k])) / (len(self.history[k]) * self.period)  # Hz

    def __call__(self, counts: np.ndarray, v_rel: np.ndarray):
        """The action for the world (a float vector for a Box, an int for a Discrete)."""
        for k, motor in enumerate(self.motors):
            raw = motor.gain * self._readout(k, counts, v_rel) + motor.offset
            self.state[k] += self.alphas[k] * (raw - self.state[k])
        self.value = self.state.copy()
        if isinstance(self.space, gymnasium.spaces.Discrete):
            if self.space.n == 2:
                return int(self.state[0] > 0)
            return int(np.clip(np.rint(self.state[0]), 0, self.space.n - 1))
        action = np.zeros(self.space.shape, dtype=self.space.dtype)
        for k, i in enumerate(self.index):
            action[i] = self.state[k]
        return np.clip(action, self.space.low, self.space.high).astype(self.space.dtype)
