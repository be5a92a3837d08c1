"""Worlds a circuit can act in: `make_world(name, **params)` builds one (see docs/worlds.md).

`klinotaxis` (point worm in a NaCl gradient), `touch` (gentle touch of a crawling worm), `body`
(ElegansBot's worm body) and `gym:<id>` (any installed gymnasium environment).
"""

from __future__ import annotations

import inspect
from typing import Any

from wormchip.worlds.base import Trajectory, WorldError, WormWorld, rollout

WORLDS: tuple[str, ...] = ("klinotaxis", "touch", "body", "gym:<id>")

__all__ = ["WORLDS", "Trajectory", "WorldError", "WormWorld", "make_world", "rollout"]


def _world_class(name: str) -> type[WormWorld]:
    if name == "klinotaxis":
        from wormchip.worlds.klinotaxis import KlinotaxisWorld

        return KlinotaxisWorld
    if name == "touch":
        from wormchip.worlds.touch import TouchWorld

        return TouchWorld
    if name == "body":
        from wormchip.worlds.body import BodyWorld

        return BodyWorld
    raise WorldError(f"unknown world {name!r}; choose one of: {', '.join(WORLDS)}")


def make_world(name: str, **params: Any) -> WormWorld:
    """Build the world `name` with its parameters; unknown names or parameters raise one-line WorldErrors."""
    if name.startswith("gym:"):
        from wormchip.worlds.gym import GymWorld

        env_id = name[len("gym:") :]
        if not env_id:
            raise WorldError("gym: give an environment id, e.g. gym:CartPole-v1")
        return GymWorld(env_id, **params)
    cls = _world_class(name)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise WorldError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )
    return cls(**params)
