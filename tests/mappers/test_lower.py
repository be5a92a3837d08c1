"""Lowering IR → CUBA LIF compartments: library circuits, offenders, and the numbers against physics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from wormchip.circuits.build import build
from wormchip.circuits.loader import library_names, library_path, load_spec, parse_spec
from wormchip.errors import UnsupportedFeature, WormchipError
from wormchip.mappers.lower import lower


def library(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(load_spec(name), base_dir=library_path(name).parent)


def spec_network(text: str):
    return build(parse_spec(text))


@pytest.mark.parametrize("name", library_names())
def test_library_circuits_lower(name: str) -> None:
    net = library(name)
    lowered = lower(net)
    assert lowered.n_neurons == net.size
    assert lowered.steps == round(net.duration / net.dt)
    features = {a.feature for a in lowered.approximations}
    # Refractory period and reset are exact now (GapLIF): t_ref = 2 ms is 20 steps of 0.1 ms everywhere.
    assert not {"param:t_ref", "param:v_reset"} & features
    np.testing.assert_array_equal(lowered.refractory, 20)
    e_l = np.zeros(net.size)
    v_reset = np.zeros(net.size)
    for block in net.blocks:
        e_l[block.indices], v_reset[block.indices] = block.params["E_L"], block.params["v_reset"]
    np.testing.assert_allclose(lowered.v_reset, v_reset - e_l)
    gap_projections = [p for p in net.projections if p.synapse == "gap_junction"]
    assert lowered.gap.nnz == 2 * sum(int(np.sum(p.pre != p.post)) for p in gap_projections)
    if name == "tap_withdrawal":  # conductances on GapLIF's g register: nothing approximated
        assert not features and lowered.conductance.nnz == 26
        linear = lower(net, conductance="linearised")
        assert {"synapse:exp_conductance_linearised", "neuron:conductance_lif_linearised"} <= {
            a.feature for a in linear.approximations
        }
        assert linear.metadata["approximations"], "approximations are recorded for reports"
    if name == "klinotaxis":
        assert "input:current_varying" in features
    if name == "ncp":  # graded synapses: hard sigmoid + linearised driving force, costs recorded
        graded = next(a for a in lowered.approximations if a.feature == "synapse:graded_sigmoid")
        assert graded.elements == ("projection ncp",)
        assert 0.1 < graded.cost["max_sigmoid_error"] < 0.12  # NCP's range reaches the hard sigmoid's knees
        assert lowered.graded.nnz == len(net.projections[0].pre)


MULTI = """
name: bad
populations:
  - {name: a, size: 2, model: adaptive_lif}
  - {name: b, size: 2, model: conductance_lif}
connections:
  - {name: slow, source: [a], target: [b], synapse: exp_conductance, random: {p: 1.0},
     weight_scale: "1 nS", params: {delay: "7 ms"}, plasticity: [learn]}
  - {name: graded, source: [b], target: [b], synapse: graded_sigmoid, random: {p: 1.0},
     weight_scale: "1 nS"}
  - {name: steeper, source: [b], target: [a], synapse: graded_sigmoid, random: {p: 1.0},
     weight_scale: "1 nS", params: {sigma: 1.0}}
plasticity:
  - {name: learn, rule: stdp}
run: {dt: "0.1 ms", duration: "10 ms"}
"""


def test_unsupported_lists_every_offender() -> None:
    with pytest.raises(UnsupportedFeature) as err:
        lower(spec_network(MULTI))
    assert isinstance(err.value, WormchipError)
    offenders = set(err.value.offenders)
    assert offenders == {  # adaptive_lif (population a) lowers to GapLIF's adaptation register
        ("plasticity:stdp_delay_or_synapse", "projection slow (rule learn, delay 7 ms)"),
        ("param:long_delay", "projection slow (delay 7 ms = 70 steps)"),
        ("synapse:graded_mixed_sigmoid", "projection steeper (neuron b_0)"),
        ("synapse:graded_mixed_sigmoid", "projection steeper (neuron b_1)"),
    }
    for _, element in offenders:
        assert element in str(err.value)


ONE = """
name: one
populations:
  - {name: p, cells: [A, B], model: lif, params: {I_bias: "0.2 nA", t_ref: "0 ms", C_m: "200 pF", g_L: "10 nS"}}
  - {name: q, cells: [C], model: conductance_lif, params: {t_ref: "0 ms"}}
