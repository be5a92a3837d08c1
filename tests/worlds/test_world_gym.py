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


def test_pole_length_shift_follows_the_cart_pole_equations() -> None:
    """Barto, Sutton & Anderson (1983), as gymnasium writes them: from rest at θ = 0.1 with a push of +F, one
    Euler step of 0.02 s gives θ̇ = τ·(g sinθ − cosθ·F/M) / (l·(4/3 − m cos²θ / M)) with M = m + M_cart and
    l the half length; the shifted world must use l = 1.0 (and recompute m·l, M), not the default 0.5."""
    world = make_world("gym:CartPole-v1", physics={"length": 1.0, "gravity": 9.8})
    world.reset(seed=0)
    world.env.unwrapped.state = np.array([0.0, 0.0, 0.1, 0.0])
    obs, *_ = world.step(1)
    g, m, mc, l_half, force, tau = 9.8, 0.1, 1.0, 1.0, 10.0, 0.02
    total = m + mc
    temp = force / total
    theta_acc = (g * np.sin(0.1) - np.cos(0.1) * temp) / (l_half * (4 / 3 - m * np.cos(0.1) ** 2 / total))
    assert obs[3] == pytest.approx(tau * theta_acc, rel=1e-5)
    default = make_world("gym:CartPole-v1")
    default.reset(seed=0)
    default.env.unwrapped.state = np.array([0.0, 0.0, 0.1, 0.0])
    assert abs(default.step(1)[0][3]) > 1.5 * abs(obs[3])  # a longer pole turns more slowly


def test_observation_noise_has_its_standard_deviation_and_is_seeded() -> None:
    noisy, clean = make_world("gym:CartPole-v1", observation_noise=0.05), make_world("gym:CartPole-v1")
    a = rollout(noisy, lambda obs: 0, 8, seed=3)
    b = rollout(clean, lambda obs: 0, 8, seed=3)  # same true states: the policy ignores the observation
    diff = np.array(a.observations) - np.array(b.observations)
    assert 0.035 < diff.std() < 0.065 and abs(diff.mean()) < 0.02
    again = rollout(make_world("gym:CartPole-v1", observation_noise=0.05), lambda obs: 0, 8, seed=3)
    assert np.array_equal(np.array(again.observations), np.array(a.observations))


def test_action_delay_applies_each_action_late() -> None:
    """Delay 2: actions a0 a1 a2 … are applied as a0 a0 a0 a1 a2 …, the same as an undelayed world fed them."""
    actions = [1, 0, 0, 1, 1, 0, 1, 0, 0, 0]
    delayed, direct = make_world("gym:CartPole-v1", action_delay=2), make_world("gym:CartPole-v1")
    delayed.reset(seed=5)
    direct.reset(seed=5)
    for sent, applied in zip(actions, [actions[0]] * 2 + actions[:-2]):
        assert np.array_equal(delayed.step(sent)[0], direct.step(applied)[0])


def test_bad_shifts_are_one_line_errors() -> None:
    with pytest.raises(WorldError, match="no numeric attribute 'pole_len'.*length"):
        make_world("gym:CartPole-v1", physics={"pole_len": 1.0})
    with pytest.raises(WorldError, match="action_delay a whole number"):
        make_world("gym:CartPole-v1", action_delay=-1)


def test_change_mid_episode_sets_physics_then_reset_restores() -> None:
    """`change` takes effect after `change_at` steps: the same steps as a world made changed from then on."""
    world = make_world("gym:CartPole-v1", change_at=5, change={"physics": {"length": 1.0, "gravity": 12.0}})
    base = world.env.unwrapped
    obs, _ = world.reset(seed=3)
    ref = gymnasium.make("CartPole-v1")
    ref_obs, _ = ref.reset(seed=3)
    for k in range(12):
        if k == 5:  # the reference world changes by hand at the same step
            ref.unwrapped.length, ref.unwrapped.gravity = 1.0, 12.0
            ref.unwrapped.polemass_length = ref.unwrapped.masspole * 1.0
        assert world.changed == (k > 5)
        action = _cartpole_policy(obs)
        obs, *_ = world.step(action)
        ref_obs, *_ = ref.step(action)
        np.testing.assert_array_equal(obs, ref_obs)
    assert world.changed
    assert (base.length, base.gravity, base.polemass_length) == (1.0, 12.0, base.masspole * 1.0)
    world.reset(seed=3)
    assert not world.changed
    assert (base.length, base.gravity, base.polemass_length) == (0.5, 9.8, base.masspole * 0.5)


def test_change_of_noise_and_delay() -> None:
    world = make_world("gym:CartPole-v1", change_at=2, change={"observation_noise": 0.5, "action_delay": 2})
    world.reset(seed=0)
    for _ in range(2):
        world.step(1)
    assert world.observation_noise == 0.0 and world.action_delay == 0
    obs, *_ = world.step(0)
    assert world.observation_noise == 0.5 and world.action_delay == 2
    assert not np.array_equal(obs, world._obs)  # noisy from the change on
    world.reset(seed=0)
    assert world.observation_noise == 0.0 and world.action_delay == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"change": {"physics": {"length": 1.0}}}, "needs change_at"),
        ({"change_at": 3, "change": {"wind": 1.0}}, "unknown key"),
        ({"change_at": 3, "change": {"physics": {"lenght": 1.0}}}, "no numeric attribute 'lenght'"),
        ({"change_at": -1, "change": {"observation_noise": 0.1}}, "change_at must be"),
        ({"change_at": 3, "change": {"action_delay": -2}}, "action_delay"),
    ],
)
def test_bad_change_is_one_clear_error(kwargs, match) -> None:
    with pytest.raises(WorldError, match=match):
        make_world("gym:CartPole-v1", **kwargs)
