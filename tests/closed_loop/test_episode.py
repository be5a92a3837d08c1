"""`run_episode` and `wormchip episode`: every world runs, results are deterministic, output files are
written per episode (kept when a later episode fails), errors are one line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wormchip.circuits.loader import load_spec
from wormchip.cli import main
from wormchip.closed_loop.episode import run_episode
from wormchip.result import Result
from wormchip.worlds.klinotaxis import KlinotaxisWorld


def test_klinotaxis_episode_on_emulator_is_deterministic_and_consistent() -> None:
    a = run_episode("klinotaxis", on="emulator", seed=3, duration="5 s")
    b = run_episode("klinotaxis", on="emulator", seed=3, duration="5 s")
    assert a.trajectory.steps == 100  # 5 s of 50 ms control periods
    np.testing.assert_array_equal(a.trajectory.state_array("x"), b.trajectory.state_array("x"))
    assert a.metrics == b.metrics
    assert a.result.duration == pytest.approx(5.0)
    # the chemotaxis index is the world's formula applied to the recorded trajectory
    d = a.trajectory.state_array("distance_to_peak")
    assert a.metrics["chemotaxis_index"] == pytest.approx(1 - d.mean() / d[0], rel=1e-6, abs=1e-6)
    # the worm moved at the world's constant speed (0.022 cm/s) along its path
    x, y = a.trajectory.state_array("x"), a.trajectory.state_array("y")
    assert np.hypot(np.diff(x), np.diff(y)).sum() == pytest.approx(0.022 * 5.0, rel=1e-6)
    other = run_episode("klinotaxis", on="emulator", seed=4, duration="5 s")
    assert other.trajectory.state_array("x")[0] != a.trajectory.state_array("x")[0]


@pytest.mark.parametrize(
    ("circuit", "world"),
    [
        ("touch_response", "touch"),
        ("tap_withdrawal", "gym:CartPole-v1"),
        ("tap_withdrawal", "gym:Pendulum-v1"),
        ("tap_withdrawal", "gym:MountainCarContinuous-v0"),
    ],
)
def test_every_world_runs_on_the_emulator_cli(circuit: str, world: str, tmp_path, capsys) -> None:
    out = tmp_path / "ep"
    code = main(["episode", circuit, "--world", world, "--on", "emulator", "--duration", "1 s", "--json",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert {"circuit", "world", "on", "episodes", "return_mean", "return_std", "metrics", "wall_s"} <= set(
        data
    )
    assert data["world"] == world and data["on"] == "emulator" and data["episodes"] == 1
    assert (out / "trajectories.png").stat().st_size > 1000 and (out / "episode_0.gif").stat().st_size > 1000
    assert Result.load(out / "episode_0_spikes.h5").neuron_names
    rows = (out / "episode_0_trajectory.csv").read_text().splitlines()
    assert len(rows) >= 2 and rows[0].startswith("step,time_s")


@pytest.mark.parametrize("site", ["anterior", "posterior"])
def test_touch_response_in_the_touch_world_on_brian2(site: str) -> None:
    """Anterior touch: AVA wins, the worm reverses within half a second (Chalfie et al. 1985); posterior
    touch: AVB wins, the forward crawl speeds up."""
    spec = load_spec("touch_response")
    spec.bindings[0].params = {"site": site}
    episode = run_episode(spec, world="touch", on="brian2", seed=0, duration="4 s")
    assert episode.trajectory.steps == 200
    if site == "anterior":
        assert episode.metrics["reversal"] == 1.0 and 0.0 < episode.metrics["reversal_latency_s"] < 0.5
    else:
        assert episode.metrics["acceleration_after_posterior"] > 0.005  # mm/s, from 0.1 mm/s baseline


def test_errors_are_one_line_and_finished_episodes_are_kept(tmp_path, capsys, monkeypatch) -> None:
    assert main(["episode", "klinotaxis", "--world", "moon"]) == 2
    assert "unknown world 'moon'" in capsys.readouterr().err
    assert main(["episode", "klinotaxis", "--world", "gym:NoSuchEnv-v0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NoSuchEnv-v0" in err
    assert main(["episode", "whole_worm"]) == 2
    assert "has no world bindings" in capsys.readouterr().err
    assert main(["episode", "klinotaxis", "--duration", "5 parsecs"]) == 2
    assert "--duration" in capsys.readouterr().err

    calls = {"n": 0}
    original = KlinotaxisWorld.step

    def failing_step(self, action):
        calls["n"] += 1
        if calls["n"] > 30:  # the second episode fails at its 10th step
            raise FloatingPointError("plate melted")
        return original(self, action)

    monkeypatch.setattr(KlinotaxisWorld, "step", failing_step)
    out = tmp_path / "partial"
    code = main(["episode", "klinotaxis", "--on", "emulator", "--episodes", "3", "--duration", "1 s",
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "raised at step 10 of seed 1: FloatingPointError: plate melted" in err
    assert json.loads((out / "episode_0.json").read_text())["seed"] == 0  # the finished episode is on disk
    assert not (out / "episode_1.json").exists()
