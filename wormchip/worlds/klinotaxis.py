"""Klinotaxis: a point worm steering up a NaCl gradient on an agar plate, as in Izquierdo's models.

The kinematic model of Izquierdo & Lockery 2010 (J Neurosci 30:12908, doi:10.1523/JNEUROSCI.2606-10.2010),
Izquierdo & Beer 2013 (PLoS Comput Biol 9:e1002890, doi:10.1371/journal.pcbi.1002890) and Izquierdo,
Williams & Lockery 2015 (eLife 4:e07230, doi:10.7554/eLife.07230); constants read from the authors' code
(github.com/edizquierdo/CE_orientation, `WormAgent.h/.cpp`, re-written here, not copied):

* the worm is a point (its head) moving forward at constant speed v = 0.022 cm/s along its heading θ;
* the heading turns at dθ/dt = turn_gain · steer, with steer = dorsal − ventral neck motor read-out in
  [−1, 1] (the models' θ̇ = gain · (V − D) with evolved gain 1–2 rad/s; default 1.5 rad/s);
* the head sweep is **not** added by the world: as in those models, a central oscillator drives the neck
  motor neurons (observation `sweep` = sin(2π t / 4.2 s), head-sweep period from Ferree, Marcotte & Lockery
  1997), and the circuit passes it (biased) to `steer`. With `steer = 0` the worm crawls straight.
* concentration is sensed at the head: Gaussian C = C₀ exp(−r²/(2σ²)), σ = 1.61 cm (Ward 1973 via Ferree &
  Lockery 1999 eq. 14, the models' `ChemDiffConst = 2·1.61²`), or the cone C = s·(R − r) of the CE_orientation
  code (steepness s = 0.5 per cm, R = 9 cm so the start, 4.5 cm out, sits at half height);
* start 4.5 cm from the peak (`MaxDist`), position angle and heading drawn from the seed.

The chemotaxis index is the models' performance measure: 1 − ⟨d(t)⟩ / d₀ (time-averaged distance to the
peak, normalized by the start distance; CE_orientation's fitness clips it at 0, we do not, so worms that
move away score below 0). See docs/worlds.md for equations, metrics and measured figures.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
from gymnasium import spaces

from wormchip.worlds.base import Trajectory, WorldError, WormWorld

SPEED_CM_S = 0.022  # MaxVel in CE_orientation (Izquierdo & Lockery 2010; Izquierdo & Beer 2013)
START_DISTANCE_CM = 4.5  # MaxDist in CE_orientation
HEAD_SWEEP_PERIOD_S = 4.2  # HST, Ferree, Marcotte & Lockery 1997
GAUSSIAN_WIDTH_CM = 1.61  # σ: ChemDiffConst = 2·1.61² (Ward 1973; Ferree & Lockery 1999 eq. 14)
TURN_GAIN_RAD_S = 1.5  # middle of the evolved neck-turn gain range [1, 2] (CE_orientation main.cpp)
CONE_STEEPNESS_PER_CM = 0.5  # gradSteep in CE_orientation's evaluation
CONE_RADIUS_CM = 9.0  # MaxDist is "half the radius of the big petri dish"


GRADIENTS = ("gaussian", "linear")


class Plate:
    """An agar plate with a NaCl peak at the origin (cm): the Gaussian or the cone profile of the models.

    Shared by the point worm (`KlinotaxisWorld`) and the ElegansBot body (`BodyWorld` with a gradient), so
    both sense the same plate.
    """

    def __init__(
        self,
        gradient: str = "gaussian",
        peak_concentration: float = 1.0,
        gradient_width: float = GAUSSIAN_WIDTH_CM,
        steepness: float = CONE_STEEPNESS_PER_CM,
        plate_radius: float = CONE_RADIUS_CM,
    ) -> None:
        """Check and keep the profile's parameters (one-line WorldErrors)."""
        if gradient not in GRADIENTS:
            raise WorldError(f"klinotaxis: gradient must be 'gaussian' or 'linear', not {gradient!r}")
        for name, value in (("gradient_width", gradient_width), ("steepness", steepness),
                            ("plate_radius", plate_radius)):  # fmt: skip
            _check_positive(name, value)
        self.gradient = gradient
        self.peak_concentration = float(peak_concentration)
        self.gradient_width = float(gradient_width)
        self.steepness = float(steepness)
        self.plate_radius = float(plate_radius)

    def concentration_at(self, x: float | np.ndarray, y: float | np.ndarray) -> float | np.ndarray:
        """NaCl concentration at (x, y) cm; the peak is at the origin."""
        r2 = np.square(x) + np.square(y)
        if self.gradient == "gaussian":
            return self.peak_concentration * np.exp(-r2 / (2.0 * self.gradient_width**2))
        return self.steepness * (self.plate_radius - np.sqrt(r2))


