"""make_world: names, unknown names and parameters as one-line errors."""

from __future__ import annotations

import gymnasium
import pytest

from wormchip.errors import WormchipError
from wormchip.worlds import WORLDS, WorldError, make_world


def test_names_build_worlds() -> None:
    assert WORLDS == ("klinotaxis", "touch", "body", "gym:<id>")
    for name in ("klinotaxis", "touch", "gym:CartPole-v1"):
        world = make_world(name)
        assert isinstance(world, gymnasium.Env)
        assert len(world.observation_names) and len(world.action_names) and world.dt > 0
    assert make_world("klinotaxis", dt=0.1, gradient="linear").dt == 0.1


def test_unknown_world_names_choices() -> None:
    with pytest.raises(WorldError) as err:
        make_world("chemotaxis")
    message = str(err.value)
    assert "chemotaxis" in message and all(w in message for w in WORLDS) and "\n" not in message
    assert isinstance(err.value, WormchipError)  # the CLI prints it as one line, exit 2


def test_unknown_parameter() -> None:
    with pytest.raises(WorldError, match=r"unknown parameter\(s\) speeed; accepted: dt"):
        make_world("klinotaxis", speeed=1.0)
