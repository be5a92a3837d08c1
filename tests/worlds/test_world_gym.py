"""gym:<id> worlds: the adapter steps exactly like gymnasium's own environment; names, dt, errors."""

from __future__ import annotations

import gymnasium
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wormchip.worlds import WorldError, make_world, rollout  # noqa: E402


def _cartpole_policy(obs) -> int:
    """A fixed controller: push toward the side the pole falls to."""
    return int(obs[2] + 0.5 * obs[3] > 0)


def test_cartpole_identical_to_gymnasium() -> None:
    world = make_world("gym:CartPole-v1")
    env = gymnasium.make("CartPole-v1")
    traj = rollout(world, _cartpole_policy, 600, seed=11)
    obs, _ = env.reset(seed=11)
    direct = [obs]
    rewards = []
    for _ in range(traj.steps):
        obs, r, terminated, truncated, _ = env.step(_cartpole_policy(obs))
        direct.append(obs)
        rewards.append(r)
    assert np.array_equal(np.array(traj.observations), np.array(direct))
    assert traj.rewards == rewards
    assert traj.terminated == terminated and traj.truncated == truncated
    assert world.metrics(traj)["return"] == sum(rewards) > 100
    assert world.state() == dict(zip(world.observation_names, map(float, direct[-1])))


@pytest.mark.parametrize(
    ("name", "obs_names", "act_names", "dt"),
    [
        (
            "gym:CartPole-v1",
            ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"),
            ("push_left", "push_right"),
            0.02,
        ),
        ("gym:MountainCarContinuous-v0", ("position", "velocity"), ("force",), 1 / 30),
        ("gym:Pendulum-v1", ("cos_theta", "sin_theta", "angular_velocity"), ("torque",), 0.05),
    ],
)
def test_names_spaces_dt(name, obs_names, act_names, dt) -> None:
    world = make_world(name)
    assert world.observation_names == obs_names and world.action_names == act_names
    assert world.dt == pytest.approx(dt)
    assert world.observation_space.shape == (len(obs_names),)
    obs, _ = world.reset(seed=0)
    obs2, _ = make_world(name).reset(seed=0)
    assert np.array_equal(obs, obs2)
    world.step(world.action_space.sample())


class _Tiny(gymnasium.Env):
    """An environment no table knows: 3 observations, 2 actions, no clock."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(3,))
    action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(2,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(3, dtype=np.float32), 1.0, False, False, {}


def test_generic_names_for_other_ids() -> None:
    if "wormchip-test/Tiny-v0" not in gymnasium.envs.registry:
        gymnasium.register(id="wormchip-test/Tiny-v0", entry_point=_Tiny)
    world = make_world("gym:wormchip-test/Tiny-v0")
    assert world.observation_names == ("obs_0", "obs_1", "obs_2")
    assert world.action_names == ("act_0", "act_1")
    assert world.dt == 1.0
    assert make_world("gym:Acrobot-v1").observation_names[0] == "cos_theta1"


def test_unknown_id_suggests_close_matches() -> None:
    with pytest.raises(WorldError, match=r"CartPole-v1") as err:
        make_world("gym:CartPole-v9")
    assert "\n" not in str(err.value)
    with pytest.raises(WorldError, match="no installed gymnasium environment"):
        make_world("gym:NoSuchThing-v0")
    with pytest.raises(WorldError, match="give an environment id"):
        make_world("gym:")


def test_draw() -> None:
    world = make_world("gym:Pendulum-v1")
    traj = rollout(world, lambda o: np.zeros(1), 50, seed=0)
    fig, ax = plt.subplots()
    world.draw(ax, traj)
    assert len(ax.lines) == 3
    plt.close(fig)