connections:
  - {name: fast, source: [p], target: [p, q], synapse: exp_current, params: {tau: "2 ms"},
     edges: [{pre: A, post: B, weight: 2.0}, {pre: A, post: C}]}
  - {name: slow, source: [p], target: [p], synapse: exp_current, params: {tau: "8 ms"},
     edges: [{pre: B, post: A, weight: -1.0}, {pre: A, post: B, weight: 0.25}]}
  - {name: cond, source: [p], target: [q], synapse: exp_conductance, weight_scale: "2 nS", params: {tau: "2 ms"},
     edges: [{pre: B, post: C, weight: -1.0}]}
  - {name: gj, source: [p], target: [p], synapse: gap_junction, weight_scale: "3 nS", edges: [{pre: A, post: B}]}
stimuli:
  - {name: s, kind: step, targets: [A], amplitude: "0.1 nA", start: "1 ms", duration: "2 ms"}
run: {dt: "0.1 ms", duration: "5 ms"}
"""


def test_numbers_follow_the_exponential_euler_step() -> None:
    """Decays are 1 − e^(−dt/τ); a current I moves v by I·(1 − e^(−dt·g/C))/g per step, g = g_L + G with G
    the neuron's gap conductance (Brian2's exponential Euler puts the gap's −G·v into the exponent)."""
    net = spec_network(ONE)
    lo = lower(net)
    dt = 1e-4
    d_tot = np.array([1 - math.exp(-dt * 13e-9 / 200e-12)] * 2 + [1 - math.exp(-dt / 0.02)])  # A, B: 3 nS gap
    kappa = d_tot / np.array([13e-9, 13e-9, 5e-9])
    np.testing.assert_allclose(lo.decay_v, d_tot - kappa * np.array([3e-9, 3e-9, 0]), rtol=1e-12)
    np.testing.assert_allclose(lo.decay_v + np.asarray(lo.gap.sum(axis=1)).ravel(), d_tot, rtol=1e-12)
    np.testing.assert_allclose(lo.v_th, 0.015)
    np.testing.assert_allclose(lo.bias[:2], 0.2e-9 * kappa[:2])
    # B receives 2 ms and 8 ms synapses: the 2 ms one carries more charge there (2·2 > 0.25·8), so B's τ_u
    # is 2 ms and the 8 ms weight is scaled by 8/2 (equal charge).
    scale = float(net.projections[0].weight[0] / 2.0)  # amperes per unit edge weight
    assert lo.tau_u[1] == pytest.approx(2e-3) and lo.tau_u[0] == pytest.approx(8e-3)
    np.testing.assert_allclose(lo.decay_u[1], 1 - math.exp(-dt / 2e-3))
    np.testing.assert_allclose(lo.weights[1, 0], (2.0 + 0.25 * 4) * scale * kappa[1], rtol=1e-12)
    np.testing.assert_allclose(lo.weights[0, 1], -1.0 * scale * kappa[0], rtol=1e-12)
    # Conductance onto C linearised at v_op = E_L + (v_th − E_L)/2 = −57.5 mV: 2 nS × (−90 − (−57.5)) mV.
    np.testing.assert_allclose(lo.weights[2, 1], 2e-9 * (-0.09 + 0.0575) * kappa[2], rtol=1e-9)
    # Gap: symmetric g, each row in its own neuron's volts-per-step.
    np.testing.assert_allclose([lo.gap[0, 1], lo.gap[1, 0]], [3e-9 * kappa[0], 3e-9 * kappa[1]])
    # The step current: bias changes at 1 ms and back at 3 ms.
    assert [s for s, _ in lo.bias_schedule] == [10, 30]
    np.testing.assert_allclose(lo.bias_schedule[0][1][0], (0.2e-9 + 0.1e-9) * kappa[0])
    np.testing.assert_allclose(lo.bias_schedule[1][1], lo.bias)
    # Exact conductance: the g register gets 2 nS·κ per spike, and −g·(v − v_op) with v_op 7.5 mV above rest.
    np.testing.assert_allclose(lo.conductance[2, 1], 2e-9 * kappa[2], rtol=1e-9)
    assert lo.conductance.nnz == 1 and lo.v_op[2] == pytest.approx(0.0075)
    assert {a.feature for a in lo.approximations} == {"param:mixed_tau"}
    linear = lower(net, conductance="linearised")
    features = {a.feature: a for a in linear.approximations}
    assert set(features) == {
        "param:mixed_tau",
        "synapse:exp_conductance_linearised",
        "neuron:conductance_lif_linearised",
    }
    assert linear.conductance.nnz == 0 and abs(linear.weights - lo.weights).max() == 0
    # Driving-force error over [E_L, v_th] = 7.5 mV / 32.5 mV for the inhibitory synapse.
    key = "synapse:exp_conductance_linearised"
    assert features[key].cost["max_driving_force_error"] == pytest.approx(7.5 / 32.5)
    with pytest.raises(UnsupportedFeature, match="neuron B"):
        lower(net, mixed_tau="error")


