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
axis (tail → head), positive forward. It is slow (about real time after a one-off numba compile of
ElegansBot, cached on disk): use it for validation runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from wormchip.worlds.base import Trajectory, WorldError, WormWorld

WAVE_AMPLITUDE_RAD = 0.7  # ElegansBot's example forward gait
WAVE_NUMBER = 1.832  # waves per body length, ElegansBot's example
WAVE_PERIOD_S = 1.6  # ElegansBot's example
OUTLINE_POINTS = (0, 4, 8, 12, 16, 20, 24)  # rods recorded per state for drawing


class BodyWorld(WormWorld):
    """ElegansBot's body crawling on agar; actions `forward`, `backward` in [0, 1] set its undulation wave.

    Observations: `speed` (mm/s along the body axis, + = head first) and `head_bend` (rad, the first joint's
    angle). Reward per step: the distance crawled head first (mm; negative when crawling backward).
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
    ) -> None:
        """Build the body (ElegansBot's agar defaults); dt is the control period, physics_dt its inner step."""
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
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self.action_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float64)
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

    def _observation(self) -> np.ndarray:
        return np.array([self._speed(), self._head_bend()], dtype=np.float64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """A straight worm at rest at the origin, heading drawn from the seed (or +x)."""
        super().reset(seed=seed)
        from elegansbot import Worm

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
        self._phase = 0.0
        self._t = 0.0
        self._progress = 0.0
        return self._observation(), {}

    def step(self, action: Any):
        """Set the joint targets from the two commands, then run ElegansBot for dt."""
        if self._worm is None:
            raise WorldError("body: step() before reset()")
        a = np.clip(np.asarray(action, dtype=float).reshape(-1), 0.0, 1.0)
        if a.size != 2 or not np.all(np.isfinite(a)):
            raise WorldError(
                f"body: the action must be two finite numbers (forward, backward), not {action!r}"
            )
        net = float(a[0] - a[1])
        self._phase += math.copysign(1.0, net) * 2.0 * math.pi * self.dt / self.wave_period if net else 0.0
        w = self._worm
        u = np.linspace(0.0, 1.0, w.n - 1)
        w.act = self.wave_amplitude * abs(net) * np.cos(2.0 * math.pi * self.wave_number * u - self._phase)
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
        return out

    # -- reports -------------------------------------------------------------------------------------

    def metrics(self, trajectory: Trajectory) -> dict[str, float]:
        """speed (mm/s, signed), undulation_frequency_hz (head-bend zero crossings), direction (+1/−1/0)."""
        return body_metrics(trajectory)

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
