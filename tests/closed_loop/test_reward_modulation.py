"""A world's reward routed to three-factor STDP in the Brian2 closed loop (`Brian2Session.modulate`,
`run_prepared(modulation=...)`): the same weights as the spec's own reward pulse at that time; refused
without a `reward_stdp` rule or off Brian2."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from wormchip.backends.brian2_session import Brian2Session
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict
from wormchip.closed_loop.episode import EpisodeError, prepare_episode, run_prepared
from wormchip.errors import UnsupportedOnBackend

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


def test_modulation_off_brian2_is_refused() -> None:
    with pytest.raises(EpisodeError, match="brian2"):
        network, binding, env, resolved = prepare_episode("klinotaxis")
        run_prepared(network, binding, env, resolved, "emulator", 0, "0.1 s", modulation=lambda *a: 0.0)
