"""The calibration's float run (issue 16, goal 2): cached per network, O(neurons) memory, same headroom values."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest

from wormchip.circuits.build import build
from wormchip.circuits.loader import library_path, load_spec
from wormchip.mappers import lower as lower_module
from wormchip.mappers import quantize as quantize_module
from wormchip.mappers.lower import LoweredNetwork, lower, lowest_v, simulate_lowered
from wormchip.mappers.quantize import calibrated_headroom


@cache
def lowered(name: str) -> LoweredNetwork:
    return lower(build(load_spec(name), base_dir=library_path(name).parent))


@pytest.mark.parametrize("name", ["whole_worm", "klinotaxis", "ncp"])
def test_headroom_is_the_full_runs_minimum(name: str) -> None:
    """`lowest_v` (running minimum) gives exactly the headroom computed from the whole v array, as before."""
    lo = lowered(name)
    v, _ = simulate_lowered(lo)
    before = np.maximum(1.0, 1.25 * (-v.min(axis=0) / lo.v_th))  # the formula on the full run
    assert np.array_equal(calibrated_headroom(lo), before)
    assert np.array_equal(lowest_v(lo), np.minimum(v.min(axis=0), 0.0))


def test_calibration_is_cached_per_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second calibration of an equal network reuses the float run; a changed network runs again."""
    calls = []
    real = lower_module.lowest_v
    monkeypatch.setattr(lower_module, "lowest_v", lambda lo: calls.append(1) or real(lo))
    monkeypatch.setattr(quantize_module, "_LOWEST_V", {})
    net = build(load_spec("touch_response"), base_dir=library_path("touch_response").parent)
    first = calibrated_headroom(lower(net))
    again = calibrated_headroom(lower(net))  # a new LoweredNetwork with the same arrays
    assert len(calls) == 1 and np.array_equal(first, again)
    changed = lower(dataclasses.replace(net, duration=net.duration / 2))
    assert changed.fingerprint() != lower(net).fingerprint()
    calibrated_headroom(changed)
    assert len(calls) == 2
