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


def test_readme_quickstart_runs(tmp_path, monkeypatch):
    """The Python quickstart is executed as written (in a temporary folder for its files)."""
    block = README.split("## Quickstart (Python)", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README quickstart", "exec"), {})
    assert (tmp_path / "tau_eff.png").stat().st_size > 1000


def test_readme_profile_table_matches_the_profiles():
    from wormchip.mappers.hardware import profile_table_markdown

    assert profile_table_markdown() in README, "regenerate the README's hardware profile table"
