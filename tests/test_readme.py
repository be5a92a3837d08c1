"""The README's model table is the registry (no drift)."""

from pathlib import Path

from wormchip.models import registry_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_model_table_matches_registry():
    for row in registry_table():
        line = (
            f"| {row['kind']} | `{row['name']}` | {row['summary']} | {row['equations']} | {row['citation']} | "
            f"{row['beyond_liquid_papers']} |"
        )
        assert line in README, f"README model table is out of date for {row['name']}"
