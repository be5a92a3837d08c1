"""The feature table covers every registry model, and README.md shows exactly the table in the code."""

from pathlib import Path

from wormchip.mappers.features import FEATURES, Lowering, feature_table_markdown
from wormchip.models import REGISTRIES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_every_registry_model_has_a_lowering() -> None:
    for kind, registry in REGISTRIES.items():
        for name in registry:
            assert f"{kind}:{name}" in FEATURES, f"feature table lacks {kind}:{name}"


def test_every_row_has_a_lowering_and_note() -> None:
    for f in FEATURES.values():
        assert isinstance(f.lowering, Lowering) and f.note.strip()


def test_readme_feature_table_matches_code() -> None:
    section = README.split("## Compiler: feature lowering", 1)[1].split("\n## ", 1)[0]
    table = feature_table_markdown()
    assert table in section, "README feature table is out of date: paste feature_table_markdown()"
