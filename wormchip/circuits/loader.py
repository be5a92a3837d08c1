"""YAML front end: parse a spec file safely (data only, never code) and report errors with line numbers.

Only `yaml.SafeLoader` is used: tags such as `!!python/object/apply:…` are rejected, nothing is evaluated,
and alias "bombs" (nested anchors that expand exponentially) are rejected before validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from wormchip.circuits.errors import NO_VALUE, Problem, SpecError, closest, line_of
from wormchip.circuits.schema import CircuitSpec, Population
from wormchip.models import NEURON_MODELS

LIBRARY_PACKAGE = "wormchip.circuits.library"
#: Most YAML nodes a spec may expand to (aliases counted at every use): guards against alias bombs.
MAX_NODES = 200_000


@dataclass(frozen=True)
class Origin:
    """Where a spec was read from: a file name (or "<string>") and its YAML node tree, for line numbers."""

    source: str
    node: yaml.Node | None = None

    def __deepcopy__(self, memo: dict) -> Origin:  # immutable: copies of a spec share it
        return self


def library_names() -> list[str]:
    """Names of the circuits shipped with wormchip (YAML files in `wormchip/circuits/library/`)."""
    return sorted(p.name[:-5] for p in resources.files(LIBRARY_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def library_path(name: str) -> Path:
    """Path of a library circuit's YAML file."""
    if name not in library_names():
        raise SpecError([Problem([], f"no library circuit named {name!r}", suggestion=_library_hint(name))])
    return Path(str(resources.files(LIBRARY_PACKAGE).joinpath(f"{name}.yaml")))


def _library_hint(name: str) -> str:
    return closest(name, library_names()) or f"library circuits: {', '.join(library_names())}"


def load_spec(circuit: str | Path) -> CircuitSpec:
    """Load a spec from a library name ("tap_withdrawal") or a YAML file path."""
    text_path = Path(circuit)
    if text_path.suffix in (".yaml", ".yml") or text_path.is_file():
        if text_path.is_dir():
            raise SpecError([Problem([], f"{text_path} is a folder, not a spec file; give a .yaml file")])
        if not text_path.is_file():
            raise SpecError([Problem([], f"spec file not found: {text_path}")])
        return parse_spec(_read(text_path), source=str(text_path))
    if text_path.is_dir() and str(circuit) not in library_names():
        raise SpecError([Problem([], f"{text_path} is a folder, not a spec file or library circuit")])
    return parse_spec(_read(library_path(str(circuit))), source=f"library:{circuit}")


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(
            [Problem([], f"not a UTF-8 text file ({err.reason} at byte {err.start})")], str(path)
        ) from None
    except OSError as err:
        raise SpecError([Problem([], f"cannot read spec file: {err.strerror or err}")], str(path)) from None


def parse_spec(text: str | bytes, source: str = "<string>") -> CircuitSpec:
    """Parse YAML text into a `CircuitSpec`; every schema violation becomes one `SpecError`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_size(node)
        data = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader: data only
    except yaml.YAMLError as err:
        raise SpecError([_yaml_problem(err)], source) from None
    except (ValueError, TypeError, RecursionError) as err:  # e.g. bad unicode, absurd nesting
        raise SpecError([Problem([], f"unreadable YAML: {type(err).__name__}: {err}")], source) from None
    if not isinstance(data, dict):
        raise SpecError(
            [
                Problem(
                    [],
                    "a spec must be a YAML mapping with at least `name` and `populations`",
                    data if data is None or isinstance(data, str | int | float) else NO_VALUE,
                    line=line_of(node, []),
                )
            ],
            source,
        )
    return from_dict(data, source=source, node=node)


def _yaml_problem(err: yaml.YAMLError) -> Problem:
    """A YAML syntax/constructor error as a Problem with its line."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(err, "problem", None) or str(err)
    suggestion = None
    if isinstance(err, yaml.constructor.ConstructorError):
        suggestion = "spec files are plain data: tags such as !!python/... are not allowed"
    return Problem([], f"invalid YAML: {problem}", suggestion=suggestion, line=line)


