"""Gentle touch: a crawling worm touched once on the anterior or posterior body, in one dimension.

The behaviour: a gentle touch (an eyebrow hair stroked across the body) to the anterior body makes a wild-type
worm reverse, one to the posterior body makes it move forward or accelerate (Chalfie & Sulston 1981, Dev Biol
82:358, doi:10.1016/0012-1606(81)90459-0; Chalfie et al. 1985, J Neurosci 5:956,
doi:10.1523/JNEUROSCI.05-04-00956.1985). The command interneurons AVB (forward) and AVA (backward) set the
direction (Chalfie et al. 1985); the world reads their difference as one action, `drive`.

Locomotion is one-dimensional: the velocity v along the body axis relaxes toward drive · v_max,

    τ dv/dt = drive · v_max − v,      dx/dt = v,

with v_max = 0.2 mm/s (typical crawling speed on agar, order 0.1–0.2 mm/s, e.g. Ramot et al. 2008 PLoS ONE
3:e2208; ElegansBot's agar body crawls at 0.19 mm/s with its default wave, Chung et al. 2024) and τ = 0.4 s
(a modelling choice: reversals develop within a fraction of a second). The worm starts crawling forward at
v_max. One touch of `touch_duration` (0.2 s, our choice: the duration of a hair stroke is not reported) starts
at a seeded random time in `touch_window`; `site` picks anterior, posterior or (seeded) either.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from wormchip.worlds.base import Trajectory, WorldError, WormWorld

MAX_SPEED_MM_S = 0.2
VELOCITY_TAU_S = 0.4
TOUCH_DURATION_S = 0.2
SITES = ("anterior", "posterior", "random")


class TouchWorld(WormWorld):
    """A worm crawling along a line, touched once; the circuit's `drive` (AVB − AVA) sets its velocity.

    Observations: `anterior_touch`, `posterior_touch` (1 while the touch lasts, else 0).
    Action: `drive` in [−1, 1] (forward minus backward command read-out).
    Reward per step after the touch: the escape distance (mm) — backward after an anterior touch, forward
    after a posterior one; 0 before the touch.
    """

    observation_names = ("anterior_touch", "posterior_touch")
    action_names = ("drive",)

    def __init__(
        self,
        dt: float = 0.05,
        site: str = "random",
        touch_window: tuple[float, float] = (1.0, 3.0),
        touch_duration: float = TOUCH_DURATION_S,
        max_speed: float = MAX_SPEED_MM_S,
        tau: float = VELOCITY_TAU_S,
        initial_velocity: float | None = None,
        response_window: float = 2.0,
    ) -> None:
        """Build the world; times in s, speeds in mm/s (initial_velocity defaults to max_speed)."""
        super().__init__()
        if site not in SITES:
            raise WorldError(f"touch: site must be one of {', '.join(SITES)}, not {site!r}")
        for name, value in (
            ("dt", dt),
            ("touch_duration", touch_duration),
            ("max_speed", max_speed),
            ("tau", tau),
            ("response_window", response_window),
        ):
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise WorldError(f"touch: {name} must be a positive number, not {value!r}")
        lo, hi = (float(v) for v in touch_window)
        if not (0.0 <= lo <= hi):
            raise WorldError(
                f"touch: touch_window must be (start, end) with 0 ≤ start ≤ end, not {touch_window!r}"
            )
        self.dt = float(dt)
        self.site = site
        self.touch_window = (lo, hi)
        self.touch_duration = float(touch_duration)
        self.max_speed = float(max_speed)
        self.tau = float(tau)
        self.initial_velocity = self.max_speed if initial_velocity is None else float(initial_velocity)
        self.response_window = float(response_window)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float64)
        self._t = self._x = 0.0
        self._v = self.initial_velocity
        self._step = 0
        self._touch_site = "anterior"
        self._touch_on = 0
        self._touch_off = 0

    def _flags(self) -> tuple[float, float]:
        on = 1.0 if self._touch_on <= self._step < self._touch_off else 0.0
        return (on, 0.0) if self._touch_site == "anterior" else (0.0, on)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Crawl forward at initial_velocity; draw the touch time (and site if random) from the seed."""
        super().reset(seed=seed)
        onset = float(self.np_random.uniform(*self.touch_window))
        self._touch_site = self.site
        if self.site == "random":
            self._touch_site = "anterior" if self.np_random.random() < 0.5 else "posterior"
        self._touch_on = round(onset / self.dt)
        self._touch_off = self._touch_on + max(1, round(self.touch_duration / self.dt))
        self._t = self._x = 0.0
        self._v = self.initial_velocity
        self._step = 0
        return np.array(self._flags(), dtype=np.float64), {"touch_site": self._touch_site}

    def step(self, action: Any):
        """Relax v toward drive·max_speed (exact exponential step), move, advance the touch clock."""
        drive = float(np.clip(np.asarray(action, dtype=float).reshape(-1)[0], -1.0, 1.0))
        if not math.isfinite(drive):
            raise WorldError(f"touch: the action drive is not finite ({drive})")
        target = drive * self.max_speed
        decay = math.exp(-self.dt / self.tau)
        v_new = target + (self._v - target) * decay
        # exact integral of v over the step
        dx = target * self.dt + (self._v - target) * self.tau * (1.0 - decay)
        touched = self._step >= self._touch_on
        self._v, self._x = v_new, self._x + dx
        self._step += 1
        self._t = self._step * self.dt
        reward = 0.0
        if touched:
            reward = -dx if self._touch_site == "anterior" else dx
        return np.array(self._flags(), dtype=np.float64), reward, False, False, {}

    def state(self) -> dict[str, float]:
        """t (s), x (mm), velocity (mm/s), the two touch flags, and touch_onset_s of this episode."""
        anterior, posterior = self._flags()
        return {
            "t": self._t,
            "x": self._x,
            "velocity": self._v,
            "anterior_touch": anterior,
            "posterior_touch": posterior,
            "touch_onset_s": self._touch_on * self.dt,
        }

    def metrics(self, trajectory: Trajectory) -> dict[str, float]:
        """reversal, reversal_latency_s and acceleration_after_posterior (NaN where the touch did not occur)."""
        return touch_metrics(trajectory, self.response_window)

    def draw(self, ax: Any, trajectory: Trajectory, upto: int | None = None) -> None:
        """Velocity over time, touches shaded (anterior red, posterior blue)."""
        t = trajectory.state_array("t")
        v = trajectory.state_array("velocity")
        n = len(t) if upto is None else max(1, min(upto + 1, len(t)))
        for key, colour in (("anterior_touch", "tab:red"), ("posterior_touch", "tab:blue")):
            flags = trajectory.state_array(key)
            for k in np.flatnonzero(flags[:n] > 0.5):
                ax.axvspan(t[k], t[k] + trajectory.dt, color=colour, alpha=0.25, lw=0)
            ax.plot([], [], color=colour, alpha=0.4, lw=6, label=key.replace("_", " "))
        ax.axhline(0.0, color="gray", lw=0.8)
        ax.plot(t[:n], v[:n], color="k", lw=1.2, label="velocity")
        ax.set_xlim(0.0, max(float(t[-1]) if len(t) else 1.0, 1e-9))
        ax.set_ylim(-1.2 * self.max_speed, 1.2 * self.max_speed)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("velocity (mm/s, + forward)")
        ax.set_title("gentle touch")
        ax.legend(loc="lower left", fontsize="small")


