"""Generate docs/spec.md, the circuit spec reference, from the pydantic schema and the model registry.

Run `python scripts/gen_spec_docs.py` after changing `schema.py` or `models.py`; `tests/test_docs.py` fails
when docs/spec.md differs from `spec_reference()`. Field descriptions come from `Field(description=...)`,
units from `json_schema_extra={"dimension": ...}`, models from `wormchip.models`. The few paragraphs that
no schema can express (stimulus kinds, rules between fields) are kept here, next to the generator.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Iterator
from pathlib import Path

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from wormchip.circuits import schema
from wormchip.models import REGISTRIES, ModelInfo
from wormchip.units import EXAMPLES, PREFIXES, UNIT_DIMENSIONS

#: Rules between fields (model validators and build checks) that the field tables cannot show.
SECTION_NOTES: dict[str, list[str]] = {
    "Population": [
        "Give exactly one of `neurons`, `cells`, `size`; a neuron may belong to one population only.",
        "`params` must be parameters of `model` (see [Models](#models)), with the units of their dimension.",
    ],
    "Connection": [
        "Give exactly one of `from_connectome`, `edges`, `random`.",
        "`from_connectome` needs connectome populations (`neurons:`); `gap` needs `synapse: gap_junction`.",
        "`exp_conductance` needs conductance-based target neurons (`model: conductance_lif`).",
        "Plasticity needs a spiking synapse (`exp_current` or `exp_conductance`).",
        "Gap junctions are symmetric: each pair is listed once and current flows both ways.",
    ],
    "RunSettings": [
        "`dt` larger than half the fastest membrane (C_m/g_L) or synaptic time constant is an error.",
    ],
}

#: What each stimulus kind does and which fields it reads (see `wormchip/circuits/build.py`).
STIMULUS_KINDS: dict[str, str] = {
    "step": "constant current `amplitude` into `targets` from `start` for `duration` (unset: to the end)",
    "pulse": "as `step`, but `duration` is required",
    "touch": "mechanosensory pulse of `amplitude` on the touch cells of `site` "
    "(anterior: ALM, AVM; posterior: PLM; both), 50 ms unless `duration` is given; `targets` overrides",
    "tap": "as `touch`, with `site` defaulting to `both` (a plate tap reaches every touch cell)",
    "poisson": "independent Poisson spike trains at `rate`, one per target, through `synapse` with `weight`",
    "timeseries": "current `amplitude` × the CSV column `column` of `file`, linearly interpolated in time",
    "gradient": "klinotaxis input from `gradient`: ON cells get gain·max(dC/dt, 0), OFF cells "
    "gain·max(−dC/dt, 0) (Suzuki et al. 2008, Nature 454:114)",
}

#: The smallest useful spec; the test builds it, so it cannot rot.
MINIMAL_EXAMPLE = """\
name: two_cells
populations:
  - {name: a, cells: [A], model: lif, params: {I_bias: "0.8 nA"}}
  - {name: b, cells: [B], model: lif}
connections:
  - {name: ab, source: [a], target: [b], synapse: exp_current, weight_scale: "2 nA",
     edges: [{pre: A, post: B, weight: 1}]}
probes:
  - {variables: [v], neurons: all, dt: "1 ms"}
run: {dt: "0.1 ms", duration: "200 ms", seed: 0}
"""

#: A spec with two mistakes; the reference shows the error messages it produces.
MISTAKE_EXAMPLE = """\
name: two_cells
populations:
  - {name: a, cells: [A], model: lif, params: {I_bias: "0.8"}}
run: {duraton: "200 ms"}
"""

PYTHON_EXAMPLE = """\
from wormchip.circuits.schema import CircuitSpec, Population, Probe, RunSettings
from wormchip.circuits.loader import to_yaml
from wormchip.simulate import simulate

