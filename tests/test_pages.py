"""`wormchip.pages.small_pages`: numpy's huge-page advice is off inside, restored after, a user's choice kept."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.pages import small_pages

_get_advice = np.core.multiarray._get_madvise_hugepage
_set_advice = np.core.multiarray._set_madvise_hugepage


def test_advice_off_inside_and_restored_after_errors_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    seen = []

    @small_pages
    def inside(fail: bool) -> int:
        seen.append(_get_advice())
        if fail:
            raise RuntimeError("boom")
        return 7

    previous = _set_advice(True)
    try:
        assert inside(False) == 7
        assert _get_advice() is True
        with pytest.raises(RuntimeError, match="boom"):
            inside(True)
        assert _get_advice() is True
    finally:
        _set_advice(previous)
    assert seen == [False, False]


def test_a_users_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    previous = _set_advice(True)
    try:
        assert small_pages(_get_advice)() is True
    finally:
        _set_advice(previous)
