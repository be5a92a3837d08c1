"""scripts/klinotaxis_steer.py (docs/fit.md, experiment 1 stage 4): the closed-form surrogate against the
straight-crawl geometry, and the stage-4 start point inside the fit's bounds."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def steer():
    spec = importlib.util.spec_from_file_location(
        "klinotaxis_steer", ROOT / "scripts" / "klinotaxis_steer.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("gradient", ["gaussian", "linear"])
def test_surrogate_with_no_terms_crawls_straight(steer, gradient) -> None:
    """c = a = b = k = 0: the worm crawls straight at 0.022 cm/s from the seeded start, so its chemotaxis index
    is 1 − mean|p₀ + v·t·u| / |p₀| over t = 0, dt, …, T (computed here from the geometry alone)."""
    from wormchip.worlds.klinotaxis import KlinotaxisWorld

    world = KlinotaxisWorld(gradient=gradient)
    world.reset(seed=7)
    state = world.state()
    t = np.arange(0, round(60.0 / world.dt) + 1) * world.dt
    x = state["x"] + 0.022 * t * math.cos(state["heading"])
    y = state["y"] + 0.022 * t * math.sin(state["heading"])
    expected = 1.0 - np.hypot(x, y).mean() / math.hypot(state["x"], state["y"])
    got = steer.surrogate_index(0.0, 0.0, 0.0, 0.0, gradient, seed=7, duration=60.0)
    assert got == pytest.approx(expected, abs=1e-9)


def test_surrogate_constant_turn_circles_in_place(steer) -> None:
    """c = 1 (steer 1, turn 1.5 rad/s): a circle of radius v/ω = 0.0147 cm, so the index stays within
    2·0.0147/4.5 of 0."""
    got = steer.surrogate_index(1.0, 0.0, 0.0, 0.0, "linear", seed=3, duration=60.0)
    assert abs(got) < 2 * 0.022 / 1.5 / 4.5


def test_start_point_is_the_config_start_inside_the_bounds(steer) -> None:
    import yaml

    from wormchip.fit.params import ParameterSpace

    config = yaml.safe_load((ROOT / steer.CONFIG).read_text())
    space = ParameterSpace(steer.start_spec())
    x0 = space.x0()
    assert np.all((x0 > 0) & (x0 < 1))
    values = space.values(x0)
    for path, value in config["start"].items():
        assert values[path] == value
