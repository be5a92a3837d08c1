"""The worm body of ElegansBot: a 2-D rod chain on agar, driven by forward and backward command read-outs.

ElegansBot (Chung, Chang & Kim 2024, eLife 12:RP92562, doi:10.7554/eLife.92562; PyPI `elegansbot` 1.0.2,
MIT) models the worm as n = 25 rigid rods joined by damped torsion springs, with anisotropic agar friction
(b⊥ = 1.28·10⁸ µg/s, b∥ = b⊥/40) and Newtonian dynamics integrated at 10 µs. Its input is the target angle of
each of the n − 1 joints (`Worm.act`); its published forward gait is the travelling wave

    θ_ctrl,j(t) = A cos(2π (k u_j − t / T)),   u_j = j / (n − 2),  A = 0.7 rad, k = 1.832, T = 1.6 s

(the package's own example), a wave running head (j = 0) to tail, which propels the worm head first.

This world turns two command read-outs into that wave: `forward` (AVB-like) and `backward` (AVA-like), both
in [0, 1]. The wave phase advances as dφ/dt = sign(forward − backward) · 2π / T and the amplitude is
A · |forward − backward|, so the stronger command sets the direction (the wave runs tail → head for backward
drive, as in reversals) and the margin between them its strength: co-activation cancels (no wave, the worm
stops), as AVA and AVB activity are mutually exclusive in the real worm (Chalfie et al. 1985). The phase is
integrated, not reset, so the body never jumps when the direction flips. Speed is measured along the body
axis (tail → head), positive forward.

With `gradient` ('gaussian' or 'linear') the body crawls on the klinotaxis world's NaCl plate (the same
`Plate`, cm, peak at the origin; the head starts `start_distance` from it at the seeded angle and heading the
point worm gets for the same seed). It then also senses what the point worm senses, at its head rod
(`ChemicalSense`: concentration, dC_dt, and the 4.2 s head-sweep oscillator `sweep`, `head_side`), and a third
action `steer` in [−1, 1] bends the neck: the first `neck_joints` joint targets get `neck_bend · steer` on
top of the wave (positive turns the head toward +heading, counter-clockwise, as in the point worm).

It is slow: ElegansBot's numba step takes over 95 % of the time, about 1.1 s per simulated second at the
default physics_dt = 10 µs (2,000 steps per 20 ms control period; one core, load 1; after a one-off numba
compile cached on disk), about 0.23 s at 50 µs and 0.1 s at 100 µs. The integrator is first order: under a
fixed drive the head's distance from the 10 µs path grows as C·(physics_dt − 10 µs), about 9 µm per 10 µs per
20 s of crawling (0.19 mm/s); at 50 µs that is 1.2 % of the distance crawled after 60 s
(`test_physics_step_converges`). In closed loop the steering can amplify such differences; for the fitted
klinotaxis spec (docs/fit.md, stage 4), seed 100, 600 s, the chemotaxis index is 0.750 / 0.747 (Gaussian /
cone) at 10 µs and 0.748 / 0.748 at 50 µs. Check a new spec at the default 10 µs before trusting 50 µs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from wormchip.worlds.base import Trajectory, WorldError, WormWorld
from wormchip.worlds.klinotaxis import (
    HEAD_SWEEP_PERIOD_S,
    START_DISTANCE_CM,
    ChemicalSense,
    Plate,
    chemotaxis_metrics,
)

WAVE_AMPLITUDE_RAD = 0.7  # ElegansBot's example forward gait
WAVE_NUMBER = 1.832  # waves per body length, ElegansBot's example
WAVE_PERIOD_S = 1.6  # ElegansBot's example
OUTLINE_POINTS = (0, 4, 8, 12, 16, 20, 24)  # rods recorded per state for drawing
MM_PER_CM = 10.0  # ElegansBot's lengths are in mm (body length L = 1 mm), the plate's in cm
NECK_JOINTS = 4  # the head's share of the 24 joints bent by `steer` (about the first sixth of the body)
NECK_BEND_RAD = (
    0.2  # joint bend per unit steer: path curvature ≈ 6.8/mm·steer, the point worm's turn_gain / speed
)


class BodyWorld(WormWorld):
    """ElegansBot's body crawling on agar; actions `forward`, `backward` in [0, 1] set its undulation wave.

    Observations: `speed` (mm/s along the body axis, + = head first) and `head_bend` (rad, the first joint's
    angle); with a `gradient` also `concentration`, `dC_dt`, `sweep`, `head_side` (as the klinotaxis world),
    and the action `steer`. Reward per step: the distance crawled head first (mm; negative when crawling
    backward).
    """

    observation_names = ("speed", "head_bend")
    action_names = ("forward", "backward")

    def __init__(
        self,
        dt: float = 0.02,
        physics_dt: float = 1e-5,
        wave_amplitude: float = WAVE_AMPLITUDE_RAD,
        wave_number: float = WAVE_NUMBER,
        wave_period: float = WAVE_PERIOD_S,
        scale_friction: float = 1.0,
        random_heading: bool = True,
        gradient: str | None = None,
        start_distance: float = START_DISTANCE_CM,
        derivative_window_s: float = 0.5,
        sweep_period: float = HEAD_SWEEP_PERIOD_S,
        neck_bend: float = NECK_BEND_RAD,
        near_radius: float = 1.0,
    ) -> None:
        """Build the body (ElegansBot's agar defaults); dt is the control period, physics_dt its inner step.
        `gradient` puts it on a NaCl plate (distances of the plate in cm)."""
        super().__init__()
        for name, value in (
            ("dt", dt),
            ("physics_dt", physics_dt),
            ("wave_period", wave_period),
            ("scale_friction", scale_friction),
        ):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise WorldError(f"body: {name} must be a positive number, not {value!r}")
        inner = round(dt / physics_dt)
        if inner < 1 or abs(inner * physics_dt - dt) > 1e-9 * max(1.0, dt):
            raise WorldError(f"body: dt ({dt} s) must be a whole multiple of physics_dt ({physics_dt} s)")
        try:
            import elegansbot  # noqa: F401
        except ImportError as exc:  # pragma: no cover - a dependency of wormchip
            raise WorldError(
                "body: the ElegansBot package is missing (pip install elegansbot==1.0.2)"
            ) from exc
        self.dt = float(dt)
        self.physics_dt = float(physics_dt)
        self.wave_amplitude = float(wave_amplitude)
        self.wave_number = float(wave_number)
        self.wave_period = float(wave_period)
        self.scale_friction = float(scale_friction)
        self.random_heading = bool(random_heading)
        self.plate = Plate(gradient) if gradient is not None else None
        self.sense = ChemicalSense(self.dt, derivative_window_s, sweep_period) if self.plate else None
        self.start_distance = float(start_distance)
        self.neck_bend = float(neck_bend)
        self.near_radius = float(near_radius)
        if self.plate is not None:
            self.observation_names = (*self.observation_names, "concentration", "dC_dt", "sweep", "head_side")
            self.action_names = (*self.action_names, "steer")
        low = np.array([0.0, 0.0, -1.0][: len(self.action_names)])
        self.observation_space = spaces.Box(
            -np.inf, np.inf, shape=(len(self.observation_names),), dtype=np.float64
        )
        self.action_space = spaces.Box(low, 1.0, dtype=np.float64)
        self._worm: Any = None
        self._phase = 0.0
        self._t = 0.0
        self._progress = 0.0

    # -- physics --------------------------------------------------------------------------------------

    def _axis(self) -> tuple[float, float]:
        """Unit vector from tail to head."""
        w = self._worm
        dx, dy = w.x[0] - w.x[-1], w.y[0] - w.y[-1]
        norm = math.hypot(dx, dy) or 1.0
        return dx / norm, dy / norm

    def _speed(self) -> float:
        ux, uy = self._axis()
        return float(self._worm.vxc * ux + self._worm.vyc * uy)

    def _head_bend(self) -> float:
        return float(self._worm.theta[0])

    def _head_concentration(self) -> float:
        return float(self.plate.concentration_at(self._worm.x[0] / MM_PER_CM, self._worm.y[0] / MM_PER_CM))

    def _observation(self) -> np.ndarray:
        chemical = self.sense.observation(self._t) if self.sense is not None else []
        return np.array([self._speed(), self._head_bend(), *chemical], dtype=np.float64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """A straight worm at rest at the origin, heading drawn from the seed (or +x); on a plate, the head
        `start_distance` from the peak, position angle and heading drawn as in the klinotaxis world."""
        super().reset(seed=seed)
        from elegansbot import Worm

        start = (0.0, 0.0)
        if self.plate is not None:
            where = float(self.np_random.uniform(0.0, 2.0 * math.pi))
            start = (self.start_distance * math.cos(where), self.start_distance * math.sin(where))
        angle = float(self.np_random.uniform(0.0, 2.0 * math.pi)) if self.random_heading else 0.0
        self._worm = Worm(
            dt=self.physics_dt,
            simTime=None,
            dt_snapshot=None,
            angle_init=angle,
            scale_friction=self.scale_friction,
        )
        w = self._worm
        # positions of the rods (ElegansBot fills x, y on its first step; compute them for the start state)
        spacing = 2.0 * w.r
        offsets = (np.arange(w.n) - (w.n - 1) / 2.0) * spacing
        w.x[:] = -offsets * math.cos(angle)
        w.y[:] = -offsets * math.sin(angle)
        if self.plate is not None:  # move the body so that its head rod sits at the start
            dx, dy = start[0] * MM_PER_CM - w.x[0], start[1] * MM_PER_CM - w.y[0]
            w.xc, w.yc = w.xc + dx, w.yc + dy
            w.x[:] += dx
            w.y[:] += dy
            self.sense.reset(self._head_concentration())
        self._phase = 0.0
        self._t = 0.0
        self._progress = 0.0
        return self._observation(), {}

    def step(self, action: Any):
        """Set the joint targets from the two commands, then run ElegansBot for dt."""
        if self._worm is None:
            raise WorldError("body: step() before reset()")
        a = np.asarray(action, dtype=float).reshape(-1)
        if a.size != len(self.action_names) or not np.all(np.isfinite(a)):
            raise WorldError(
                f"body: the action must be {len(self.action_names)} finite numbers "
                f"({', '.join(self.action_names)}), not {action!r}"
            )
        a = np.clip(a, self.action_space.low, 1.0)
        net = float(a[0] - a[1])
        self._phase += math.copysign(1.0, net) * 2.0 * math.pi * self.dt / self.wave_period if net else 0.0
        w = self._worm
        u = np.linspace(0.0, 1.0, w.n - 1)
        w.act = self.wave_amplitude * abs(net) * np.cos(2.0 * math.pi * self.wave_number * u - self._phase)
        if self.plate is not None:
            w.act = w.act + np.where(np.arange(w.n - 1) < NECK_JOINTS, self.neck_bend * a[2], 0.0)
        x0, y0 = w.xc, w.yc
        ux, uy = self._axis()
        w.record_init(self.dt, self.dt)  # a two-snapshot log: ElegansBot stops stepping when its log is full
        w.steps()
        dx, dy = w.xc - x0, w.yc - y0
        vx, vy = self._axis()
        ax, ay = ux + vx, uy + vy  # the mean axis over the step
        norm = math.hypot(ax, ay) or 1.0
        crawled = (dx * ax + dy * ay) / norm
        if not math.isfinite(crawled):
            raise WorldError("body: ElegansBot's state became non-finite (try a smaller physics_dt)")
        self._progress += crawled
        self._t += self.dt
        if self.sense is not None:
            self.sense.sense(self._head_concentration())
        return self._observation(), crawled, False, False, {}

    def state(self) -> dict[str, float]:
        """t, centre of mass (mm), head position, heading (rad), speed, head_bend, progress (mm), outline."""
        w = self._worm
        ux, uy = self._axis()
        out = {
            "t": self._t,
            "x": float(w.xc),
            "y": float(w.yc),
            "head_x": float(w.x[0]),
            "head_y": float(w.y[0]),
            "heading": math.atan2(uy, ux),
            "speed": self._speed(),
            "head_bend": self._head_bend(),
            "progress": self._progress,
        }
        for i in OUTLINE_POINTS:
            out[f"rod{i}_x"] = float(w.x[i])
            out[f"rod{i}_y"] = float(w.y[i])
        if self.plate is not None:
            out["concentration"] = self.sense.concentration
            out["distance_to_peak"] = math.hypot(w.x[0], w.y[0]) / MM_PER_CM
        return out

    # -- reports -------------------------------------------------------------------------------------

    def metrics(self, trajectory: Trajectory) -> dict[str, float]:
        """speed (mm/s, signed), undulation_frequency_hz (head-bend zero crossings), direction (+1/−1/0);
        on a plate also the klinotaxis world's chemotaxis_index and distances (of the head, cm)."""
        out = body_metrics(trajectory)
        if self.plate is not None:
            out.update(chemotaxis_metrics(trajectory.state_array("distance_to_peak"), self.near_radius))
        return out

    def draw(self, ax: Any, trajectory: Trajectory, upto: int | None = None) -> None:
        """Head and centre-of-mass tracks and the body (7 points along it) at step `upto`."""
        n = len(trajectory.states) if upto is None else max(1, min(upto + 1, len(trajectory.states)))
        if n == 0 or not trajectory.states:
            return
        hx, hy = trajectory.state_array("head_x")[:n], trajectory.state_array("head_y")[:n]
        cx, cy = trajectory.state_array("x")[:n], trajectory.state_array("y")[:n]
        ax.plot(hx, hy, color="tab:orange", lw=0.8, label="head track")
        ax.plot(cx, cy, color="tab:blue", lw=0.8, label="centre of mass")
        s = trajectory.states[n - 1]
        bx = [s[f"rod{i}_x"] for i in OUTLINE_POINTS]
        by = [s[f"rod{i}_y"] for i in OUTLINE_POINTS]
        ax.plot(bx, by, color="k", lw=3, solid_capstyle="round", label="body")
        ax.plot([bx[0]], [by[0]], "o", color="gold", markeredgecolor="k", label="head")
        allx = np.concatenate([trajectory.state_array(f"rod{i}_x") for i in OUTLINE_POINTS])
        ally = np.concatenate([trajectory.state_array(f"rod{i}_y") for i in OUTLINE_POINTS])
        pad = 0.3
        ax.set_xlim(allx.min() - pad, allx.max() + pad)
        ax.set_ylim(ally.min() - pad, ally.max() + pad)
        ax.set_aspect("equal")
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("y (mm)")
        ax.set_title(f"ElegansBot body, t = {s['t']:.2f} s")
        ax.legend(loc="upper right", fontsize="small")


def body_metrics(trajectory: Trajectory) -> dict[str, float]:
    """speed = progress / time (mm/s, + head first); undulation frequency from head-bend zero crossings.

    The frequency counts sign changes of the head bend (mean removed): f = (crossings − 1) / (2 · span), span
    the time between the first and last crossing (interpolated); 0 with fewer than two crossings. direction = sign(speed),
    0 when |speed| < 0.005 mm/s.
    """
    t = trajectory.state_array("t")
    if t.size < 2:
        raise WorldError("body: the trajectory is too short for metrics (needs ≥ 1 step)")
    progress = trajectory.state_array("progress")
    speed = float((progress[-1] - progress[0]) / (t[-1] - t[0]))
    bend = trajectory.state_array("head_bend")
    bend = bend - bend.mean()
    k = np.flatnonzero(np.signbit(bend[1:]) != np.signbit(bend[:-1]))
    freq = 0.0
    if k.size >= 2:
        # crossing times, linearly interpolated between the two states around each sign change
        times = t[k] + (t[k + 1] - t[k]) * bend[k] / (bend[k] - bend[k + 1])
        span = times[-1] - times[0]
        freq = float((k.size - 1) / (2.0 * span)) if span > 0 else 0.0
    direction = 0.0 if abs(speed) < 0.005 else math.copysign(1.0, speed)
    return {"speed": speed, "undulation_frequency_hz": freq, "direction": direction}
