"""Generated and hand-written docs stay true: docs/spec.md is the generator's output, its examples build,
every schema field is documented, docs/architecture.md names every module, and its layering rules hold."""

from __future__ import annotations

import ast
import difflib
from pathlib import Path

import pytest

from wormchip.circuits import docs, schema
from wormchip.circuits.build import build
from wormchip.circuits.loader import parse_spec

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "wormchip"
REGENERATE = "regenerate it with: .venv/bin/python scripts/gen_spec_docs.py"


def test_spec_md_is_generated_from_schema_and_registry() -> None:
    path = ROOT / "docs" / "spec.md"
    assert path.exists(), f"docs/spec.md is missing; {REGENERATE}"
    expected = docs.spec_reference()
    actual = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    actual.splitlines(True), expected.splitlines(True), "docs/spec.md", "generated"
                )
            )[:40]
        )
        pytest.fail(f"docs/spec.md is out of date with the schema/registry; {REGENERATE}\n{diff}")


def test_every_schema_field_has_a_description() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls in docs._models()
        for name, field in cls.model_fields.items()
        if not field.description
    ]
    assert not missing, f"add Field(description=...) in wormchip/circuits/schema.py for: {missing}"


def test_spec_examples_are_valid() -> None:
    build(parse_spec(docs.MINIMAL_EXAMPLE))
    code = docs.PYTHON_EXAMPLE.replace("run = simulate(spec)", "run = build(spec)")
    assert code != docs.PYTHON_EXAMPLE
    namespace: dict = {"build": build}
    exec(compile(code.replace("from wormchip.simulate import simulate\n", ""), "example", "exec"), namespace)
    assert isinstance(namespace["spec"], schema.CircuitSpec)
    # The mistake example really shows two distinct errors (one from the schema, one from build).
    messages = docs._mistake_messages().splitlines()
    assert len(messages) == 2 and "duraton" in messages[0] and "missing unit" in messages[1]


def _modules() -> list[str]:
    """`wormchip/x/y.py` for every module but package __init__ files."""
    return sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py")


def test_architecture_names_every_module() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [m for m in _modules() if f"`{m}`" not in text]
    assert not missing, (
        f"docs/architecture.md does not describe these modules (add them to its tables): {missing}"
    )


def _imports(path: Path) -> set[str]:
    """Every wormchip module a file imports, at any level (function-local imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("wormchip")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wormchip"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in files
        for m in sorted(_imports(p))
        if any(m == f or m.startswith(f + ".") for f in forbidden)
    ]


def test_layering_ir_knows_no_backend() -> None:
    files = [PACKAGE / "ir.py", PACKAGE / "units.py", PACKAGE / "models.py", PACKAGE / "result.py"]
    higher = (
        "wormchip.backends",
        "wormchip.mappers",
        "wormchip.circuits",
        "wormchip.analysis",
        "wormchip.simulate",
        "wormchip.cli",
    )
    assert not _violations(files, higher)


def test_layering_backends_know_no_cli_nor_specs() -> None:
    files = [*(PACKAGE / "backends").rglob("*.py"), *(PACKAGE / "mappers").rglob("*.py")]
    bad = _violations(files, ("wormchip.cli", "wormchip.simulate", "wormchip.circuits"))
    assert not bad, f"see docs/architecture.md, layering rule 2: {bad}"


def test_layering_only_the_cli_imports_the_cli() -> None:
    files = [p for p in PACKAGE.rglob("*.py") if p.name != "cli.py"]
    assert not _violations(files, ("wormchip.cli",))
