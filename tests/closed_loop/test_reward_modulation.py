"""A world's reward routed to three-factor STDP in the closed loop (`Brian2Session.modulate`,
`run_prepared(modulation=...)`): the same weights as the spec's own reward pulse at that time; refused
without a `reward_stdp` rule or on a session without `modulate` (Nengo). On the chip (`EmulatorSession`,
`LavaSession`): the same as a reward in the block's raster at the next step, and Lava = emulator."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from wormchip.backends.brian2_session import Brian2Session
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict
from wormchip.closed_loop.episode import EpisodeError, prepare_episode, run_prepared
from wormchip.errors import UnsupportedOnBackend

# The learning rules are checked at Loihi's 1 ms step on purpose; the coarse-dt warning is expected there.
pytestmark = pytest.mark.filterwarnings("ignore:dt = 1 ms is coarse:UserWarning")

PERIOD = 200  # steps of 0.1 ms: 20 ms control periods


def _spec(reward: list[dict] | None = None, rule: str = "reward_stdp") -> dict:
    """P drives Q (both tonic through I_bias) through one plastic current synapse."""
    return {
        "name": "modulated",
        "populations": [
            {"name": "pre", "cells": ["P"], "params": {"I_bias": "0.3 nA"}},
            {"name": "post", "cells": ["Q"], "params": {"I_bias": "0.25 nA"}},
        ],
        "connections": [
            {
                "name": "pq",
                "source": ["pre"],
                "target": ["post"],
                "weight_scale": "0.05 nA",
                "edges": [{"pre": "P", "post": "Q"}],
                "plasticity": ["r"],
            }
        ],
        "plasticity": [{"name": "r", "rule": rule, **({"reward": reward} if reward else {})}],
        "run": {"dt": "0.1 ms", "duration": "0.6 s", "target": "numpy"},
    }


def _weights(spec: dict, modulate_at: dict[int, float]) -> np.ndarray:
    net = build(from_dict(spec))
    net = replace(net, current=None, spike_inputs=())
    session = Brian2Session(net, PERIOD, 30 * PERIOD)
    for k in range(30):
        if k in modulate_at:
            session.modulate(modulate_at[k])
        session.advance(PERIOD, np.zeros(net.size))
    return session.close().weights["pq"].values[:, 0]


def test_modulate_equals_a_reward_pulse_of_the_spec() -> None:
    """D += amount at the start of period 10 (t = 0.2 s) = the spec's reward pulse at 0.2 s (one step apart:
    the operation runs at the start of the step, the pulse's synapse after the state update)."""
    pulse = _weights(_spec([{"time": "200 ms", "amount": -1.5}]), {})
    routed = _weights(_spec(), {10: -1.5})
    frozen = _weights(_spec(), {})
    assert np.all(frozen == frozen[0])  # no reward, no change (D = 0)
    assert abs(routed[-1] - frozen[-1]) > 1e-3 * abs(frozen[0])  # the reward moved the weight
    np.testing.assert_allclose(routed, pulse, rtol=1e-3)


def test_modulate_needs_a_reward_stdp_rule() -> None:
    net = replace(build(from_dict(_spec(rule="stdp"))), current=None, spike_inputs=())
    session = Brian2Session(net, PERIOD, 2 * PERIOD)
    with pytest.raises(UnsupportedOnBackend, match="reward_stdp"):
        session.modulate(1.0)
    session.close()


def test_modulation_without_a_modulate_is_refused() -> None:
    with pytest.raises(EpisodeError, match="nengo"):
        network, binding, env, resolved = prepare_episode("klinotaxis")
        run_prepared(network, binding, env, resolved, "nengo", 0, "0.1 s", modulation=lambda *a: 0.0)


# On the chip: P and R (tonic) drive Q through one reward_stdp projection, dt = 1 ms, 40 periods of 20 steps.
CHIP_PERIOD, CHIP_PERIODS = 20, 40


def _chip_spec(rule: str = "reward_stdp") -> dict:
    spec = _spec(rule=rule)
    spec["populations"] = [
        {"name": "pre", "cells": ["P", "R"], "params": {"I_bias": "0.3 nA", "t_ref": "2 ms"}},
        {"name": "post", "cells": ["Q"], "params": {"I_bias": "0.2 nA", "t_ref": "2 ms"}},
    ]
    spec["connections"][0].update(
        weight_scale="0.3 nA", edges=[{"pre": "P", "post": "Q"}, {"pre": "R", "post": "Q"}]
    )
    if rule == "reward_stdp":
        spec["plasticity"][0]["params"] = {"eta": "20 Hz"}
    spec["run"] = {"dt": "1 ms", "duration": "0.8 s"}
    return spec