def touch_metrics(trajectory: Trajectory, response_window: float = 2.0) -> dict[str, float]:
    """Touch-response figures from recorded states (`t`, `velocity`, `anterior_touch`, `posterior_touch`).

    reversal: 1 if the velocity goes below 0 within `response_window` s of the first anterior-touch state,
    else 0; reversal_latency_s: time from that onset to the first state with v < 0; acceleration_after_posterior:
    mean velocity over the window after the first posterior-touch state minus the velocity at its onset
    (mm/s). Figures of a touch that did not happen are NaN.
    """
    t = trajectory.state_array("t")
    v = trajectory.state_array("velocity")
    out = {"reversal": math.nan, "reversal_latency_s": math.nan, "acceleration_after_posterior": math.nan}
    anterior = np.flatnonzero(trajectory.state_array("anterior_touch") > 0.5)
    if anterior.size:
        k0 = int(anterior[0])
        window = (t >= t[k0] - 1e-9) & (t <= t[k0] + response_window + 1e-9)
        backward = np.flatnonzero(window & (v < 0.0))
        out["reversal"] = 1.0 if backward.size else 0.0
        if backward.size:
            out["reversal_latency_s"] = float(t[backward[0]] - t[k0])
    posterior = np.flatnonzero(trajectory.state_array("posterior_touch") > 0.5)
    if posterior.size:
        k0 = int(posterior[0])
        window = (t > t[k0] + 1e-9) & (t <= t[k0] + response_window + 1e-9)
        if window.any():
            out["acceleration_after_posterior"] = float(v[window].mean() - v[k0])
    return out
