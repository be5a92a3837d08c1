"""Klinotaxis world: determinism, spaces, metrics, and the reference controller beating its controls."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wormchip.worlds import WorldError, make_world, rollout  # noqa: E402
from wormchip.worlds.klinotaxis import KlinotaxisWorld, reference_klinotaxis_policy  # noqa: E402

SEEDS = range(20)
DURATION_S = 300.0


def _ci(policy, gradient: str = "gaussian") -> np.ndarray:
    world = KlinotaxisWorld(gradient=gradient)
    steps = round(DURATION_S / world.dt)
    return np.array([world.metrics(rollout(world, policy, steps, seed=s))["chemotaxis_index"] for s in SEEDS])


def _reversed(obs):
    return reference_klinotaxis_policy(obs, bias_gain=-1.0)


def _zero(obs):
    return np.zeros(1)


def test_spaces_names_and_defaults() -> None:
    world = make_world("klinotaxis")
    assert world.observation_space.shape == (len(world.observation_names),)
    assert world.action_space.shape == (len(world.action_names),) == (1,)
    assert world.observation_names[:3] == ("concentration", "dC_dt", "sweep")
    assert world.dt == 0.05
    obs, _ = world.reset(seed=0)
    assert world.observation_space.contains(obs)
    state = world.state()
    assert set(state) >= {"x", "y", "heading", "concentration", "distance_to_peak"}
    assert state["distance_to_peak"] == pytest.approx(4.5)


def test_deterministic_for_a_seed_and_seeds_differ() -> None:
    a = rollout(KlinotaxisWorld(), reference_klinotaxis_policy, 400, seed=7)
    b = rollout(KlinotaxisWorld(), reference_klinotaxis_policy, 400, seed=7)
    c = rollout(KlinotaxisWorld(), reference_klinotaxis_policy, 400, seed=8)
    assert a.states == b.states
    assert np.array_equal(np.array(a.observations), np.array(b.observations))
    assert a.states[0]["x"] != c.states[0]["x"]


def test_kinematics_constant_speed_and_turning() -> None:
    world = KlinotaxisWorld(gradient="linear")
    world.reset(seed=1)
    s0 = world.state()
    world.step(np.array([0.5]))
    s1 = world.state()
    assert math.hypot(s1["x"] - s0["x"], s1["y"] - s0["y"]) == pytest.approx(0.022 * 0.05)
    assert s1["heading"] - s0["heading"] == pytest.approx(1.5 * 0.5 * 0.05)
    # dC/dt is the finite difference over the window: positive while heading straight at the peak
    world.reset(seed=1)
    world._heading = math.atan2(-world._y, -world._x)
    for _ in range(20):
        obs, *_ = world.step(np.zeros(1))
    assert obs[1] == pytest.approx(0.5 * 0.022, rel=1e-6)


def test_sweep_is_the_4_2_s_oscillator() -> None:
    world = KlinotaxisWorld()
    obs, _ = world.reset(seed=0)
    assert obs[2] == pytest.approx(0.0) and obs[3] == pytest.approx(-1.0)
    for _ in range(21):  # 1.05 s = a quarter period
        obs, *_ = world.step(np.zeros(1))
    assert obs[2] == pytest.approx(1.0, abs=1e-3)


def test_metrics_on_a_known_path() -> None:
    world = KlinotaxisWorld(near_radius=1.0)
    traj = rollout(world, _zero, 0, seed=0)
    traj.states = [{"distance_to_peak": d} for d in (4.0, 3.0, 2.0, 0.5)]
    m = world.metrics(traj)
    assert m["chemotaxis_index"] == pytest.approx(1 - 2.375 / 4.0)
    assert m["mean_distance_to_peak"] == pytest.approx(2.375)
    assert m["final_distance_to_peak"] == 0.5
    assert m["fraction_time_near_peak"] == 0.25


def test_reference_controller_climbs_the_gradient_and_its_controls_do_not() -> None:
    """The figures of docs/worlds.md (20 seeds, 300 s, Gaussian peak, default world)."""
    ref, zero, rev = _ci(reference_klinotaxis_policy), _ci(_zero), _ci(_reversed)
    print(
        f"CI ref {ref.mean():.3f} ± {ref.std():.3f}, zero {zero.mean():.3f} ± {zero.std():.3f}, "
        f"reversed {rev.mean():.3f} ± {rev.std():.3f}"
    )
    assert ref.mean() > 0.45 and ref.min() > 0.3
    assert zero.mean() < 0.1 and rev.mean() < -0.3
    assert ref.mean() - zero.mean() > 0.4 and ref.mean() - rev.mean() > 0.8
    assert np.all(ref > rev)


def test_reference_controller_on_the_linear_gradient() -> None:
    ref, rev = _ci(reference_klinotaxis_policy, "linear"), _ci(_reversed, "linear")
    print(f"linear CI ref {ref.mean():.3f} ± {ref.std():.3f}, reversed {rev.mean():.3f} ± {rev.std():.3f}")
    assert ref.mean() > 0.45 and ref.mean() - rev.mean() > 0.5


def test_bad_parameters_are_one_line_world_errors() -> None:
    with pytest.raises(WorldError, match="gradient"):
        KlinotaxisWorld(gradient="cone")
    with pytest.raises(WorldError, match="dt"):
        KlinotaxisWorld(dt=0)


def test_draw() -> None:
    world = KlinotaxisWorld()
    traj = rollout(world, reference_klinotaxis_policy, 200, seed=0)
    fig, ax = plt.subplots()
    world.draw(ax, traj)
    world.draw(ax, traj, upto=10)
    assert ax.get_xlabel() == "x (cm)"
    plt.close(fig)
