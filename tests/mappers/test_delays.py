"""Synaptic delays lower natively: `DelayDense` blocks in Lava, a ring buffer in the emulator, and the same
arrival step as Brian2's spike queue (`round(delay / dt)` steps)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wormchip.analysis.fidelity import fidelity
from wormchip.circuits.build import build
from wormchip.circuits.loader import parse_spec
from wormchip.errors import UnsupportedFeature
from wormchip.mappers.lower import lower, simulate_lowered
from wormchip.mappers.quantize import quantize

DELAYED = """
name: delayed
populations:
  - {name: p, cells: [A, B, C], model: lif, params: {I_bias: "0.25 nA", t_ref: "2 ms", v_reset: "-70 mV"}}
  - {name: q, cells: [D], model: lif, params: {I_bias: "0.1 nA", t_ref: "1 ms"}}
connections:
  - {name: fast, source: [p, q], target: [p, q], synapse: exp_current, params: {tau: "5 ms"},
     weight_scale: "0.3 nA", edges: [{pre: A, post: B}, {pre: C, post: D}]}
  - {name: slow, source: [p, q], target: [p, q], synapse: exp_current, params: {tau: "5 ms", delay: "1.5 ms"},
     weight_scale: "0.3 nA", edges: [{pre: B, post: C, weight: -0.5}, {pre: A, post: C}]}
  - {name: late, source: [p, q], target: [p, q], synapse: exp_current, params: {tau: "5 ms", delay: "4 ms"},
     weight_scale: "0.3 nA", edges: [{pre: D, post: A, weight: 0.5}, {pre: A, post: B, weight: 0.5}]}
stimuli:
  - {name: drive, kind: poisson, targets: [D], rate: "200 Hz", weight: "0.2 nA"}
probes:
  - {variables: [v], neurons: [A, B, C, D], dt: "0.1 ms"}
run: {dt: "0.1 ms", duration: "150 ms", seed: 3}
"""


def delayed_network(input_delay: float = 2e-3):
    """DELAYED with its Poisson input delayed too (input delays are set through the IR, not the spec)."""
    net = build(parse_spec(DELAYED))
    inp = net.spike_inputs[0]
    delayed = dataclasses.replace(inp, params={**inp.params, "delay": input_delay})
    return dataclasses.replace(net, spike_inputs=(delayed,))


def test_delays_group_by_steps() -> None:
    lo = lower(delayed_network())
    assert [d for d, _ in lo.weights_by_delay()] == [0, 15, 40]
    assert lo.weights.nnz == 2 and [w.nnz for _, w in lo.delayed_weights] == [2, 2]
    # A → B exists undelayed (fast) and delayed by 40 steps (late): two synapses, not one summed weight.
    assert lo.weights[1, 0] != 0 and lo.delayed_weights[1][1][1, 0] != 0
    fixed, _ = quantize(lo)
    assert sorted({b.delay for b in fixed.weights}) == [0, 15, 40]
    assert fixed.max_delay == 40


def test_lowered_float_run_reproduces_brian2_with_delays(lowered_matches_brian2) -> None:
    """Same spike steps and v to float precision: the delayed spikes arrive at Brian2's step."""
    spikes = lowered_matches_brian2(delayed_network())
    # The delays matter: without them the spikes move.
    plain = build(parse_spec(DELAYED.replace(', delay: "1.5 ms"', "").replace(', delay: "4 ms"', "")))
    _, plain_spikes = simulate_lowered(lower(plain))
    assert not np.array_equal(plain_spikes, spikes)


@pytest.mark.lava
def test_brian2_vs_lava_with_delays() -> None:
    """Brian2 (float) vs the emulator, and Lava (DelayDense) == the emulator on the same run."""
    report = fidelity(delayed_network(), target="numpy", lava=True)
    assert report.lava_identical is True
    assert report.spikes_brian2 > 20
    assert report.count_correlation >= 0.99
    assert report.within_1step >= 0.95


def test_delay_beyond_six_bits_is_unsupported() -> None:
    net = build(parse_spec(DELAYED.replace('delay: "4 ms"', 'delay: "6.4 ms"')))
    with pytest.raises(
        UnsupportedFeature, match=r"param:long_delay.*projection late \(delay 6.4 ms = 64 steps\)"
    ):
        lower(net)


def test_delays_cost_synaptic_memory_bits() -> None:
    """Each synapse entry of a network with delays up to 40 steps carries ceil(log2 41) = 6 delay bits."""
    from wormchip.mappers.hardware import loihi2
    from wormchip.pipeline import compile_circuit

    compiled = compile_circuit(delayed_network(), target="loihi2")
    assert compiled.profile.delay_bits == 6
    assert compiled.profile.bits_per_synapse == loihi2.bits_per_synapse + 6
    assert loihi2.with_delays(0) is loihi2 and loihi2.with_delays(1).delay_bits == 1
