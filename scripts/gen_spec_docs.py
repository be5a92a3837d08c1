"""Regenerate docs/spec.md from the spec schema and the model registry (`wormchip.circuits.docs`)."""

from __future__ import annotations

import sys
from pathlib import Path

from wormchip.circuits.docs import write

SPEC_MD = Path(__file__).resolve().parents[1] / "docs" / "spec.md"


def main() -> int:
    """Write docs/spec.md; print whether it changed."""
    changed = write(SPEC_MD)
    print(f"{SPEC_MD}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
