"""Shared test set-up: tests marked `lava` are skipped, with the reason, where Lava cannot run."""

from __future__ import annotations

import pytest

from wormchip.errors import BackendUnavailable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        from wormchip.backends.lava_support import require_lava

        require_lava()
    except BackendUnavailable as err:
        skip = pytest.mark.skip(reason=f"Lava unavailable: {err}")
        for item in items:
            if "lava" in item.keywords:
                item.add_marker(skip)