def _chip_session(on: str, rule: str = "reward_stdp"):
    """A session of the chip spec on `on`, with its `FixedPointNetwork`."""
    from wormchip.backends.emulator_session import EmulatorSession
    from wormchip.backends.lava_session import LavaSession
    from wormchip.closed_loop.sessions import fixed_point_for_loop

    net = replace(build(from_dict(_chip_spec(rule))), current=None, spike_inputs=())
    fixed, bias_map = fixed_point_for_loop(net, np.zeros(net.size))
    cls = EmulatorSession if on == "emulator" else LavaSession
    return cls(fixed, CHIP_PERIOD * CHIP_PERIODS, bias_map), fixed


def _run_chip(on: str, modulate_at: dict[int, float], rule: str = "reward_stdp"):
    session, fixed = _chip_session(on, rule)
    for k in range(CHIP_PERIODS):
        if k in modulate_at:
            session.modulate(modulate_at[k])
        session.advance(CHIP_PERIOD, np.zeros(fixed.n_neurons))
    return session.close(), fixed


@pytest.mark.parametrize("first", [0.8, -1.0])
def test_emulator_session_modulate_is_a_reward_at_the_next_step(first: float) -> None:
    """`EmulatorSession.modulate` (numba kernel, period by period) = the block's reward raster holding the
    increment at the next period's first step, run by `run_emulator`'s NumPy engine: the same spikes and
    final weights, bit for bit; a negative reward (D < 0, sent as y3) too."""
    from wormchip.backends.emulator import run_emulator

    routed, fixed = _run_chip("emulator", {10: first, 25: 0.5})
    block = fixed.reward_plastic[0]
    reward = np.zeros(CHIP_PERIOD * CHIP_PERIODS, dtype=np.int64)
    reward[[10 * CHIP_PERIOD, 25 * CHIP_PERIOD]] = [
        block.reward_increment(first),
        block.reward_increment(0.5),
    ]
    pulsed = replace(fixed, reward_plastic=(replace(block, reward=reward),))
    ref = run_emulator(pulsed, len(reward), engine="numpy")
    assert routed.spike_counts() == ref.spike_counts() and sum(ref.spike_counts().values()) > 50
    np.testing.assert_array_equal(routed.weights["pq"].values, ref.weights["pq"].values)
    frozen, _ = _run_chip("emulator", {})
    np.testing.assert_array_equal(frozen.weights["pq"].values[-1], frozen.weights["pq"].values[0])
    assert not np.array_equal(routed.weights["pq"].values[-1], routed.weights["pq"].values[0])
    session, _ = _chip_session("emulator", rule="stdp")  # pair STDP runs, takes no reward
    with pytest.raises(UnsupportedOnBackend, match="reward_stdp"):
        session.modulate(1.0)
    session.close()


@pytest.mark.lava
@pytest.mark.parametrize(
    ("rule", "modulate_at"),
    [("reward_stdp", {10: 0.8, 25: 0.5}), ("reward_stdp", {10: -1.0, 25: -0.5}), ("stdp", {})],
)
def test_lava_session_learns_as_the_emulator(rule, modulate_at) -> None:
    """`LavaSession.modulate` (the trace processes' `extra` Var) gives Lava's closed loop the emulator
    session's spikes and final weights bit for bit, negative rewards (modulate(−1): D < 0 as y3) too; pair
    STDP too."""
    emu, _ = _run_chip("emulator", modulate_at, rule)
    lava, _ = _run_chip("lava", modulate_at, rule)
    for name, steps in emu.spike_steps().items():
        np.testing.assert_array_equal(steps, lava.spike_steps()[name])
    np.testing.assert_array_equal(emu.weights["pq"].values, lava.weights["pq"].values)
    assert not np.array_equal(lava.weights["pq"].values[-1], lava.weights["pq"].values[0])


def test_emulator_session_learns_pair_stdp_as_run_emulator() -> None:
    """An stdp network in `EmulatorSession` (the kernel period by period) = `run_emulator`'s NumPy engine."""
    from wormchip.backends.emulator import run_emulator

    session_result, fixed = _run_chip("emulator", {}, "stdp")
    ref = run_emulator(fixed, CHIP_PERIOD * CHIP_PERIODS, engine="numpy")
    assert session_result.spike_counts() == ref.spike_counts()
    np.testing.assert_array_equal(session_result.weights["pq"].values, ref.weights["pq"].values)
    assert not np.array_equal(ref.weights["pq"].values[-1], ref.weights["pq"].values[0])