def test_spike_collisions_become_extra_columns() -> None:
    """Two spikes of one source in one step arrive as two input columns (exact, not merged)."""
    import dataclasses

    net = spec_network(
        ONE.replace("stimuli:", "stimuli:\n  - {name: pz, kind: poisson, targets: [A], rate: '10 Hz'}")
    )
    inp = net.spike_inputs[0]
    forced = dataclasses.replace(inp, spike_times=(np.array([0.00101, 0.00102, 0.0021]),))
    lo = lower(dataclasses.replace(net, spike_inputs=(forced,)))
    assert lo.input_spikes.shape == (50, 2)
    assert lo.input_spikes[:, 0].nonzero()[0].tolist() == [10, 21]
    assert lo.input_spikes[:, 1].nonzero()[0].tolist() == [10]
    np.testing.assert_allclose(lo.input_weights[0, 0], lo.input_weights[0, 1])


CUBA = """
name: cuba
populations:
  - {name: p, cells: [A, B, C], model: lif, params: {I_bias: "0.25 nA", t_ref: "2 ms", v_reset: "-70 mV"}}
  - {name: q, cells: [D], model: lif, params: {I_bias: "0.1 nA", E_L: "-60 mV", v_reset: "-55 mV", t_ref: "1 ms"}}
connections:
  - {name: syn, source: [p, q], target: [p, q], synapse: exp_current, params: {tau: "5 ms"}, weight_scale: "0.3 nA",
     edges: [{pre: A, post: B}, {pre: B, post: C, weight: -0.5}, {pre: C, post: D}, {pre: D, post: A, weight: 0.5}]}
  - {name: gj, source: [p, q], target: [p, q], synapse: gap_junction, weight_scale: "4 nS",
     edges: [{pre: A, post: C}, {pre: C, post: D, weight: 2.0}]}
stimuli:
  - {name: s, kind: step, targets: [B], amplitude: "0.2 nA", start: "10 ms", duration: "20 ms"}
probes:
  - {variables: [v], neurons: [A, B, C, D], dt: "0.1 ms"}
run: {dt: "0.1 ms", duration: "60 ms"}
"""


def test_lowered_float_dynamics_reproduce_brian2(lowered_matches_brian2) -> None:
    """The lowered network's float run (Loihi's update order in volts) equals Brian2's run of the IR: the
    same spike steps and v to float precision, with gap junctions (different E_L), refractory periods and
    v_reset ≠ E_L. The emulator then differs from Brian2 only by quantization."""
    lowered_matches_brian2(spec_network(CUBA))
