"""The Makefile's install prints no pip resolver ERROR (issue 15, section 4)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_install_with_dependencies_after_cect() -> None:
    """cect is installed without its (plotting) dependencies. pip checks the dependents of every package it
    installs with dependencies, so any such install after cect reports cect's missing ones as an ERROR."""
    installs = [
        line.strip()
        for line in (ROOT / "Makefile").read_text().splitlines()
        if re.search(r"-m pip install", line) and not line.lstrip().startswith("#")
    ]
    cect = next(k for k, line in enumerate(installs) if "cect" in line)
    assert "--no-deps" in installs[cect]
    later = [line for line in installs[cect + 1 :] if "--no-deps" not in line]
    assert not later, f"installs with dependencies after cect make pip print an ERROR: {later}"
