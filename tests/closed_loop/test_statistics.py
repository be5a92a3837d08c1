"""`STAT:NAME` episode metrics (e.g. `max:position`): the value against the recorded observations, their use
as a fit objective, and one clear error line for a name the world does not record."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.circuits.loader import load_spec, to_yaml
from wormchip.circuits.schema import Objective
from wormchip.cli import main
from wormchip.closed_loop.episode import EpisodeError, prepare_episode, run_prepared, state_statistic
from wormchip.fit.objectives import episode_metric

WORLD = "gym:MountainCarContinuous-v0"


def _pushing_spec():
    """tap_withdrawal with a velocity gain that makes it push (the library's circuit never acts)."""
    spec = load_spec("tap_withdrawal")
    for sensor in spec.bindings[1].sensors[:2]:
        sensor.gain = "100 nA"
    return spec


def test_statistics_match_the_observations_of_the_episode() -> None:
    network, binding, env, resolved = prepare_episode(_pushing_spec(), WORLD)
    wanted = ["max:position", "min:position", "mean:velocity", "final:velocity"]
    episode = run_prepared(network, binding, env, resolved, "emulator", 3, "3 s", statistics=wanted)
    observed = np.array(episode.trajectory.observations)  # MountainCar: (position, velocity), reset included
    position, velocity = observed[:, 0], observed[:, 1]
    assert len(position) == episode.trajectory.steps + 1 == 91
    assert position.max() - position.min() > 0.05  # the car moved: the statistics differ
    assert episode.metrics["max:position"] == pytest.approx(position.max(), abs=1e-7)
    assert episode.metrics["min:position"] == pytest.approx(position.min(), abs=1e-7)
    assert episode.metrics["mean:velocity"] == pytest.approx(velocity.mean(), abs=1e-7)
    assert episode.metrics["final:velocity"] == pytest.approx(velocity[-1], abs=1e-7)
    assert "max:position" not in run_prepared(network, binding, env, resolved, "emulator", 3, "0.1 s").metrics
    with pytest.raises(
        EpisodeError, match="no state variable 'positon'; the world records: position, velocity"
    ):
        state_statistic(episode.trajectory, "max:positon")


def test_a_statistic_is_a_fit_objective() -> None:
    spec = _pushing_spec()
    objective = Objective(metric="max:position", world=WORLD, episodes=2, duration="2 s")
    network, binding, env, resolved = prepare_episode(spec, WORLD)
    expected = np.mean(
        [
            np.array(
                run_prepared(network, binding, env, resolved, "emulator", s, "2 s").trajectory.observations
            )[:, 0].max()
            for s in (0, 1)
        ]
    )
    assert episode_metric(spec, objective, "emulator") == pytest.approx(expected, abs=1e-7)


@pytest.mark.parametrize(
    ("metric", "suggestion"), [("max:positon", "; did you mean 'max:position'?"), ("median:speed", "")]
)
def test_an_unknown_metric_is_one_line_naming_field_value_and_fix(
    metric, suggestion, tmp_path, capsys
) -> None:
    path = tmp_path / "mc.yaml"
    path.write_text(
        to_yaml(load_spec("tap_withdrawal"))
        + "fit:\n  parameters:\n    - {path: 'bindings[1].motors[0].gain', low: 0.01, high: 0.1}\n"
        "    - {path: 'bindings[1].sensors[0].gain', low: '1 nA', high: '100 nA'}\n"
        f"  objectives:\n    - {{metric: return, world: '{WORLD}'}}\n"
        f"    - {{metric: '{metric}', world: '{WORLD}', weight: 5}}\n"
    )
    out = tmp_path / "out"
    assert main(["fit", str(path), "--workers", "1", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert (
        f"fit.objectives[1].metric: world '{WORLD}' has no metric '{metric}'; it reports: return, steps, and "
        f"min|max|mean|final:NAME for NAME in position, velocity{suggestion} (got '{metric}')" in error
    )
    assert not (out / "fit_state.pkl").exists()
