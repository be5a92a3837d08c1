"""YAML front end: parse a spec file safely (data only, never code) and report errors with line numbers."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from wormchip.circuits.errors import Problem, SpecError, closest
from wormchip.circuits.schema import CircuitSpec

LIBRARY_PACKAGE = "wormchip.circuits.library"


def library_names() -> list[str]:
    """Names of the circuits shipped with wormchip (YAML files in `wormchip/circuits/library/`)."""
    return sorted(p.name[:-5] for p in resources.files(LIBRARY_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def library_path(name: str) -> Path:
    """Path of a library circuit's YAML file."""
    path = Path(str(resources.files(LIBRARY_PACKAGE).joinpath(f"{name}.yaml")))
    if not path.is_file():
        raise SpecError([Problem([], f"no library circuit named {name!r}", suggestion=_library_hint(name))])
    return path


def _library_hint(name: str) -> str:
    return closest(name, library_names()) or f"library circuits: {', '.join(library_names())}"


def load_spec(circuit: str | Path) -> CircuitSpec:
    """Load a spec from a library name ("tap_withdrawal") or a YAML file path."""
    text_path = Path(circuit)
    if text_path.suffix in (".yaml", ".yml") or text_path.exists():
        if not text_path.is_file():
            raise SpecError([Problem([], f"spec file not found: {text_path}")])
        return parse_spec(text_path.read_text(encoding="utf-8"), source=str(text_path))
    return parse_spec(library_path(str(circuit)).read_text(encoding="utf-8"), source=f"library:{circuit}")


def parse_spec(text: str, source: str = "<string>") -> CircuitSpec:
    """Parse YAML text into a `CircuitSpec`; every schema violation becomes one `SpecError`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise SpecError(
            [Problem([], f"invalid YAML: {getattr(err, 'problem', err)}", line=line)], source
        ) from None
    except (ValueError, TypeError, RecursionError) as err:  # e.g. bad unicode, absurd nesting
        raise SpecError([Problem([], f"unreadable YAML: {err}")], source) from None
    if not isinstance(data, dict):
        raise SpecError(
            [Problem([], "a spec must be a YAML mapping with at least `name` and `populations`")], source
        )
    return from_dict(data, source=source, node=node)


def from_dict(data: dict, source: str = "<dict>", node: yaml.Node | None = None) -> CircuitSpec:
    """Validate plain data (from YAML or Python) into a `CircuitSpec`."""
    try:
        return CircuitSpec.model_validate(data)
    except ValidationError as err:
        problems = [_problem_from_pydantic(e, node) for e in err.errors()]
        raise SpecError(problems, source) from None


def to_yaml(spec: CircuitSpec) -> str:
    """Serialise a spec to YAML; `parse_spec(to_yaml(s)) == s` holds exactly."""
    return yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True)


def _problem_from_pydantic(error: dict, node: yaml.Node | None) -> Problem:
    path = [p for p in error["loc"] if not (isinstance(p, str) and p[:1].isupper())]  # drop union tags
    value = error.get("input")
    if isinstance(value, dict | list):
        value = None  # a whole sub-tree is not a useful "got"
    message = error["msg"]
    suggestion = None
    if error["type"] == "extra_forbidden" and path:
        message = f"unknown field {path[-1]!r}"
        suggestion = _field_hint(path)
        value = None
    elif error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "literal_error":
        suggestion = f"expected one of {error.get('ctx', {}).get('expected', '')}"
    return Problem(path, message, value, suggestion, _line_of(node, path))


def _field_hint(path: list) -> str | None:
    """Suggest the closest valid field name for an unknown key, from the schema model at that path."""
    model = CircuitSpec
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        ann = info.annotation
        inner = _model_in(ann)
        if inner is None:
            return None
        model = inner
    return closest(str(path[-1]), model.model_fields) or f"valid fields: {', '.join(model.model_fields)}"


def _model_in(annotation: object) -> type | None:
    """The pydantic model inside an annotation like `list[Population] | None`."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _line_of(node: yaml.Node | None, path: list) -> int | None:
    """1-based line of the deepest YAML node reached by `path`."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                key = next((k for k, _ in node.value if getattr(k, "value", None) == part), None)
                return key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line