class ChemicalSense:
    """What a worm senses of the plate: the concentration at its head, the rate of change over a window
    (ASE's temporal comparison, (C(t) − C(t − W)) / W with W a whole number of world steps), and the phase of
    the head-sweep oscillator that drives the neck motor neurons."""

    def __init__(self, dt: float, derivative_window_s: float, sweep_period: float) -> None:
        """Check the window and the sweep period; the window is rounded to whole steps of `dt` (at least 1)."""
        for name, value in (("derivative_window_s", derivative_window_s), ("sweep_period", sweep_period)):
            _check_positive(name, value)
        self.dt = float(dt)
        self.sweep_period = float(sweep_period)
        self.window_steps = max(1, round(derivative_window_s / self.dt))
        self.derivative_window_s = self.window_steps * self.dt
        self._history: deque[float] = deque(maxlen=self.window_steps + 1)

    def reset(self, concentration: float) -> None:
        """Start at rest: the whole window holds `concentration`, so dC/dt = 0."""
        self._history = deque([concentration] * (self.window_steps + 1), maxlen=self.window_steps + 1)

    def sense(self, concentration: float) -> None:
        """Record the concentration at the head after one world step."""
        self._history.append(concentration)

    @property
    def concentration(self) -> float:
        """The latest concentration at the head."""
        return self._history[-1]

    def observation(self, t: float) -> list[float]:
        """[concentration, dC_dt, sweep, head_side] at time t: sweep = sin φ, head_side = −cos φ, with
        φ = 2π t / sweep_period."""
        h = self._history
        phase = 2.0 * math.pi * t / self.sweep_period
        return [h[-1], (h[-1] - h[0]) / (self.dt * (len(h) - 1)), math.sin(phase), -math.cos(phase)]


def _check_positive(name: str, value: Any) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise WorldError(f"klinotaxis: {name} must be a positive number, not {value!r}")


