"""Exact conductance synapses on the chip (`GapLIF`'s conductance register g), against Brian2 and Lava.

Brian2 (the independent implementation) integrates I = g·(E_rev − v) with exponential Euler; the lowered
network adds −g·(v − v_op) to the linearised current g·(E_rev − v_op) each step, forward Euler in g·dt/C.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from wormchip.backends.emulator import numba, run_emulator
from wormchip.mappers.fixed_point import FixedPointNetwork, WeightBlock
from wormchip.mappers.lower import lower, simulate_lowered
from wormchip.pipeline import build_circuit, quantized, run_circuit

LINEARISED = {"synapse:exp_conductance_linearised", "neuron:conductance_lif_linearised"}


@pytest.fixture(scope="module")
def tap():
    net = build_circuit("tap_withdrawal")
    return net, run_circuit(net, on="brian2")


def _v_error_mv(net, brian, lowered, until_ms: float) -> float:
    """Largest |v_float − v_brian2| (mV) over the probed neurons up to `until_ms`."""
    v, _ = simulate_lowered(lowered)
    trace = brian.traces["v"]
    steps = np.round(trace.times / net.dt).astype(int) - 1  # the probe at t reads v after step t/dt − 1
    keep = (steps >= 0) & (trace.times * 1e3 <= until_ms)
    worst = 0.0
    for c, name in enumerate(trace.channels):
        i = net.names.index(name)
        ours = v[steps[keep], i] + lowered.e_l[i]
        worst = max(worst, float(np.max(np.abs(ours - trace.values[keep, c]))))
    return worst * 1e3


def test_exact_lowering_records_no_conductance_approximation(tap) -> None:
    net, _ = tap
    exact, linear = lower(net), lower(net, conductance="linearised")
    assert not LINEARISED & {a.feature for a in exact.approximations}
    assert LINEARISED <= {a.feature for a in linear.approximations}
    chemical = next(p for p in net.projections if p.synapse == "exp_conductance")
    assert exact.conductance.nnz == len(set(zip(chemical.post.tolist(), chemical.pre.tolist())))
    assert linear.conductance.nnz == 0
    np.testing.assert_allclose(exact.v_op, 0.5 * exact.v_th)
    # The u weights are the linearisation's in both modes; only the g register is added.
    assert abs(exact.weights - linear.weights).max() == 0
    with pytest.raises(ValueError, match="conductance"):
        lower(net, conductance="exactly")


def test_float_run_follows_brian2_and_the_linearisation_does_not(tap) -> None:
    """Over the first 50 ms of touch the exact form stays within 0.1 mV of Brian2 (forward Euler of the
    conductance term); the linearised one is off by millivolts. Over 0.5 s every neuron's spike count is
    Brian2's with the exact form."""
    net, brian = tap
    exact, linear = lower(net), lower(net, conductance="linearised")
    assert _v_error_mv(net, brian, exact, 150.0) < 0.1
    assert _v_error_mv(net, brian, linear, 150.0) > 1.0
    _, spikes = simulate_lowered(exact)
    counts = {n: len(brian.spike_times[n]) for n in net.names}
    assert sum(counts.values()) > 100
    assert {n: int(spikes[:, i].sum()) for i, n in enumerate(net.names)} == counts
    _, lin_spikes = simulate_lowered(linear)
    assert {n: int(lin_spikes[:, i].sum()) for i, n in enumerate(net.names)} != counts


def test_quantized_emulator_keeps_brian2_spike_counts(tap) -> None:
    net, brian = tap
    compiled = quantized(net)
    fixed = compiled.fixed
    assert fixed.conductance_weights and fixed.needs_gap_lif and fixed.conductance_shift > 0
    assert compiled.quantization.errors["conductance"].max < 1e-3
    result = run_emulator(fixed, compiled.lowered.steps)
    assert {n: len(result.spike_times[n]) for n in net.names} == {
        n: len(brian.spike_times[n]) for n in net.names
    }


def _random_conductance_net(seed: int = 3, n: int = 24) -> FixedPointNetwork:
    """Random excitatory/inhibitory spiking network with a conductance register, a bias and a refractory period."""
    rng = np.random.default_rng(seed)
    w = sp.random(n, n, density=0.3, random_state=seed, data_rvs=lambda k: rng.integers(1, 255, k)).tocsr()
    w.data *= np.where(rng.random(w.nnz) < 0.6, 1, -1)
    g = sp.random(n, n, density=0.3, random_state=seed + 1, data_rvs=lambda k: rng.integers(1, 255, k))
    return FixedPointNetwork(
        neuron_names=tuple(f"n{i}" for i in range(n)),
        du=np.full(n, 400),
        dv=np.full(n, 40),
        vth=np.full(n, 400),
        bias_mant=rng.integers(200, 500, n),
        bias_exp=np.full(n, 6),
        weights=(WeightBlock(w.astype(np.int64), weight_exp=3),),
        refractory=np.full(n, 3),
        conductance_weights=(WeightBlock(g.tocsr().astype(np.int64), weight_exp=4),),
        v_op=rng.integers(-3000, 9000, n),
        conductance_shift=18,
        dt=1e-4,
    )


@pytest.mark.skipif(numba is None, reason="numba not installed")
def test_numpy_and_numba_engines_agree_with_a_conductance_register() -> None:
    net = _random_conductance_net()
    a = run_emulator(net, 600, record=("u", "v"), engine="numpy")
    b = run_emulator(net, 600, record=("u", "v"), engine="numba")
    np.testing.assert_array_equal(a.traces["v"].values, b.traces["v"].values)
    total = sum(len(t) for t in a.spike_times.values())
    assert 0.02 < total / (600 * net.n_neurons) < 0.8
    # The register matters: without it the same network spikes differently.
    plain = FixedPointNetwork(**{**net.__dict__, "conductance_weights": ()})
    c = run_emulator(plain, 600, record=("v",), engine="numpy")
    assert not np.array_equal(a.traces["v"].values, c.traces["v"].values)


def test_conductance_weights_must_be_nonnegative() -> None:
    net = _random_conductance_net()
    negative = WeightBlock(-net.conductance_weights[0].weights, weight_exp=4)
    with pytest.raises(ValueError, match="conductance_weights\\[0\\] has negative weights"):
        FixedPointNetwork(**{**net.__dict__, "conductance_weights": (negative,)})
    with pytest.raises(ValueError, match="conductance_shift"):
        FixedPointNetwork(**{**net.__dict__, "conductance_shift": 41})


@pytest.mark.lava
def test_lava_matches_the_emulator_bit_for_bit_on_one_and_three_cores() -> None:
    from wormchip.backends.lava_runner import run_lava

    net = _random_conductance_net()
    emu = run_emulator(net, 200, record=("u", "v"))
    core_of = np.random.default_rng(5).integers(0, 3, net.n_neurons)
    for cores in (None, core_of):
        lava = run_lava(net, 200, record=("u", "v"), timeout_s=120, core_of=cores)
        np.testing.assert_array_equal(emu.traces["v"].values, lava.traces["v"].values)
        for name in net.neuron_names:
            np.testing.assert_array_equal(emu.spike_times[name], lava.spike_times[name])
