"""Touch world: dynamics, seeded touch times, and the metrics on hand-made trajectories with known answers."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wormchip.worlds import Trajectory, WorldError, make_world, rollout  # noqa: E402
from wormchip.worlds.touch import TouchWorld, touch_metrics  # noqa: E402


def _traj(v: list[float], anterior: list[int], posterior: list[int], dt: float = 0.1) -> Trajectory:
    traj = Trajectory(dt=dt)
    traj.states = [
        {"t": k * dt, "velocity": vk, "anterior_touch": a, "posterior_touch": p}
        for k, (vk, a, p) in enumerate(zip(v, anterior, posterior))
    ]
    return traj


def test_metrics_anterior_reversal_known_answer() -> None:
    v = [0.2, 0.2, 0.2, 0.1, 0.0, -0.1, -0.2, -0.2]
    a = [0, 0, 1, 1, 0, 0, 0, 0]
    m = touch_metrics(_traj(v, a, [0] * 8), response_window=2.0)
    assert m["reversal"] == 1.0
    assert m["reversal_latency_s"] == pytest.approx(0.3)  # onset t = 0.2 s, first v < 0 at t = 0.5 s
    assert math.isnan(m["acceleration_after_posterior"])


def test_metrics_no_reversal_and_window() -> None:
    # the worm reverses only 0.5 s after the touch, outside a 0.3 s window
    v = [0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, -0.2]
    a = [0, 0, 1, 1, 0, 0, 0, 0]
    m = touch_metrics(_traj(v, a, [0] * 8), response_window=0.3)
    assert m["reversal"] == 0.0 and math.isnan(m["reversal_latency_s"])
    assert touch_metrics(_traj(v, a, [0] * 8), response_window=1.0)["reversal"] == 1.0


def test_metrics_posterior_acceleration_known_answer() -> None:
    v = [0.1, 0.1, 0.1, 0.2, 0.3, 0.3]
    p = [0, 1, 1, 0, 0, 0]
    m = touch_metrics(_traj(v, [0] * 6, p), response_window=0.3)
    # onset at t = 0.1 s (v = 0.1); window (0.1, 0.4]: v = 0.1, 0.2, 0.3 → mean 0.2 → +0.1 mm/s
    assert m["acceleration_after_posterior"] == pytest.approx(0.1)
    assert math.isnan(m["reversal"]) and math.isnan(m["reversal_latency_s"])


def test_spaces_names_and_seeded_touch() -> None:
    world = make_world("touch")
    assert world.observation_names == ("anterior_touch", "posterior_touch")
    assert world.action_names == ("drive",)
    assert world.observation_space.shape == (2,) and world.action_space.shape == (1,)
    a = rollout(TouchWorld(), lambda o: np.ones(1), 100, seed=3)
    b = rollout(TouchWorld(), lambda o: np.ones(1), 100, seed=3)
    assert a.states == b.states
    onsets = {
        rollout(TouchWorld(), lambda o: np.ones(1), 1, seed=s).states[0]["touch_onset_s"] for s in range(10)
    }
    assert len(onsets) > 5 and all(1.0 <= t <= 3.0 for t in onsets)
    sites = set()
    for s in range(20):
        traj = rollout(TouchWorld(), lambda o: np.ones(1), 80, seed=s)
        flags = np.array(traj.observations)
        sites.add("anterior" if flags[:, 0].any() else "posterior" if flags[:, 1].any() else "none")
    assert sites == {"anterior", "posterior"}


def test_touch_lasts_its_duration() -> None:
    traj = rollout(TouchWorld(site="anterior", touch_duration=0.2), lambda o: np.ones(1), 100, seed=0)
    flags = np.array(traj.observations)
    assert flags[:, 0].sum() == 4 and flags[:, 1].sum() == 0  # 0.2 s at dt = 0.05 s


def test_reflex_policy_reverses_with_the_first_order_latency() -> None:
    """drive = −1 from the touch on: v = v_max (2 e^(−t/τ) − 1) < 0 after τ ln 2 = 0.277 s → next step 0.3 s."""
    world = TouchWorld(site="anterior")
    touched = {"on": False}

    def reflex(obs):
        touched["on"] = touched["on"] or obs[0] > 0.5
        return np.array([-1.0 if touched["on"] else 1.0])

    traj = rollout(world, reflex, 120, seed=0)
    m = world.metrics(traj)
    assert m["reversal"] == 1.0
    assert m["reversal_latency_s"] == pytest.approx(0.3, abs=1e-9)
    assert traj.episode_return > 0  # backward distance after the touch is rewarded
    # steady forward drive never reverses
    assert world.metrics(rollout(world, lambda o: np.ones(1), 120, seed=0))["reversal"] == 0.0


def test_posterior_touch_acceleration_from_rest() -> None:
    world = TouchWorld(site="posterior", initial_velocity=0.0)
    touched = {"on": False}

    def reflex(obs):
        touched["on"] = touched["on"] or obs[1] > 0.5
        return np.array([1.0 if touched["on"] else 0.0])

    m = world.metrics(rollout(world, reflex, 120, seed=0))
    assert m["acceleration_after_posterior"] > 0.1  # most of the way to 0.2 mm/s within 2 s
    assert math.isnan(m["reversal"])


def test_bad_parameters() -> None:
    with pytest.raises(WorldError, match="site"):
        TouchWorld(site="head")
    with pytest.raises(WorldError, match="touch_window"):
        TouchWorld(touch_window=(3.0, 1.0))


def test_draw() -> None:
    world = TouchWorld(site="anterior")
    traj = rollout(world, lambda o: np.array([-1.0 if o[0] else 1.0]), 80, seed=0)
    fig, ax = plt.subplots()
    world.draw(ax, traj, upto=40)
    assert "velocity" in ax.get_ylabel()
    plt.close(fig)
