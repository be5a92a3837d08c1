"""`SpecError`: the one error a malformed spec produces, naming file, line, field path, value and a fix."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable, Sequence

import yaml

from wormchip.errors import WormchipError


class _NoValue:
    """Marks a problem without an offending value (distinct from a value of None, i.e. YAML `null`)."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 6
_REPR.maxlevel = 3


class SpecError(WormchipError, ValueError):
    """A spec violates the schema or the registry/connectome. `problems` holds every issue found."""

    def __init__(self, problems: list[Problem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        super().__init__(self.__str__())

    def __str__(self) -> str:
        head = f"{self.source}: " if self.source else ""
        lines = [p.render() for p in self.problems]
        if len(lines) == 1:
            return head + lines[0]
        return head + f"{len(lines)} problems:\n  " + "\n  ".join(lines)

    def __reduce__(self) -> tuple:
        return (type(self), (self.problems, self.source))


class Problem:
    """One issue in a spec: where (field path, YAML line) and what (message, offending value, suggestion)."""

    def __init__(
        self,
        path: Iterable[str | int],
        message: str,
        value: object = NO_VALUE,
        suggestion: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = tuple(path)
        self.message = message
        self.value = value
        self.suggestion = suggestion
        self.line = line

    @property
    def field(self) -> str:
        """Dotted field path, list indices in brackets: `populations[0].params.tau_m`."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "<spec>"

    def render(self) -> str:
        """One line: `line N: field.path: message (got value); suggestion`."""
        where = f"line {self.line}: " if self.line else ""
        value = f" (got {_REPR.repr(self.value)})" if self.value is not NO_VALUE else ""
        hint = f"; {self.suggestion}" if self.suggestion else ""
        return f"{where}{self.field}: {self.message}{value}{hint}"

    def __repr__(self) -> str:
        return f"Problem({self.render()!r})"


def closest(name: str, options: Iterable[str], n: int = 3, cutoff: float = 0.5) -> str | None:
    """'did you mean …' text for the closest valid names, or None."""
    matches = difflib.get_close_matches(str(name), [str(o) for o in options], n=n, cutoff=cutoff)
    return f"did you mean {' or '.join(repr(m) for m in matches)}?" if matches else None


def line_of(node: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    """1-based line of the deepest YAML node reached by `path` (the key's line for a mapping entry).

    None when even the first part is not in the file (e.g. a value given on the command line).
    """
    line = node.start_mark.line + 1 if node is not None else None
    for depth, part in enumerate(path):
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value if _key_matches(k, part)), None)
            if entry is None:
                return line if depth else None
            key, node = entry
            line = key.start_mark.line + 1
            continue
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
            continue
        break
    return line


def _key_matches(key: yaml.Node, part: str | int) -> bool:
    return isinstance(key, yaml.ScalarNode) and key.value == str(part)
