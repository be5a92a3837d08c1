"""The search space of a fit: the values a spec's `fit` section frees, as one vector in [0, 1]ⁿ.

Each `FreeParameter` is one variable (or one per explicit edge for `connections.<name>.edges.weight`), mapped
linearly or logarithmically onto [low, high]; each `FreeSigns` entry is one variable whose half (< 0.5 or
≥ 0.5) picks the sign written as a `sign_overrides` entry. `apply(x)` returns the candidate as a new spec (a
plain dict round-trips through the schema), so every candidate is a complete spec any command accepts.
Paths are resolved once, before any work: an unknown path is a `SpecError` naming it, its file and line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wormchip.circuits.errors import Problem, SpecError, closest
from wormchip.circuits.schema import CircuitSpec
from wormchip.units import UnitError, parse_quantity, unit_of

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Variable:
    """One coordinate of the search space: where it writes, its bounds (SI), scale and unit."""

    label: str
    location: Location  # keys and list indices into the spec's plain-data form
    low: float
    high: float
    scale: str  # "linear", "log" or "sign"
    unit: str  # written back as "<value> <unit>"; "" for plain numbers
    unit_scale: float
    current: float | None  # the spec's value (SI), None when not given (a registry default)

    def value(self, u: float) -> float:
        """[0, 1] → the value (SI), or ±1 for a sign."""
        u = min(max(float(u), 0.0), 1.0)
        if self.scale == "sign":
            return 1.0 if u >= 0.5 else -1.0
        if self.scale == "log":
            return self.low * (self.high / self.low) ** u
        return self.low + u * (self.high - self.low)

    def position(self, value: float | None) -> float:
        """The value → [0, 1] (0.5 when unknown), the inverse of `value`."""
        if value is None or self.scale == "sign":
            return 0.5
        if self.scale == "log":
            u = math.log(value / self.low) / math.log(self.high / self.low) if value > 0 else 0.0
        else:
            u = (value - self.low) / (self.high - self.low) if self.high > self.low else 0.5
        return min(max(u, 0.0), 1.0)

    def written(self, value: float) -> str | float:
        """How the value appears in the spec: a quantity string in the unit of `low`, or a number."""
        if self.unit:
            return f"{value / self.unit_scale:.6g} {self.unit}"
        return float(f"{value:.6g}")


def _tokens(path: str) -> list[str | int]:
    """`bindings[0].motors[1].gain` → ['bindings', 0, 'motors', 1, 'gain']."""
    out: list[str | int] = []
    for part in path.split("."):
        name, _, rest = part.partition("[")
        if name:
            out.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            if not index.isdigit():
                raise ValueError(f"bad index [{index}]")
            out.append(int(index))
            rest = rest.lstrip("[")
    return out


def _walk(data: object, tokens: list[str | int]) -> tuple[Location, object] | str:
    """Follow `tokens` through plain data; list items by index or by their `name`. Returns the location and
    value, or the text of the problem. A missing key inside a `params` mapping is allowed (a default)."""
    location: list[str | int] = []
    node = data
    for depth, token in enumerate(tokens):
        if isinstance(node, list):
            if isinstance(token, int):
                if token >= len(node):
                    return f"index [{token}] is out of range ({len(node)} items)"
                location.append(token)
                node = node[token]
                continue
            names = [item.get("name") for item in node if isinstance(item, dict)]
            if token not in names:
                hint = closest(token, [n for n in names if n])
                return f"no item named {token!r}" + (
                    f"; {hint}" if hint else f" (have: {', '.join(map(str, names))})"
                )
            k = names.index(token)
            location.append(k)
            node = node[k]
        elif isinstance(node, dict):
            if token not in node:
                if location and location[-1] == "params" and depth == len(tokens) - 1:
                    location.append(token)
                    return tuple(location), None
                hint = closest(str(token), list(node))
                return f"no field {token!r}" + (f"; {hint}" if hint else "")
            location.append(token)
            node = node[token]
        else:
            return f"{'.'.join(map(str, tokens[:depth]))} is a value, it has no field {token!r}"
    return tuple(location), node


def _number(text: object, unit: str, dimension: str) -> float:
    if unit:
        return parse_quantity(text, dimension)  # type: ignore[arg-type]
    return float(text)  # type: ignore[arg-type]


class ParameterSpace:
    """The free values of `spec.fit` as variables in [0, 1]; `apply(x)` writes a candidate spec."""

    def __init__(self, spec: CircuitSpec) -> None:
        if spec.fit is None:
            raise SpecError(
                [Problem(["fit"], "the spec has no `fit` section (free parameters and objectives)")]
            )
        self.base = spec.model_dump(mode="json")
        self.variables: list[Variable] = []
        self._sign_groups: dict[int, tuple[list[str], list[str]]] = {}  # variable index → (pre, post)
        problems: list[Problem] = []
        for i, free in enumerate(spec.fit.parameters):
            problems += self._add_parameter(i, free)
        for i, signs in enumerate(spec.fit.signs):
            problems += self._add_signs(i, signs)
        if not self.variables and not problems:
            problems.append(Problem(["fit"], "nothing to fit: give `parameters` or `signs`"))
        if problems:
            from wormchip.circuits.loader import located

            raise located(problems, spec)

    @property
    def size(self) -> int:
        return len(self.variables)

    def _add_parameter(self, i: int, free) -> list[Problem]:
        path = ["fit", "parameters", i]
        try:
            tokens = _tokens(free.path)
        except ValueError as err:
            return [Problem([*path, "path"], str(err), free.path)]
        edges = tokens[-2:] == ["edges", "weight"]
        found = _walk(self.base, tokens[:-1] if edges else tokens)
        if isinstance(found, str):
            return [Problem([*path, "path"], f"path does not exist: {found}", free.path)]
        location, value = found
        if edges and not isinstance(value, list):
            return [
                Problem([*path, "path"], "`edges.weight` needs a connection with explicit `edges`", free.path)
            ]
        try:
            unit, unit_scale, dimension = unit_of(free.low) if isinstance(free.low, str) else ("", 1.0, "")
            low = _number(free.low, unit, dimension)
            high = _number(free.high, unit, dimension)
            currents = [edge["weight"] for edge in value] if edges else [value]
            currents = [None if c is None else _number(c, unit, dimension) for c in currents]
        except (UnitError, TypeError, ValueError) as err:
            return [
                Problem(
                    [*path, "low"], f"bounds and the value must have the same kind of unit: {err}", free.low
                )
            ]
        if not low < high:
            return [
                Problem(
                    [*path, "high"],
                    f"bounds are reversed or empty: low {free.low} ≥ high {free.high}",
                    free.high,
                )
            ]
        if free.scale == "log" and low <= 0:
            return [Problem([*path, "low"], "a log scale needs bounds > 0", free.low)]
        if edges:
            for k, current in enumerate(currents):
                self.variables.append(
                    Variable(
                        f"{free.path}[{k}]",
                        (*location, k, "weight"),
                        low,
                        high,
                        free.scale,
                        unit,
                        unit_scale,
                        current,
                    )
                )
        else:
            self.variables.append(
                Variable(free.path, location, low, high, free.scale, unit, unit_scale, currents[0])
            )
        return []

    def _add_signs(self, i: int, signs) -> list[Problem]:
        found = _walk(self.base, ["connections", signs.connection])
        if isinstance(found, str):
            return [
                Problem(["fit", "signs", i, "connection"], f"unknown connection: {found}", signs.connection)
            ]
        location, conn = found
        if conn.get("from_connectome") != "chemical":
            return [Problem(["fit", "signs", i, "connection"], "signs can be fitted on `from_connectome: chemical` "
                            "connections only", signs.connection)]  # fmt: skip
        label = f"sign {signs.connection}: {','.join(signs.pre)} -> {','.join(signs.post)}"
        self.variables.append(
            Variable(label, (*location, "sign_overrides"), -1.0, 1.0, "sign", "", 1.0, None)
        )
        self._sign_groups[len(self.variables) - 1] = (list(signs.pre), list(signs.post))
        return []

    def x0(self) -> np.ndarray:
        """The spec's own values as a point of [0, 1]ⁿ (0.5 where unknown)."""
        return np.array([v.position(v.current) for v in self.variables])

    def values(self, x: np.ndarray) -> dict[str, str | float]:
        """Label → the value as written in the spec (signs: excitatory/inhibitory)."""
        out: dict[str, str | float] = {}
        for v, u in zip(self.variables, x):
            value = v.value(u)
            out[v.label] = (
                ("excitatory" if value > 0 else "inhibitory") if v.scale == "sign" else v.written(value)
            )
        return out

    def apply(self, x: np.ndarray) -> CircuitSpec:
        """The candidate spec at `x` (validated by the schema)."""
        import copy

        data = copy.deepcopy(self.base)
        for k, (v, u) in enumerate(zip(self.variables, x)):
            value = v.value(u)
            if v.scale == "sign":
                pre, post = self._sign_groups[k]
                target = _at(data, v.location)
                target.append({"pre": pre, "post": post, "sign": "excitatory" if value > 0 else "inhibitory",
                               "source": "wormchip fit"})  # fmt: skip
            else:
                parent = _at(data, v.location[:-1])
                parent[v.location[-1]] = v.written(value)
        return CircuitSpec.model_validate(data)


def _at(data: object, location: Location) -> object:
    node = data
    for key in location:
        node = node[key]  # type: ignore[index]
    return node


def set_value(spec: CircuitSpec, path: str, value: str | float) -> CircuitSpec:
    """A copy of `spec` with the value at `path` replaced (for sweeps); unknown paths are SpecErrors."""
    data = spec.model_dump(mode="json")
    found = _walk(data, _tokens(path))
    if isinstance(found, str):
        raise SpecError([Problem(["--param"], f"path {path!r} does not exist: {found}", path)])
    location, _ = found
    _at(data, location[:-1])[location[-1]] = value  # type: ignore[index]
    return CircuitSpec.model_validate(data)
