"""Shared checks of the compiler tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from wormchip import ir
from wormchip.backends.brian2_backend import run_brian2
from wormchip.mappers.fixed_point import FixedPointNetwork
from wormchip.mappers.lower import lower, simulate_lowered
from wormchip.result import Result


def _assert_lowered_matches_brian2(net: ir.Network) -> np.ndarray:
    """Lower `net`, run it in float (`simulate_lowered`) and in Brian2: the same spike steps and v to 1e-9 V.

    Brian2's monitor samples v at the start of a step, so its sample k + 1 is the lowered v after step k.
    Returns the lowered run's spike raster (steps × neurons)."""
    lo = lower(net)
    v_float, spikes = simulate_lowered(lo)
    ref = run_brian2(net, target="numpy")
    assert spikes.sum() > 20
    for i, name in enumerate(net.names):
        np.testing.assert_array_equal(np.flatnonzero(spikes[:, i]), np.rint(ref.spike_times[name] / net.dt))
        column = ref.traces["v"].channels.index(name)
        np.testing.assert_allclose(
            v_float[:-1, i], ref.traces["v"].values[1:, column] - lo.e_l[i], atol=1e-9, rtol=0
        )
    return spikes


@pytest.fixture
def lowered_matches_brian2() -> Callable[[ir.Network], np.ndarray]:
    """`_assert_lowered_matches_brian2` as a fixture (test modules do not import each other)."""
    return _assert_lowered_matches_brian2


def _assert_lava_equals_emulator(
    fixed: FixedPointNetwork, steps: int, plastic: tuple[str, ...], core_of: np.ndarray | None = None
) -> tuple[Result, Result]:
    """Run `fixed` for `steps` on the emulator and on Lava (`core_of`: its cores): the same u and v every step,
    spike counts and weights of the `plastic` projections. Returns (emulator, Lava) results."""
    from wormchip.backends.emulator import run_emulator
    from wormchip.backends.lava_runner import run_lava

    emu = run_emulator(fixed, steps)
    lava = run_lava(fixed, steps, core_of=core_of, timeout_s=300)
    np.testing.assert_array_equal(emu.traces["u"].values, lava.traces["u"].values)
    np.testing.assert_array_equal(emu.traces["v"].values, lava.traces["v"].values)
    assert emu.spike_counts() == lava.spike_counts()
    for name in plastic:
        np.testing.assert_array_equal(emu.weights[name].values, lava.weights[name].values)
    return emu, lava


@pytest.fixture
def lava_equals_emulator() -> Callable[..., tuple[Result, Result]]:
    """`_assert_lava_equals_emulator` as a fixture."""
    return _assert_lava_equals_emulator