class KlinotaxisWorld(WormWorld):
    """A point worm on an agar plate with a NaCl peak; one action steers its heading (dorsal − ventral).

    Observations: `concentration` (at the head), `dC_dt` (per second, over the last `derivative_window_s`),
    `sweep` = sin φ of the head-sweep oscillator (the input of the neck motor neurons), `head_side` = −cos φ
    (+1 when a circuit that follows `sweep` has its head at the dorsal extreme). Action: `steer` in [−1, 1].
    Reward per step: the decrease of the distance to the peak (cm), so the return is d₀ − d_final.
    """

    observation_names = ("concentration", "dC_dt", "sweep", "head_side")
    action_names = ("steer",)

    def __init__(
        self,
        dt: float = 0.05,
        start_distance: float = START_DISTANCE_CM,
        gradient: str = "gaussian",
        peak_concentration: float = 1.0,
        gradient_width: float = GAUSSIAN_WIDTH_CM,
        steepness: float = CONE_STEEPNESS_PER_CM,
        speed: float = SPEED_CM_S,
        turn_gain: float = TURN_GAIN_RAD_S,
        sweep_period: float = HEAD_SWEEP_PERIOD_S,
        derivative_window_s: float = 0.5,
        near_radius: float = 1.0,
        plate_radius: float = CONE_RADIUS_CM,
    ) -> None:
        """Build the plate; distances in cm, times in s, concentrations in arbitrary units (peak = 1)."""
        super().__init__()
        self.plate = Plate(gradient, peak_concentration, gradient_width, steepness, plate_radius)
        for name, value in (("dt", dt), ("start_distance", start_distance), ("near_radius", near_radius)):
            _check_positive(name, value)
        self.dt = float(dt)
        self.sense = ChemicalSense(self.dt, derivative_window_s, sweep_period)
        self.start_distance = float(start_distance)
        self.gradient = gradient
        self.speed = float(speed)
        self.turn_gain = float(turn_gain)
        self.near_radius = float(near_radius)
        self.derivative_window_s = self.sense.derivative_window_s
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float64)
        self._x = self._y = self._heading = self._t = 0.0

    # -- physics --------------------------------------------------------------------------------------

    def concentration_at(self, x: float | np.ndarray, y: float | np.ndarray) -> float | np.ndarray:
        """NaCl concentration at (x, y) cm; the peak is at the origin."""
        return self.plate.concentration_at(x, y)

    def _observation(self) -> np.ndarray:
        return np.array(self.sense.observation(self._t), dtype=np.float64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start `start_distance` from the peak at a seeded random angle, with a seeded random heading."""
        super().reset(seed=seed)
        angle = float(self.np_random.uniform(0.0, 2.0 * math.pi))
        self._heading = float(self.np_random.uniform(0.0, 2.0 * math.pi))
        self._x = self.start_distance * math.cos(angle)
        self._y = self.start_distance * math.sin(angle)
        self._t = 0.0
        self.sense.reset(float(self.concentration_at(self._x, self._y)))
        return self._observation(), {}

    def step(self, action: Any):
        """Turn by turn_gain·steer·dt (steer clipped to [−1, 1]), then crawl speed·dt along the heading."""
        steer = float(np.clip(np.asarray(action, dtype=float).reshape(-1)[0], -1.0, 1.0))
        if not math.isfinite(steer):
            raise WorldError(f"klinotaxis: the action steer is not finite ({steer})")
        before = math.hypot(self._x, self._y)
        self._heading += self.turn_gain * steer * self.dt
        self._x += self.speed * math.cos(self._heading) * self.dt
        self._y += self.speed * math.sin(self._heading) * self.dt
        self._t += self.dt
        self.sense.sense(float(self.concentration_at(self._x, self._y)))
        reward = before - math.hypot(self._x, self._y)
        return self._observation(), reward, False, False, {}

    def state(self) -> dict[str, float]:
        """x, y (cm), heading (rad), concentration, distance_to_peak (cm) and time (s)."""
        return {
            "t": self._t,
            "x": self._x,
            "y": self._y,
            "heading": self._heading,
            "concentration": self.sense.concentration,
            "distance_to_peak": math.hypot(self._x, self._y),
        }

    # -- reports -------------------------------------------------------------------------------------

    def metrics(self, trajectory: Trajectory) -> dict[str, float]:
        """chemotaxis_index = 1 − mean(d)/d(0); mean, final distance; fraction of steps within near_radius."""
        return chemotaxis_metrics(trajectory.state_array("distance_to_peak"), self.near_radius)

    def draw(self, ax: Any, trajectory: Trajectory, upto: int | None = None) -> None:
        """The plate (gradient contours), the peak, the start, and the path up to step `upto`."""
        xs = trajectory.state_array("x")
        ys = trajectory.state_array("y")
        n = len(xs) if upto is None else max(1, min(upto + 1, len(xs)))
        extent = 1.2 * max(self.start_distance, float(np.max(np.hypot(xs, ys))) if len(xs) else 0.0)
        grid = np.linspace(-extent, extent, 121)
        gx, gy = np.meshgrid(grid, grid)
        ax.contourf(gx, gy, self.concentration_at(gx, gy), levels=12, cmap="Blues", alpha=0.6)
        ax.plot([0.0], [0.0], marker="*", color="gold", markeredgecolor="k", markersize=14, label="NaCl peak")
        ax.add_patch(_circle(self.near_radius))
        if len(xs):
            ax.plot(xs[:n], ys[:n], color="tab:red", lw=1.2, label="worm (head)")
            ax.plot([xs[0]], [ys[0]], "o", color="k", markersize=4, label="start")
            ax.plot([xs[n - 1]], [ys[n - 1]], "o", color="tab:red", markersize=5)
        ax.set_aspect("equal")
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_xlabel("x (cm)")
        ax.set_ylabel("y (cm)")
        ax.set_title(f"klinotaxis, t = {(n - 1) * trajectory.dt:.1f} s")
        ax.legend(loc="upper right", fontsize="small")


def chemotaxis_metrics(distance: np.ndarray, near_radius: float) -> dict[str, float]:
    """From the distance to the peak at every step (cm): chemotaxis_index = 1 − mean(d)/d(0), the mean and
    final distance, and the fraction of steps within `near_radius`."""
    if distance.size == 0:
        raise WorldError("klinotaxis: the trajectory holds no states")
    return {
        "chemotaxis_index": float(1.0 - distance.mean() / distance[0]),
        "mean_distance_to_peak": float(distance.mean()),
        "final_distance_to_peak": float(distance[-1]),
        "fraction_time_near_peak": float(np.mean(distance < near_radius)),
    }


def _circle(radius: float) -> Any:
    from matplotlib.patches import Circle

    return Circle((0.0, 0.0), radius, fill=False, ls="--", color="gray", lw=0.8)


def reference_klinotaxis_policy(
    obs: np.ndarray, sweep_amplitude: float = 0.5, bias_gain: float = 1.0, dcdt_scale: float = 3e-3
) -> np.ndarray:
    """The klinotaxis rule in one line: follow the head sweep, and bias it toward the side where C rises.

    steer = a·sweep + g·head_side·tanh(dC_dt / scale): when the head is on one side and the concentration
    is rising, turn further to that side; when it falls, turn back (Izquierdo & Lockery 2010's mechanism,
    as a closed form). Negative `bias_gain` gives the reversed controller used as a control. The defaults
    (a = 0.5, g = 1, scale = 0.003 per s, about a third of the steepest dC/dt either default gradient gives
    at 0.022 cm/s) work on both gradient shapes; see docs/worlds.md for the measured indices.
    """
    _, dcdt, sweep, head_side = (float(v) for v in np.asarray(obs, dtype=float)[:4])
    steer = sweep_amplitude * sweep + bias_gain * head_side * math.tanh(dcdt / dcdt_scale)
    return np.array([min(1.0, max(-1.0, steer))], dtype=np.float64)
