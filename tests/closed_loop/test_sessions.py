"""Stepping sessions: a run in control periods equals one long run; Brian2's two modes agree; the emulator
and Lava closed loops are bit-identical over 1,000 control steps of the klinotaxis world."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from wormchip.backends.emulator import run_emulator
from wormchip.closed_loop.episode import prepare_episode, run_prepared
from wormchip.closed_loop.sessions import fixed_point_for_loop, open_session
from wormchip.pipeline import build_circuit


@pytest.fixture(scope="module")
def klinotaxis_net():
    net = build_circuit("klinotaxis", duration="0.3 s")
    return replace(net, current=None, spike_inputs=(), probes=())


def test_emulator_session_in_periods_equals_one_run(klinotaxis_net) -> None:
    fixed, bias_map = fixed_point_for_loop(klinotaxis_net, np.zeros(klinotaxis_net.size))
    steps = 3000
    whole = run_emulator(fixed, steps, record=())
    session = open_session(klinotaxis_net, "emulator", 70, steps, np.zeros(klinotaxis_net.size))
    for size in [70] * 40 + [200]:  # uneven chunks, the last one longer
        session.advance(size, np.zeros(klinotaxis_net.size))
    chunked = session.close()
    assert sum(whole.spike_counts().values()) > 50
    for name in whole.neuron_names:
        np.testing.assert_array_equal(whole.spike_steps()[name], chunked.spike_steps()[name])


def test_bias_map_reaches_the_chip_and_follows_the_current(klinotaxis_net) -> None:
    n = klinotaxis_net.size
    max_current = np.zeros(n)
    max_current[:2] = 0.2e-9  # ASEL, ASER
    counts = {}
    for sign in (0, 1, -1):
        session = open_session(klinotaxis_net, "emulator", 100, 2000, max_current)
        counts[sign] = sum(session.advance(100, sign * max_current).counts for _ in range(20))
        session.close()
    assert counts[0][:2].sum() == 0 and counts[-1][:2].sum() == 0  # silent at rest and when inhibited
    assert counts[1][0] >= 4 and counts[1][1] >= 10  # 0.2 nA makes both fire (ASER more: lower rheobase)


def test_brian2_operation_and_chunk_modes_agree(klinotaxis_net) -> None:
    rng = np.random.default_rng(4)
    max_current = np.full(klinotaxis_net.size, 0.2e-9)
    currents = [rng.uniform(-1, 1, klinotaxis_net.size) * max_current for _ in range(15)]
    out = {}
    for mode in ("operation", "chunks"):
        session = open_session(klinotaxis_net, "brian2", 100, 1500, max_current, brian2_mode=mode)
        out[mode] = np.array([session.advance(100, c).counts for c in currents])
        result = session.close()
        assert result.duration == pytest.approx(0.15)
    assert out["operation"].sum() > 20
    np.testing.assert_array_equal(out["operation"], out["chunks"])


def test_brian2_session_matches_the_emulator_per_neuron(klinotaxis_net) -> None:
    """Same currents, Brian2 float vs fixed point: the counts agree per neuron within a few spikes."""
    max_current = np.zeros(klinotaxis_net.size)
    max_current[:2] = 0.2e-9
    totals = {}
    for on in ("brian2", "emulator"):
        session = open_session(klinotaxis_net, on, 100, 3000, max_current)
        totals[on] = sum(session.advance(100, max_current).counts for _ in range(30))
        session.close()
    assert totals["brian2"].sum() > 60
    assert np.abs(totals["brian2"] - totals["emulator"]).max() <= 3


def _emulator_and_lava(spec, seed: int, duration: str):
    """The same episode on the emulator and on Lava, with their actions and spikes checked identical."""
    network, binding, env, resolved = prepare_episode(spec)
    emu, lava = (
        run_prepared(network, binding, env, resolved, on, seed=seed, duration=duration)
        for on in ("emulator", "lava")
    )
    assert emu.trajectory.steps == lava.trajectory.steps
    np.testing.assert_array_equal(np.array(emu.trajectory.actions), np.array(lava.trajectory.actions))
    for name in emu.result.neuron_names:
        np.testing.assert_array_equal(emu.result.spike_steps()[name], lava.result.spike_steps()[name])
    return emu, lava


@pytest.mark.lava
def test_emulator_and_lava_closed_loops_are_bit_identical() -> None:
    """1,000 control steps of the klinotaxis world: same spikes, actions and world trajectory."""
    from wormchip.circuits.loader import load_spec

    spec = load_spec("klinotaxis")
    spec.run.dt = "0.5 ms"  # 10 Lava steps per 5 ms control period keep Lava's share of the test short
    spec.bindings[0].control_period = "5 ms"
    emu, lava = _emulator_and_lava(spec, seed=2, duration="5 s")
    assert emu.trajectory.steps == 1000
    for key in ("x", "y", "heading"):
        np.testing.assert_array_equal(emu.trajectory.state_array(key), lava.trajectory.state_array(key))
    assert np.abs(np.array(emu.trajectory.actions)).max() > 0  # the circuit did steer


@pytest.mark.lava
def test_conductance_circuit_closed_loop_is_bit_identical_on_lava() -> None:
    """tap_withdrawal (conductance synapses on GapLIF's g register) balancing the fitted pole: Lava's actions
    and spikes equal the emulator's step for step."""
    from wormchip.circuits.loader import load_spec

    fitted = Path(__file__).resolve().parents[2] / "docs/figures/fit_cartpole_best.yaml"
    emu, _ = _emulator_and_lava(load_spec(fitted), seed=1000, duration="1 s")
    assert emu.trajectory.steps == 50


def test_nengo_closed_loop_equals_brian2s() -> None:
    """Nengo's operator reproduces Brian2's step arithmetic: same spikes and actions in the klinotaxis world."""
    from wormchip.closed_loop.episode import run_episode

    runs = {on: run_episode("klinotaxis", on=on, seed=1, duration="1 s") for on in ("brian2", "nengo")}
    actions = {on: np.array(run.trajectory.actions) for on, run in runs.items()}
    assert runs["nengo"].trajectory.steps == 20 and np.abs(actions["nengo"]).max() > 0
    np.testing.assert_array_equal(actions["brian2"], actions["nengo"])
    for name in runs["brian2"].result.neuron_names:
        np.testing.assert_array_equal(
            runs["brian2"].result.spike_steps()[name], runs["nengo"].result.spike_steps()[name]
        )
