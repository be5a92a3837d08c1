"""`SpecError`: the one error a malformed spec produces, naming file, line, field path, value and a fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from wormchip.errors import WormchipError


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


class Problem:
    """One issue in a spec: where (field path, YAML line) and what (message, offending value, suggestion)."""

    def __init__(
        self,
        path: Iterable[str | int],
        message: str,
        value: object = None,
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
        where = f"line {self.line}: " if self.line else ""
        value = f" (got {self.value!r})" if self.value is not None else ""
        hint = f"; {self.suggestion}" if self.suggestion else ""
        return f"{where}{self.field}: {self.message}{value}{hint}"


def closest(name: str, options: Iterable[str], n: int = 3) -> str | None:
    """'did you mean …' text for the closest valid names, or None."""
    matches = difflib.get_close_matches(str(name), list(options), n=n, cutoff=0.5)
    return f"did you mean {' or '.join(repr(m) for m in matches)}?" if matches else None