def _check_size(root: yaml.Node | None) -> None:
    """Reject documents that expand (through aliases) to more than MAX_NODES nodes."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # a recursive alias counts once (SafeLoader builds it; validation rejects it)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[key] = total = min(total, MAX_NODES + 1)
        return total

    if root is not None and size(root) > MAX_NODES:
        raise SpecError(
            [
                Problem(
                    [],
                    f"the document expands to more than {MAX_NODES} YAML nodes",
                    suggestion="check anchors and aliases (&name / *name)",
                )
            ]
        )


def from_dict(data: dict, source: str = "<dict>", node: yaml.Node | None = None) -> CircuitSpec:
    """Validate plain data (from YAML or Python) into a `CircuitSpec`."""
    problems: list[Problem] = []
    try:
        spec = CircuitSpec.model_validate(data)
    except ValidationError as err:
        problems += _problems_from_pydantic(err.errors(), data, node)
    except RecursionError:  # self-referencing YAML aliases (`&a [*a]`)
        problems.append(
            Problem([], "the spec refers to itself (recursive YAML alias)", line=line_of(node, []))
        )
    if problems:
        raise SpecError(problems, source)
    spec._origin = Origin(source, node)
    return spec


def origin_of(spec: CircuitSpec) -> Origin | None:
    """Where a spec was loaded from (None for specs made in Python)."""
    origin = getattr(spec, "_origin", None)
    return origin if isinstance(origin, Origin) else None


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing strings with Unicode line breaks double-quoted (escaped), so they load back exactly."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(ch in value for ch in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(spec: CircuitSpec) -> str:
    """Serialise a spec to YAML; `parse_spec(to_yaml(s)) == s` holds exactly."""
    return yaml.dump(spec.to_dict(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)


#: Readable names of pydantic union members, for "expected … or …" messages.
_TAG_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "list[str]": "a list of names"}


def _problems_from_pydantic(errors: list[dict], data: object, node: yaml.Node | None) -> list[Problem]:
    """One Problem per offending field (the errors of a union's members are merged into one)."""
    grouped: dict[tuple, list[tuple[dict, list]]] = {}
    for error in errors:
        path, tags = _real_path(data, error)
        grouped.setdefault(tuple(path), []).append((error, tags))
    out = []
    for path, items in grouped.items():
        error = items[0][0]
        problem = _problem_from_pydantic(error, list(path), node)
        if len(items) > 1:
            tags = [t for _, tags in items for t in tags]
            if {"str", "int", "float"} <= set(tags):
                problem.message = (
                    "expected a quantity with a unit, e.g. '20 ms' (or a number if dimensionless)"
                )
                if any(e["type"] == "finite_number" for e, _ in items):
                    problem.message = "must be a finite number"
            else:
                names = dict.fromkeys(_TAG_NAMES.get(t, t) for t in tags)
                problem.message = f"expected {' or '.join(names)}"
            problem.suggestion = None
        out.append(problem)
    return out


def _real_path(data: object, error: dict) -> tuple[list, list[str]]:
    """Split pydantic's `loc` into the path through the data and the union tags pydantic adds."""
    path, tags = [], []
    current = data
    loc = list(error["loc"])
    for k, part in enumerate(loc):
        if isinstance(current, dict) and part in current:
            current = current[part]
            path.append(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            path.append(part)
        elif error["type"] == "missing" and k == len(loc) - 1:
            path.append(part)
        elif part != "[key]":
            tags.append(str(part))
    return path, tags


def _problem_from_pydantic(error: dict, path: list, node: yaml.Node | None) -> Problem:
    value = error.get("input", NO_VALUE)
    if isinstance(value, dict) or isinstance(value, BaseModel):
        value = NO_VALUE  # a whole sub-tree is not a useful "got"
    message = error["msg"]
    suggestion = None
    kind = error["type"]
    if kind == "extra_forbidden" and path:
        message = f"unknown field {path[-1]!r}"
        suggestion = _field_hint(path)
    elif kind == "missing":
        message = "required field is missing"
        value = NO_VALUE
    elif kind == "literal_error":
        suggestion = f"expected one of {error.get('ctx', {}).get('expected', '')}"
    elif kind == "string_pattern_mismatch":
        message = "not a valid name: use letters, digits and underscores, starting with a letter"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    return Problem(path, message, value, suggestion, line_of(node, path))


def _field_hint(path: list) -> str | None:
    """Suggest the closest valid field name for an unknown key, from the schema model at that path."""
    model: type[BaseModel] = CircuitSpec
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        inner = _model_in(info.annotation)
        if inner is None:
            return None
        model = inner
    if model is Population and any(path[-1] in m.params for m in NEURON_MODELS.values()):
        return f"model parameters go under `params:`, e.g. params: {{{path[-1]}: ...}}"
    fields = list(model.model_fields)
    return closest(str(path[-1]), fields, cutoff=0.6) or f"valid fields: {', '.join(fields)}"


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside an annotation like `list[Population] | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def located(problems: list[Problem], spec: CircuitSpec) -> SpecError:
    """A `SpecError` for problems found after loading (bindings, fit sections), with the spec's file and the
    line of each problem's field when the spec was read from YAML."""
    origin = origin_of(spec)
    if origin is not None and origin.node is not None:
        for problem in problems:
            if problem.line is None and problem.path and not str(problem.path[0]).startswith("-"):
                problem.line = line_of(origin.node, problem.path)
    return SpecError(problems, origin.source if origin is not None else None)
