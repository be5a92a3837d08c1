"""ElegansBot body world: forward drive crawls head first, backward drive tail first (about real time)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from wormchip.worlds import WorldError, make_world, rollout  # noqa: E402
from wormchip.worlds.body import BodyWorld  # noqa: E402
from wormchip.worlds.klinotaxis import KlinotaxisWorld  # noqa: E402

STEPS = 75  # 1.5 s of worm time at dt = 0.02 s


def test_spaces_and_bad_parameters() -> None:
    world = make_world("body")
    assert world.observation_names == ("speed", "head_bend")
    assert world.action_names == ("forward", "backward")
    assert world.observation_space.shape == (2,) and world.action_space.shape == (2,)
    assert world.dt == 0.02
    with pytest.raises(WorldError, match="whole multiple"):
        BodyWorld(dt=0.015, physics_dt=1e-3 + 1e-6)


@pytest.mark.slow
def test_forward_and_backward_drive_crawl_in_their_directions() -> None:
    """Physics: forward command → head-first crawl, backward → tail-first, co-activation → no crawl."""
    world = BodyWorld()
    fwd = rollout(world, lambda o: np.array([1.0, 0.0]), STEPS, seed=0)
    again = rollout(world, lambda o: np.array([1.0, 0.0]), 5, seed=0)
    assert again.states == fwd.states[:6]  # deterministic for a seed
    back = rollout(world, lambda o: np.array([0.1, 0.9]), STEPS, seed=0)
    still = rollout(world, lambda o: np.array([0.5, 0.5]), 10, seed=0)
    mf, mb, ms = world.metrics(fwd), world.metrics(back), world.metrics(still)
    print(f"body: forward {mf}, backward {mb}")
    assert mf["direction"] == 1.0 and mb["direction"] == -1.0 and ms["direction"] == 0.0
    assert 0.1 < mf["speed"] < 0.3 and -0.3 < mb["speed"] < -0.1  # mm/s
    assert fwd.states[-1]["progress"] > 0.15 and back.states[-1]["progress"] < -0.15  # mm
    # signed displacement of the centre of mass along the starting axis (tail → head)
    h = fwd.states[0]["heading"]
    axis = np.array([np.cos(h), np.sin(h)])
    for traj, sign in ((fwd, 1), (back, -1)):
        d = np.array([traj.states[-1]["x"] - traj.states[0]["x"], traj.states[-1]["y"] - traj.states[0]["y"]])
        assert sign * d @ axis > 0.15
    assert 0.4 < mf["undulation_frequency_hz"] < 0.9  # the wave runs at 1 / 1.6 s = 0.625 Hz
    fig, ax = plt.subplots()
    world.draw(ax, fwd, upto=30)
    plt.close(fig)


def test_plate_adds_chemical_senses_and_steer() -> None:
    """On a plate the body senses what the point worm senses and starts where it starts for the same seed."""
    world = make_world("body", gradient="linear", dt=0.05)
    assert world.observation_names == ("speed", "head_bend", "concentration", "dC_dt", "sweep", "head_side")
    assert world.action_names == ("forward", "backward", "steer")
    assert list(world.action_space.low) == [0.0, 0.0, -1.0]
    obs, _ = world.reset(seed=3)
    state = world.state()
    point = KlinotaxisWorld(gradient="linear")
    point.reset(seed=3)
    assert state["head_x"] / 10 == pytest.approx(point.state()["x"])  # mm vs cm
    assert state["head_y"] / 10 == pytest.approx(point.state()["y"])
    assert state["distance_to_peak"] == pytest.approx(4.5)
    assert obs[2] == pytest.approx(0.5 * (9.0 - 4.5))  # the cone s·(R − r) at the start
    assert obs[3] == 0.0 and obs[4] == 0.0 and obs[5] == -1.0  # at rest; sweep phase 0
    with pytest.raises(WorldError, match="3 finite numbers"):
        world.step(np.array([1.0, 0.0]))


def _toward_and_away_seeds(world: BodyWorld) -> tuple[int, int]:
    """Seeds whose start heading points within 30° of the peak, and within 30° of straight away from it."""
    found: dict[str, int] = {}
    for seed in range(200):
        world.reset(seed=seed)
        s = world.state()
        bearing = np.arctan2(-s["head_y"], -s["head_x"])
        off = abs(np.angle(np.exp(1j * (s["heading"] - bearing))))
        if off < np.radians(30):
            found.setdefault("toward", seed)
        elif off > np.radians(150):
            found.setdefault("away", seed)
        if len(found) == 2:
            return found["toward"], found["away"]
    raise AssertionError("no seed heads toward / away from the peak")


@pytest.mark.slow
def test_crawling_up_the_gradient_raises_the_reading_and_steer_turns() -> None:
    """Physics: the reading is the plate's concentration at the head rod; crawling toward the peak raises it
    (dC_dt > 0), away lowers it; steer > 0 turns the heading counter-clockwise, as in the point worm."""
    world = BodyWorld(gradient="gaussian", dt=0.05)
    toward, away = _toward_and_away_seeds(world)
    for seed, sign in ((toward, 1.0), (away, -1.0)):
        traj = rollout(world, lambda o: np.array([1.0, 0.0, 0.0]), 60, seed=seed)  # 3 s
        for obs, s in zip(traj.observations[::20], traj.states[::20]):
            assert obs[2] == pytest.approx(world.plate.concentration_at(s["head_x"] / 10, s["head_y"] / 10))
        assert sign * (traj.states[-1]["concentration"] - traj.states[0]["concentration"]) > 0
        assert sign * traj.observations[-1][3] > 0
    turns = []
    for steer in (0.2, -0.2):
        traj = rollout(world, lambda o, s=steer: np.array([1.0, 0.0, s]), 60, seed=toward)
        h = np.unwrap(traj.state_array("heading"))
        turns.append(h[-10:].mean() - h[:10].mean())
    assert turns[0] > 0.1 and turns[1] < -0.1


def _heads(physics_dt: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Head positions (mm) and speeds under a fixed forward drive with a two-tone steer, on the Gaussian
    plate from seed 100."""
    world = BodyWorld(gradient="gaussian", physics_dt=physics_dt)
    world.reset(seed=100)
    heads, speeds = [], []
    for i in range(steps):
        t = i * world.dt
        steer = 0.6 * np.sin(2 * np.pi * t / 4.2) + 0.3 * np.sin(2 * np.pi * t / 13.0)
        world.step(np.array([1.0, 0.0, steer]))
        s = world.state()
        heads.append((s["head_x"], s["head_y"]))
        speeds.append(s["speed"])
    return np.array(heads), np.array(speeds)


@pytest.mark.slow
def test_physics_step_converges() -> None:
    """Physics: ElegansBot's integrator is first order, so the head's distance from the default 10 µs path
    grows as C·(physics_dt − 10 µs) with one C for every step (within 3 % here); at 50 µs (what the body
    validation uses) the head stays within 1.5 % of the distance crawled (0.8 % over these 4 s) and the mean
    speed within 1 % of the 10 µs run's."""
    steps = 200  # 4 s
    ref, ref_speed = _heads(1e-5, steps)
    crawled = np.hypot(*(ref[-1] - ref[0]))
    assert crawled > 0.5  # mm
    rates = {}
    for pdt in (2e-5, 5e-5, 1e-4):
        heads, speeds = _heads(pdt, steps)
        err = np.hypot(*(heads - ref).T).max()
        rates[pdt] = err / (pdt - 1e-5)
        if pdt == 5e-5:
            assert err < 0.015 * crawled
            assert speeds.mean() == pytest.approx(ref_speed.mean(), rel=1e-2)  # 0.6 % here, 0.1 % over 60 s
    print(f"body: head error per µs of physics step {rates}, crawled {crawled:.3f} mm")
    assert max(rates.values()) < 1.1 * min(rates.values())  # first order: one C
