"""The calibration's float run (issue 16, goal 2): cached per network, O(neurons) memory, same headroom values."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest

from wormchip.circuits.build import build
from wormchip.circuits.loader import library_path, load_spec, parse_spec
from wormchip.mappers import lower as lower_module
from wormchip.mappers import quantize as quantize_module
from wormchip.mappers.lower import LoweredNetwork, lower, lowest_v, simulate_lowered
from wormchip.mappers.quantize import calibrated_headroom

#: Adaptation of both signs, refractory periods, v_reset ≠ E_L, a gap junction and a step current (a bias
#: schedule): the features the compiled float loop handles beyond the library circuits.
ADAPTIVE = """
name: adaptive
populations:
  - {name: p, cells: [A, B], model: adaptive_lif,
     params: {I_bias: "0.3 nA", b: "0.05 nA", tau_w: "100 ms", v_reset: "-68 mV", t_ref: "2 ms"}}
  - {name: q, cells: [C], model: adaptive_lif, params: {I_bias: "0.4 nA", b: "-0.01 nA", tau_w: "30 ms"}}
connections:
  - {name: syn, source: [p, q], target: [p, q], synapse: exp_current, params: {tau: "5 ms"},
     weight_scale: "0.3 nA", edges: [{pre: A, post: B}, {pre: B, post: C, weight: -2}, {pre: C, post: A}]}
  - {name: gj, source: [p, q], target: [p, q], synapse: gap_junction, weight_scale: "4 nS",
     edges: [{pre: A, post: C}]}
stimuli:
  - {name: s, kind: step, targets: [B], amplitude: "0.2 nA", start: "10 ms", duration: "40 ms"}
run: {dt: "0.1 ms", duration: "150 ms"}
"""

#: Many spikes per step through random synapse rows of both signs: the compiled scatter prefetches the rows
#: of the spikes a few places ahead, which must change no sum.
RANDOM = """
name: random_net
populations:
  - {name: a, size: 3000, model: lif, params: {I_bias: "0.2 nA"}}
connections:
  - {name: r, source: [a], target: [a], random: {p: 0.02}, weight_scale: "0.05 nA"}
run: {dt: "0.1 ms", duration: "100 ms"}
"""


#: Two populations of adaptive neurons of both adaptation signs, refractory periods, a reset below rest, mixed-sign
#: random synapses, Poisson input spikes and a step current: what each half of the two-thread run must keep.
UNCOUPLED = """
name: uncoupled
populations:
  - {name: a, size: 700, model: adaptive_lif,
     params: {I_bias: "0.25 nA", b: "0.02 nA", tau_w: "80 ms", v_reset: "-68 mV", t_ref: "2 ms"}}
  - {name: b, size: 501, model: adaptive_lif, params: {I_bias: "0.3 nA", b: "-0.01 nA", tau_w: "30 ms"}}
connections:
  - {name: ab, source: [a], target: [a, b], random: {p: 0.03}, weight_scale: "0.08 nA"}
  - {name: ba, source: [b], target: [a, b], random: {p: 0.03}, weight_scale: "-0.1 nA"}
stimuli:
  - {name: noise, kind: poisson, targets: [a_0, a_1, a_2, a_350, a_699], rate: "40 Hz", weight: "0.3 nA"}
  - {name: s, kind: step, targets: [b_0, b_250, b_500], amplitude: "0.2 nA", start: "20 ms", duration: "30 ms"}
run: {dt: "0.1 ms", duration: "100 ms"}
"""
SPECS = {"adaptive": ADAPTIVE, "random_net": RANDOM, "uncoupled": UNCOUPLED}


@cache
def lowered(name: str) -> LoweredNetwork:
    if name in SPECS:
        return lower(build(parse_spec(SPECS[name])))
    return lower(build(load_spec(name), base_dir=library_path(name).parent))


@pytest.mark.parametrize(
    "name", ["whole_worm", "klinotaxis", "ncp", "touch_response", "adaptive", "random_net"]
)
def test_headroom_is_the_full_runs_minimum(name: str) -> None:
    """`lowest_v` (the compiled loop, running minimum) gives exactly the headroom computed from the NumPy
    loop's whole v array, as before."""
    lo = lowered(name)
    v, _ = simulate_lowered(lo)
    before = np.maximum(1.0, 1.25 * (-v.min(axis=0) / lo.v_th))  # the formula on the full run
    assert np.array_equal(calibrated_headroom(lo), before)
    assert np.array_equal(lowest_v(lo), np.minimum(v.min(axis=0), 0.0))


@pytest.mark.parametrize("name", ["uncoupled", "random_net"])
def test_two_threads_give_the_one_thread_floats(name: str) -> None:
    """Split between two threads by target neuron, the run adds each target's inputs in the same order from the
    same 0.0: the lowest v of every neuron equals the one-thread loop's and the NumPy loop's, bit for bit."""
    lo = lowered(name)
    v, spikes = simulate_lowered(lo)
    assert spikes.sum() > lo.n_neurons  # the network fires, so the split's scatter is exercised
    one, two = lowest_v(lo, threads=1), lowest_v(lo, threads=2)
    assert np.array_equal(two, one)
    assert np.array_equal(two, np.minimum(v.min(axis=0), 0.0))


def test_two_threads_refuse_coupled_networks() -> None:
    """Gap and graded couplings read every neuron's v within a step: the split refuses them."""
    with pytest.raises(ValueError, match="without couplings"):
        lowest_v(lowered("adaptive"), threads=2)


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
