"""Graded sigmoid synapses (LTC/NCP) lower by approximation: GapLIF sends a 12-bit hard-sigmoid activation of v,
graded Dense blocks carry |w|·(E_rev − v_op) into v. Checked against the lowered float model (exact up to
quantization), Brian2 (within the recorded approximation costs) and Lava (bit-exact)."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.analysis.fidelity import fidelity
from wormchip.backends.brian2_backend import run_brian2
from wormchip.backends.emulator import numba, run_emulator
from wormchip.circuits.build import build
from wormchip.circuits.loader import parse_spec
from wormchip.mappers.fixed_point import GRADED_HALF
from wormchip.mappers.lower import hard_sigmoid, lower, simulate_lowered
from wormchip.mappers.quantize import quantize
from wormchip.pipeline import build_circuit

# P sits below threshold at E_L + I·R = −65 + 12 mV: x = s(v − μ) = 0.1·(−53 + 55) = 0.2, where the hard
# sigmoid is within 2e-4 of the logistic. Q (no bias) is pulled up by P's graded excitatory synapse.
PAIR = """
name: pair
populations:
  - {name: p, cells: [P], model: lif, params: {I_bias: "0.06 nA", E_L: "-65 mV", v_th: "-45 mV"}}
  - {name: q, cells: [Q], model: lif, params: {E_L: "-65 mV", v_th: "-45 mV"}}
connections:
  - {name: g, source: [p], target: [q], synapse: graded_sigmoid, weight_scale: "1 nS",
     params: {mu: "-55 mV", sigma: 0.1}, edges: [{pre: P, post: Q}]}
probes:
  - {variables: [v], neurons: [P, Q], dt: "0.1 ms"}
run: {dt: "0.1 ms", duration: "300 ms"}
"""


def test_steady_graded_current_matches_the_model_and_brian2() -> None:
    net = build(parse_spec(PAIR))
    lo = lower(net)
    fixed, report = quantize(lo)
    assert {"graded", "graded_slope", "graded_mu"} <= set(report.errors)
    emu = run_emulator(fixed, lo.steps)
    s = report.v_scale
    v_emu = emu.traces["v"].values[-1].astype(float) * s
    v_float, spikes = simulate_lowered(lo)
    assert not spikes.any() and not emu.spike_counts()["P"]
    # The message P sends is the hard sigmoid of its voltage, in 12 bits.
    msg = fixed.graded_messages(emu.traces["v"].values[-1])[0]
    x = lo.graded_slope[0] * (v_emu[0] - lo.graded_mu[0])
    assert abs(msg - 2 * GRADED_HALF * hard_sigmoid(x)) <= 1
    assert 0.15 < x < 0.25
    # Fixed point vs the lowered float model: Q's settled voltage to 1e-3 relative (12-bit message).
    np.testing.assert_allclose(v_emu, v_float[-1], rtol=1e-3)
    # Lowered float vs Brian2: P exactly (no graded input); Q within the approximation: the driving force
    # is taken at v_op = −55 mV instead of Q's own voltage, and the hard sigmoid at x = 0.2.
    ref = run_brian2(net, target="numpy")
    v_b2 = ref.traces["v"].values[-1] - lo.e_l
    assert v_float[-1, 0] == pytest.approx(v_b2[0], rel=1e-6)
    e_rev, v_q = 0.0, v_b2[1] + lo.e_l[1]
    force_ratio = (e_rev - (-0.055)) / (e_rev - v_q)
    assert v_float[-1, 1] == pytest.approx(v_b2[1] * force_ratio, rel=0.02)


def test_mixed_sigmoids_from_one_neuron_are_unsupported() -> None:
    from wormchip.errors import UnsupportedFeature

    text = PAIR.replace(
        "edges: [{pre: P, post: Q}]}",
        "edges: [{pre: P, post: Q}]}\n  - {name: h, source: [p], target: [q], synapse: graded_sigmoid, "
        'weight_scale: "1 nS", params: {mu: "-50 mV"}, edges: [{pre: P, post: Q}]}',
    )
    with pytest.raises(UnsupportedFeature, match=r"graded_mixed_sigmoid.*projection h \(neuron P\)"):
        lower(build(parse_spec(text)))


@pytest.mark.skipif(numba is None, reason="numba not installed")
def test_numba_and_numpy_engines_agree_on_ncp() -> None:
    fixed, _ = quantize(lower(build_circuit("ncp")))
    a, b = run_emulator(fixed, 3000, engine="numpy"), run_emulator(fixed, 3000, engine="numba")
    for key in ("u", "v"):
        np.testing.assert_array_equal(a.traces[key].values, b.traces[key].values)
    assert a.spike_times.keys() == b.spike_times.keys()
    assert all(np.array_equal(a.spike_times[k], b.spike_times[k]) for k in a.spike_times)
    assert sum(len(t) for t in a.spike_times.values()) > 200


@pytest.mark.lava
def test_ncp_on_three_cores_is_bit_exact_in_lava() -> None:
    """Graded Dense per core pair (relays for negative exponents) from GapLIF's second graded port."""
    from wormchip.backends.lava_runner import run_lava
    from wormchip.mappers.emit import emit

    fixed, _ = quantize(lower(build_circuit("ncp", duration="30 ms")))
    core_of = np.random.default_rng(1).integers(0, 3, fixed.n_neurons)
    plan = emit(fixed, core_of)
    assert any(s.kind == "graded" for s in plan.sub_blocks)
    assert any(kind == "graded" for kind, _, _ in plan.relays())
    emu = run_emulator(fixed, 300)
    lava = run_lava(fixed, 300, timeout_s=240, core_of=core_of)
    for key in ("u", "v"):
        np.testing.assert_array_equal(emu.traces[key].values, lava.traces[key].values)
    assert all(np.array_equal(emu.spike_times[k], lava.spike_times[k]) for k in emu.spike_times)


def test_ncp_fidelity_is_measured() -> None:
    """Brian2 vs the emulator on NCP (conductance neurons and graded synapses, both linearised): the
    sensory layer (no graded input) keeps its counts and timing; the counts stay correlated downstream."""
    report = fidelity("ncp", 0.5, target="numpy")
    assert report.conductance_based
    assert "synapse:graded_sigmoid" in report.approximations
    sensory = report.per_neuron.loc[[f"S{i}" for i in range(32)]]
    assert (sensory["count_brian2"] == sensory["count_emulator"]).all() and sensory[
        "count_brian2"
    ].sum() > 100
    within = (sensory["within_1step"] * sensory["count_brian2"]).sum() / sensory["count_brian2"].sum()
    assert within > 0.97  # fixed-point rounding alone moves a spike by 2 steps here and there
    assert report.count_correlation > 0.95
