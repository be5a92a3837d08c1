"""Sensor and motor bindings: encodings, read-outs and the errors a wrong binding gives (with file lines)."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from wormchip import ir
from wormchip.circuits.errors import SpecError
from wormchip.circuits.loader import load_spec, parse_spec, to_yaml
from wormchip.closed_loop.bindings import Decoder, Encoder, Resolved, resolve
from wormchip.closed_loop.episode import EpisodeError, prepare_episode
from wormchip.worlds import make_world


def _sensor(encoding: str, targets=(0,), gain=1e-9, offset=0.0, clip=(-1.0, 1.0)) -> ir.SensorBinding:
    return ir.SensorBinding(0, np.array(targets), encoding, gain, offset, clip)


def _motor(readout="rate", plus=(0,), minus=(), window=0.1, gain=0.01, offset=0.0, filt=None):
    return ir.MotorBinding(0, readout, np.array(plus), np.array(minus, dtype=int), window, gain, offset, filt)


def _resolved(sensors=(), motors=(), space=None) -> Resolved:
    binding = ir.WorldBinding("w", {}, 0.05, 1.0, tuple(sensors), tuple(motors))
    space = space or gymnasium.spaces.Box(-1.0, 1.0, (1,))
    return Resolved(binding, tuple(0 for _ in sensors), tuple(range(len(motors))), space)


@pytest.mark.parametrize(
    ("encoding", "obs", "expected_na"),
    [
        ("current", 0.4, 0.4),
        ("current", -3.0, -1.0),  # clipped at −1
        ("on", 0.4, 0.4),
        ("on", -0.4, 0.0),
        ("off", -0.4, 0.4),
        ("off", 0.4, 0.0),
    ],
)
def test_encoder_rectifies_clips_and_scales(encoding: str, obs: float, expected_na: float) -> None:
    enc = Encoder(_resolved([_sensor(encoding, targets=(1, 2))]), n_neurons=3)
    current = enc(np.array([obs]))
    assert current[0] == 0.0
    assert current[1:] == pytest.approx([expected_na * 1e-9] * 2)


def test_encoder_offset_and_max_current() -> None:
    sensors = [
        _sensor("on", targets=(0,), gain=2e-9, offset=0.5, clip=(0.0, 0.25)),
        _sensor("current", (0, 1)),
    ]
    enc = Encoder(_resolved(sensors), n_neurons=2)
    # 0.6 − 0.5 = 0.1 → 0.2 nA (on); plus the current sensor 0.6 → 0.6 nA on both
    assert enc(np.array([0.6])) == pytest.approx([0.8e-9, 0.6e-9])
    assert enc.max_current() == pytest.approx([2e-9 * 0.25 + 1e-9, 1e-9])


def test_decoder_rate_window_difference_and_gain() -> None:
    dec = Decoder(
        _resolved(motors=[_motor("difference", plus=(0, 1), minus=(2,), window=0.1, gain=0.01)]), 0.05
    )
    assert dec.windows == [2]
    counts = np.array([2, 4, 1])  # plus mean 3 spikes, minus 1 spike in 50 ms
    assert dec(counts, np.zeros(3))[0] == pytest.approx(0.01 * (3 - 1) / 0.05)  # window holds one period
    assert dec(np.zeros(3), np.zeros(3))[0] == pytest.approx(0.01 * 2 / 0.1)  # (2 + 0) spikes over 100 ms
    assert dec(np.zeros(3), np.zeros(3))[0] == pytest.approx(0.0)


def test_decoder_voltage_filter_offset_and_clip() -> None:
    tau, period = 0.1, 0.05
    dec = Decoder(_resolved(motors=[_motor("voltage", plus=(0,), gain=0.1, offset=0.2, filt=tau)]), period)
    alpha = 1 - np.exp(-period / tau)
    first = dec(np.zeros(1), np.array([0.004]))[0]  # 4 mV above rest → 0.4 + 0.2
    assert first == pytest.approx(alpha * 0.6)
    assert dec(np.zeros(1), np.array([0.004]))[0] == pytest.approx(alpha * 0.6 + alpha * (0.6 - alpha * 0.6))
    big = Decoder(_resolved(motors=[_motor("voltage", gain=10.0)]), period)
    assert big(np.zeros(1), np.array([0.05]))[0] == 1.0  # clipped to the Box


def test_decoder_discrete_two_actions() -> None:
    dec = Decoder(
        _resolved(motors=[_motor("difference", plus=(0,), minus=(1,))], space=gymnasium.spaces.Discrete(2)),
        0.02,
    )
    assert dec(np.array([3, 1]), np.zeros(2)) == 1
    assert dec(np.array([0, 5]), np.zeros(2)) == 0


def _spec_with(motors: str, sensors: str = "") -> str:
    text = to_yaml(load_spec("tap_withdrawal")).split("bindings:")[0]
    return (
        text
        + f"bindings:\n  - world: gym:CartPole-v1\n    sensors:\n{sensors or '      []'}\n    motors:\n{motors}"
    )


def test_unknown_observation_names_field_and_line(tmp_path) -> None:
    sensors = "      - {observation: pole_angel, neurons: [PLM], encoding: 'on', clip: [0, 1]}"
    path = tmp_path / "bad.yaml"
    path.write_text(_spec_with("      - {action: 0, readout: rate, neurons: [FWD]}", sensors))
    with pytest.raises(SpecError) as err:
        prepare_episode(path)
    line = path.read_text().splitlines().index(sensors) + 1
    message = str(err.value)
    assert str(path) in message and f"line {line}" in message
    assert "bindings[0].sensors[0].observation" in message and "pole_angle" in message  # the suggestion


def test_observation_index_out_of_range_and_action_mismatch(tmp_path) -> None:
    sensors = "      - {observation: 7, neurons: [PLM]}"
    path = tmp_path / "bad.yaml"
    path.write_text(_spec_with("      - {action: 3, readout: rate, neurons: [FWD]}", sensors))
    with pytest.raises(SpecError) as err:
        prepare_episode(path)
    assert "index 7 is out of range: the world has 4" in str(err.value)
    assert "index 3 is out of range: the world has 1" in str(err.value)
    # MountainCarContinuous has one action; a Box world with two (body) needs both bound
    env = make_world("body")
    binding = ir.WorldBinding("body", {}, 0.02, 1.0, (), (_motor("rate"),))
    with pytest.raises(SpecError, match="action dimension mismatch.*unbound: backward"):
        resolve(binding, env)


def test_missing_neuron_and_unknown_world(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_spec_with("      - {action: 0, readout: rate, neurons: [NOPE]}"))
    with pytest.raises(SpecError, match="motors\\[0\\].neurons\\[0\\]: unknown neuron"):
        prepare_episode(path)
    with pytest.raises(EpisodeError, match="unknown world 'moon'"):
        prepare_episode("klinotaxis", "moon")
    with pytest.raises(EpisodeError, match="has no binding for world 'touch'; it has: klinotaxis"):
        prepare_episode("klinotaxis", "touch")
    path.write_text(
        _spec_with("      - {action: 0, readout: rate, neurons: [FWD]}").replace(
            "CartPole-v1", "NoSuchEnv-v0"
        )
    )
    with pytest.raises(EpisodeError, match="NoSuchEnv-v0"):
        prepare_episode(path)


def test_bindings_round_trip_python_yaml() -> None:
    spec = load_spec("tap_withdrawal")
    again = parse_spec(to_yaml(spec))
    assert again.bindings == spec.bindings and len(spec.bindings) == 3
    assert again.bindings[0].sensors[0].clip == [0.0, 0.2]