spec = CircuitSpec(
    name="python_made",
    populations=[Population(name="touch", neurons=["ALM", "AVM", "AVD", "AVA"], model="lif")],
    probes=[Probe(variables=["v"], neurons=["AVA"])],
    run=RunSettings(duration="200 ms"),
)
print(to_yaml(spec))          # the same spec as YAML (round-trips exactly)
run = simulate(spec)          # spec -> IR -> Brian2 -> Result
"""


def _models() -> list[type[BaseModel]]:
    """Every schema model reachable from CircuitSpec, in order of first appearance."""
    seen: list[type[BaseModel]] = []

    def visit(tp: object) -> None:
        for m in _model_types(tp):
            if m not in seen:
                seen.append(m)
                for f in m.model_fields.values():
                    visit(f.annotation)

    visit(schema.CircuitSpec)
    return seen


def _model_types(tp: object) -> Iterator[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        yield tp
        return
    for arg in typing.get_args(tp):
        yield from _model_types(arg)


def _strip(tp: object) -> tuple[object, list]:
    """Annotated[T, ...] → (T, metadata)."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *meta = typing.get_args(tp)
        inner, more = _strip(base)
        return inner, [*meta, *more]
    return tp, []


_QUANTITY_ARGS = {_strip(a)[0] for a in typing.get_args(schema.Quantity)}
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _is_union(tp: object) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def render_type(tp: object) -> str:
    """A readable type: `quantity`, `list of string`, `map of quantity`, `[Edge](#edge)`, …"""
    tp, _ = _strip(tp)
    if _is_union(tp):
        args = list(typing.get_args(tp))
        bases = [_strip(a)[0] for a in args]
        parts = []
        if _QUANTITY_ARGS <= set(bases):
            parts.append("quantity")
            args = [a for a, b in zip(args, bases) if b not in _QUANTITY_ARGS]
        parts += [render_type(a) for a in args if _strip(a)[0] is not type(None)]
        return " or ".join(dict.fromkeys(parts)) + (" or null" if type(None) in bases else "")
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        values = typing.get_args(tp)
        if len(values) == 1:
            return f"`{values[0]}`"
        return "string" if all(isinstance(a, str) for a in values) else "literal"
    if origin is list:
        return f"list of {render_type(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"map of {render_type(typing.get_args(tp)[1])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    return _SCALARS.get(tp, getattr(tp, "__name__", str(tp)))  # type: ignore[arg-type]


def _literals(tp: object) -> list[str]:
    """Allowed values when a field's non-null types are all Literal (not for `list or "all"`)."""
    tp, _ = _strip(tp)
    bases = [_strip(a)[0] for a in typing.get_args(tp)] if _is_union(tp) else [tp]
    bases = [b for b in bases if b is not type(None)]
    if not all(typing.get_origin(b) is typing.Literal for b in bases):
        return []
    return [str(v) for b in bases for v in typing.get_args(b)]


def _constraints(field: FieldInfo) -> list[str]:
    """Allowed values and bounds, from Literal types and annotated-types / pydantic metadata."""
    meta = list(field.metadata)
    for a in typing.get_args(field.annotation) if _is_union(field.annotation) else ():
        meta += _strip(a)[1]
    out = []
    literals = _literals(field.annotation)
    if literals:
        out.append("one of " + ", ".join(f"`{v}`" for v in literals))
    for m in meta:
        for item in getattr(m, "metadata", [m]):  # nested FieldInfo carries its own metadata
            if isinstance(item, annotated_types.Ge):
                out.append(f"≥ {item.ge}")
            elif isinstance(item, annotated_types.Le):
                out.append(f"≤ {item.le}")
            elif isinstance(item, annotated_types.MinLen):
                out.append(f"at least {item.min_length} item{'s' if item.min_length > 1 else ''}")
            elif getattr(item, "pattern", None):
                out.append(f"matches `{item.pattern}`")
    return list(dict.fromkeys(out))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    if value is None:
        return "unset"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _unit(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    dimension = extra.get("dimension")
    if not dimension:
        return ""
    return " or ".join(f"{d} (`{EXAMPLES[d]}`)" for d in str(dimension).split(" | "))


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _doc(cls: type) -> str:
    return " ".join(inspect.cleandoc(cls.__doc__ or "").split())


def _section(cls: type[BaseModel], key: str) -> list[str]:
    title = "Circuit (top level)" if cls is schema.CircuitSpec else f"`{key}`: {cls.__name__}"
    lines = [f'### <a id="{cls.__name__.lower()}"></a>{title}', "", _doc(cls), ""]
    lines += [
        "| field | type | default | allowed values | unit | description |",
        "|---|---|---|---|---|---|",
    ]
    for name, field in cls.model_fields.items():
        row = [
            f"`{name}`",
            render_type(field.annotation),
            _default(field),
            _cell("; ".join(_constraints(field))),
            _unit(field),
            _cell(field.description or ""),
        ]
        lines.append("| " + " | ".join(row) + " |")
    notes = SECTION_NOTES.get(cls.__name__, [])
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    if cls is schema.Stimulus:
        lines += ["", "Stimulus kinds:", "", "| kind | what it does |", "|---|---|"]
        lines += [f"| `{k}` | {v} |" for k, v in STIMULUS_KINDS.items()]
    return [*lines, ""]


def _where_used() -> dict[type[BaseModel], str]:
    """Model → the YAML path where it appears (`connections[].random`)."""
    out: dict[type[BaseModel], str] = {schema.CircuitSpec: ""}

    def visit(cls: type[BaseModel], prefix: str) -> None:
        for name, field in cls.model_fields.items():
            tp, _ = _strip(field.annotation)
            many = "list of" in render_type(field.annotation)
            for m in _model_types(tp):
                if m not in out:
                    out[m] = f"{prefix}{name}{'[]' if many else ''}"
                    visit(m, out[m] + ".")

    visit(schema.CircuitSpec, "")
    return out


def _shared_doc(info: ModelInfo, param: str) -> str:
    """A parameter's description from another model of the same kind, for entries that leave it out."""
    for other in REGISTRIES[info.kind].values():
        p = other.params.get(param)
        if p is not None and p.doc:
            return f"{p.doc} (as in `{other.name}`)"
    return ""


def _model_section(info: ModelInfo) -> list[str]:
    from wormchip.circuits.build import WEIGHT_DIMENSION

    lines = [f"#### `{info.name}`", "", info.summary, "", "```text", info.equations, "```", ""]
    facts = [f"Citation: {info.citation}."]
    if info.kind == "synapse" and info.name in WEIGHT_DIMENSION:
        dim = WEIGHT_DIMENSION[info.name]
        facts.append(f"`weight_scale` is a {dim} (e.g. `{EXAMPLES[dim]}`).")
    if info.conductance_based:
        facts.append("Conductance-based.")
    if info.beyond_liquid_papers:
        facts.append("Beyond the liquid-network papers (weights change during operation).")
    lines += [" ".join(facts), ""]
    if info.params:
        lines += ["| parameter | dimension | default | description |", "|---|---|---|---|"]
        for name, p in info.params.items():
            lines.append(
                f"| `{name}` | {p.dimension} | `{p.default}` | {_cell(p.doc or _shared_doc(info, name))} |"
            )
    else:
        lines.append("No parameters.")
    return [*lines, ""]


def _units_section() -> list[str]:
    bases: dict[str, list[str]] = {}
    for symbol, dim in UNIT_DIMENSIONS.items():
        bases.setdefault(dim, []).append(f"`{symbol}`")
    lines = [
        "## Quantities and units",
        "",
        "A quantity is written as a string: a number, optional space, a unit symbol with an optional SI prefix "
        '(`"20 ms"`, `"-65 mV"`, `"0.5nA"`). Plain numbers are accepted only for dimensionless parameters, so '
        "`tau: 20` (seconds? milliseconds?) is an error. Units are parsed by a fixed table, never evaluated, "
        "and checked against the dimension each field or parameter expects. Values stay strings in the spec "
        "(exact YAML round-trips) and become SI floats in the IR.",
        "",
        "| dimension | unit symbols | example |",
        "|---|---|---|",
    ]
    for dim, example in EXAMPLES.items():
        lines.append(f"| {dim} | {', '.join(bases.get(dim, ['(none: a plain number)']))} | `{example}` |")
    prefixes = ", ".join(f"`{p}` = {v:g}" for p, v in PREFIXES.items() if p)
    return [*lines, "", f"SI prefixes: {prefixes}.", ""]


def _mistake_messages() -> str:
    from wormchip.circuits.build import build
    from wormchip.circuits.errors import SpecError
    from wormchip.circuits.loader import parse_spec

    out = []
    try:
        parse_spec(MISTAKE_EXAMPLE, source="two_cells.yaml")
    except SpecError as err:
        out.append(str(err))
    fixed = MISTAKE_EXAMPLE.replace("duraton", "duration")
    try:
        build(parse_spec(fixed, source="two_cells.yaml"))
    except SpecError as err:
        out.append(str(err))
    return "\n".join(out)


def _example_library_yaml() -> str:
    from wormchip.circuits.loader import library_path

    return Path(library_path("tap_withdrawal")).read_text(encoding="utf-8").rstrip("\n")


def spec_reference() -> str:
    """The full text of docs/spec.md."""
    models = _models()
    where = _where_used()
    lines = [
        "# Circuit spec reference",
        "",
        "<!-- Generated by scripts/gen_spec_docs.py from wormchip/circuits/schema.py and wormchip/models.py. "
        "Do not edit by hand: edit those files and run `.venv/bin/python scripts/gen_spec_docs.py`. -->",
        "",
        "A circuit spec is data: a YAML file (or the same structure built in Python from "
        "`wormchip.circuits.schema`) that says which neurons, synapses, inputs, probes and run settings make a "
        "circuit. `wormchip.circuits.loader.load_spec` reads YAML safely (no code, no tags); `build` checks it "
        "against the model registry and the connectome and turns it into the backend-neutral IR. Unknown keys "
        "are errors, types are strict (no `true` for a number, no number for a string), and every problem is "
        "reported at once with file, line, field path and a suggestion.",
        "",
        "Contents: [Examples](#examples) · [Sections and fields](#sections-and-fields) · "
        "[Quantities and units](#quantities-and-units) · [Models](#models)",
        "",
        "## Examples",
        "",
        "The smallest useful spec (`wormchip simulate two_cells.yaml`):",
        "",
        "```yaml",
        MINIMAL_EXAMPLE.rstrip("\n"),
        "```",
        "",
        "The same in Python:",
        "",
        "```python",
        PYTHON_EXAMPLE.rstrip("\n"),
        "```",
        "",
        "What mistakes look like: this spec has a typo in a field name, and a current without a unit:",
        "",
        "```yaml",
        MISTAKE_EXAMPLE.rstrip("\n"),
        "```",
        "",
        "Schema errors are reported when the file is read; once the typo is fixed, the unit error is reported "
        "when the spec is built:",
        "",
        "```text",
        _mistake_messages(),
        "```",
        "",
        "A complete library circuit, `tap_withdrawal` (`wormchip/circuits/library/tap_withdrawal.yaml`):",
        "",
        "```yaml",
        _example_library_yaml(),
        "```",
        "",
        "## Sections and fields",
        "",
        "Each table lists a section's fields: the type (`quantity` = a string with a unit, or a plain number "
        "for dimensionless values), the default (**required** if none), allowed values, the unit it must "
        "have, and what it means.",
        "",
    ]
    for cls in models:
        lines += _section(cls, where.get(cls, cls.__name__.lower()))
    lines += _units_section()
    lines += [
        "## Models",
        "",
        "The model registry (`wormchip/models.py`): every neuron, synapse and plasticity model a spec may "
        "name, backend-neutral, with parameters (dimension, default), equations and citation. Parameters not "
        "given in a spec's `params` take these defaults.",
        "",
    ]
    for kind, registry in REGISTRIES.items():
        lines += [f"### {kind.capitalize()} models", "", ", ".join(f"`{n}`" for n in registry), ""]
        for info in registry.values():
            lines += _model_section(info)
    return "\n".join(lines).rstrip("\n") + "\n"


def write(path: str | Path) -> bool:
    """Write the reference to `path`; return True when the file changed."""
    path = Path(path)
    text = spec_reference()
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if old == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
