"""adaptive_lif on Loihi: `GapLIF`'s adaptation register w, from `lower` to the emulator and Lava.

Brian2's exponential Euler holds w over a step as it holds the synaptic current, so v at step k uses w after
step k − 1's reset increment: `w ← w·(1 − d_w) + b·s_prev`, `v ← v·(1 − d_v) + u − w + bias + gap`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from wormchip.backends.emulator import numba, run_emulator
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict, parse_spec
from wormchip.errors import QuantizationError
from wormchip.mappers.emit import emit
from wormchip.mappers.features import Lowering, feature
from wormchip.mappers.fixed_point import ADAPT_B_LIMIT, DW_MAX, W_SHIFT_MAX, FixedPointNetwork, WeightBlock
from wormchip.mappers.lower import lower, simulate_lowered
from wormchip.mappers.quantize import calibrated_headroom, quantize
from wormchip.result import Result


def _block(
    rng: np.random.Generator, shape: tuple[int, int], density: float, lo: int, hi: int, **kw
) -> WeightBlock:
    mask = rng.random(shape) < density
    return WeightBlock(sp.csr_matrix(np.where(mask, rng.integers(lo, hi + 1, shape), 0)), **kw)


def adaptive_net(seed: int, n: int, n_in: int = 4, steps: int = 200, gap: bool = True) -> FixedPointNetwork:
    """A random recurrent GapLIF network in which most neurons adapt: decays from 2^-10 to 1/4 per step, both
    signs of increment, every w_shift, and two neurons whose w wraps in int32 (no decay, huge increment)."""
    rng = np.random.default_rng(seed)
    shift = rng.integers(0, W_SHIFT_MAX + 1, n)
    adapt_b = rng.integers(-300, 3000, n) * 2**shift
    adapt_b = np.clip(adapt_b, -ADAPT_B_LIMIT, ADAPT_B_LIMIT)
    adapt_b[rng.random(n) < 0.2] = 0  # some neurons do not adapt
    dw = rng.integers(2**14, 2**22, n)
    dw[:2], adapt_b[:2], shift[:2] = 0, 2**30, 20  # w wraps after two spikes
    gap_blocks: tuple[WeightBlock, ...] = ()
    if gap:
        upper = np.triu(rng.random((n, n)) < 0.1, 1)
        g = np.zeros((n, n), dtype=np.int64)
        g[upper] = rng.integers(1, 256, upper.sum())
        g = g + np.triu(g, 1).T
        diag = np.clip(-g.sum(axis=1) // 4, -256, 0)
        gap_blocks = (WeightBlock(g, weight_exp=-3), WeightBlock(np.diag(diag), weight_exp=-1))
    return FixedPointNetwork(
        neuron_names=[f"a{i}" for i in range(n)],
        du=rng.integers(0, 4096, n),
        dv=rng.integers(0, 4096, n),
        vth=rng.integers(50, 3000, n),
        bias_mant=rng.integers(-100, 600, n),
        bias_exp=rng.integers(0, 4, n),
        weights=(
            _block(rng, (n, n), 0.1, 0, 255, weight_exp=1),
            _block(rng, (n, n), 0.1, -256, 0, weight_exp=0),
        ),
        input_spikes=rng.random((steps - 20, n_in)) < 0.3,
        input_weights=(_block(rng, (n, n_in), 0.5, 0, 255, weight_exp=2),),
        dt=1e-4,
        gap_weights=gap_blocks,
        gap_shift=6 if gap else 0,
        refractory=rng.integers(0, 6, n),
        v_reset=rng.integers(-2000, 2000, n) * 64,
        dw=dw,
        adapt_b=adapt_b,
        w_shift=shift,
    )


def _raster(result: Result) -> np.ndarray:
    steps = int(round(result.duration / result.dt))
    out = np.zeros((steps, len(result.neuron_names)), dtype=bool)
    for i, name in enumerate(result.neuron_names):
        out[np.rint(result.spike_times[name] / result.dt).astype(int), i] = True
    return out


# --- the fixed-point register: both emulator engines, Lava ------------------------------------------------------


def test_adaptation_register_follows_its_rule() -> None:
    """One neuron, recorded w: w decays by round(w·(2²⁴ − dw)/2²⁴) and jumps by adapt_b the step after each
    spike; v receives −(w >> w_shift); without adaptation the network is unchanged (defaults 0)."""
    net = dataclasses.replace(adaptive_net(1, 10, gap=False), refractory=0)
    res = run_emulator(net, 200, record=("u", "v", "w"), engine="numpy")
    u, v, w = (res.traces[key].values.astype(np.int64) for key in ("u", "v", "w"))
    spikes = _raster(res)
    bias = net.bias_mant << net.bias_exp
    prev_w = prev_v = np.zeros(net.n_neurons, dtype=np.int64)
    for k in range(200):
        expected = (prev_w * (2**24 - net.dw) + 2**23) >> 24
        if k:
            expected = expected + net.adapt_b * spikes[k - 1]
        expected = ((expected + 2**31) % 2**32) - 2**31  # int32
        np.testing.assert_array_equal(w[k], expected)
        x = prev_v * (4096 - net.dv)
        v_new = np.clip(
            np.sign(x) * (np.abs(x) >> 12) + u[k] + bias - (w[k] >> net.w_shift), -(2**23) + 1, 2**23 - 1
        )
        np.testing.assert_array_equal(v[k], np.where(spikes[k], net.v_reset, v_new))
        prev_w, prev_v = w[k], v[k]
    assert spikes[:, :2].sum() >= 2 and (w[:, :2] < 0).any(), "the huge increments wrapped in int32"
    plain = dataclasses.replace(net, dw=0, adapt_b=0, w_shift=0, v_reset=0)
    assert net.has_adaptation and net.needs_gap_lif
    assert not plain.has_adaptation and not plain.needs_gap_lif
    assert _raster(run_emulator(plain, 200, record=())).sum() > spikes.sum()


@pytest.mark.skipif(numba is None, reason="numba not installed")
@pytest.mark.parametrize("gap", [False, True])
def test_numba_and_numpy_engines_agree_with_adaptation(gap: bool) -> None:
    net = adaptive_net(2, 60, steps=400, gap=gap)
    a = run_emulator(net, 400, record=("u", "v", "w"), engine="numpy")
    b = run_emulator(net, 400, record=("u", "v", "w"), engine="numba")
    np.testing.assert_array_equal(_raster(a), _raster(b))
    assert _raster(a).sum() > 100
    for key in ("u", "v", "w"):
        np.testing.assert_array_equal(a.traces[key].values, b.traces[key].values, err_msg=key)


def test_validation_and_emit_slices() -> None:
    net = adaptive_net(3, 8)
    for name, value in (("dw", DW_MAX + 1), ("adapt_b", ADAPT_B_LIMIT + 1), ("w_shift", W_SHIFT_MAX + 1)):
        with pytest.raises(ValueError, match=name):
            dataclasses.replace(net, **{name: value})
    core_of = np.array([0, 1, 1, 0, 2, 2, 0, 1])
    plan = emit(net, core_of)
    assert plan.gap_lif
    for core in plan.cores:
        for name in ("dw", "adapt_b", "w_shift"):
            np.testing.assert_array_equal(getattr(core, name), getattr(net, name)[core.neurons])
    plain = dataclasses.replace(net, gap_weights=(), gap_shift=0, refractory=0, v_reset=0)
    assert emit(plain).gap_lif and not emit(dataclasses.replace(plain, adapt_b=0)).gap_lif


@pytest.mark.lava
def test_adaptation_bit_exact_with_lava() -> None:
    """u, v and spikes at every step, on two cores (CorePlan slices), with gap junctions and int32 wraps."""
    from wormchip.backends.lava_runner import run_lava

    net = adaptive_net(4, 12, steps=80)
    core_of = np.array([0, 1] * 6)
    emu = run_emulator(net, 80)
    lava = run_lava(net, 80, timeout_s=120, core_of=core_of)
    np.testing.assert_array_equal(_raster(emu), _raster(lava))
    assert _raster(emu).sum() > 20
    for key in ("u", "v"):
        np.testing.assert_array_equal(emu.traces[key].values, lava.traces[key].values, err_msg=key)


# --- lowering: exact float dynamics, quantization, Brian2 vs emulator -------------------------------------------

ADAPTIVE = """
name: adaptive
populations:
  - {name: p, cells: [A, B], model: adaptive_lif,
     params: {I_bias: "0.3 nA", b: "0.05 nA", tau_w: "100 ms", v_reset: "-68 mV", t_ref: "2 ms"}}
  - {name: q, cells: [C], model: adaptive_lif, params: {I_bias: "0.2 nA", b: "-0.01 nA", tau_w: "30 ms",
     E_L: "-60 mV", t_ref: "1 ms"}}
  - {name: r, cells: [D], model: lif, params: {I_bias: "0.1 nA"}}
connections:
  - {name: syn, source: [p, q, r], target: [p, q, r], synapse: exp_current, params: {tau: "5 ms"},
     weight_scale: "0.3 nA", edges: [{pre: A, post: B}, {pre: B, post: C, weight: -0.5}, {pre: C, post: D},
     {pre: D, post: A, weight: 0.5}]}
  - {name: gj, source: [p, q], target: [p, q], synapse: gap_junction, weight_scale: "4 nS",
     edges: [{pre: A, post: C}]}
stimuli:
  - {name: s, kind: step, targets: [B], amplitude: "0.2 nA", start: "10 ms", duration: "40 ms"}
probes:
  - {variables: [v], neurons: [A, B, C, D], dt: "0.1 ms"}
run: {dt: "0.1 ms", duration: "150 ms"}
"""


def test_lower_maps_adaptation_onto_the_w_register() -> None:
    assert feature("neuron:adaptive_lif").lowering is Lowering.CUSTOM_PROCESS
    net = build(parse_spec(ADAPTIVE))
    lo = lower(net)  # no longer UnsupportedFeature
    kappa = lo.metadata["kappa_v_per_a"]
    np.testing.assert_allclose(lo.decay_w, [-np.expm1(-1e-4 / 0.1)] * 2 + [-np.expm1(-1e-4 / 0.03), 0.0])
    np.testing.assert_allclose(lo.adapt_b, np.array([0.05e-9, 0.05e-9, -0.01e-9, 0.0]) * kappa)
    assert not lo.approximations
    fixed, report = quantize(lo)
    assert fixed.has_adaptation and np.array_equal(fixed.adapt_b != 0, [True, True, True, False])
    assert report.errors["decay_w"].max < 1e-4 and report.errors["adapt_b"].max < 1e-6
    assert np.all(np.abs(fixed.adapt_b) < 2**31)
    # τ_w beyond the 24-bit decay (d_w < 2^-25): w would never decay, so quantize refuses.
    slow = dataclasses.replace(lo, decay_w=np.where(lo.decay_w > 0, 1e-9, 0.0))
    with pytest.raises(QuantizationError, match="adaptation of neuron A"):
        quantize(slow)


def test_lowered_float_dynamics_reproduce_brian2_with_adaptation(lowered_matches_brian2) -> None:
    """Same spike steps and v to 1e-9 V as Brian2, with adaptation of both signs next to synapses, a gap
    junction, refractory periods, v_reset ≠ E_L and a plain LIF neuron."""
    spikes = lowered_matches_brian2(build(parse_spec(ADAPTIVE)))
    assert spikes[:, :3].sum(axis=0).min() > 5


def test_represented_adaptation_follows_the_emulator() -> None:
    """`fidelity.represented` with every class (adaptation included) is the emulator's network in floats: the
    same spikes for 800 steps (then one moves by a step: the integer state arithmetic) and v within 1e-3·v_th."""
    from wormchip.analysis.fidelity import ATTRIBUTION_CLASSES, represented

    lo = lower(build(parse_spec(ADAPTIVE)))
    fixed, report = quantize(lo, v_headroom=calibrated_headroom(lo))
    net, v_limit = represented(lo, fixed, report, ATTRIBUTION_CLASSES)
    np.testing.assert_allclose(net.adapt_b, fixed.adapt_b * 2.0**-fixed.w_shift * report.v_scale)
    np.testing.assert_allclose(net.decay_w, fixed.dw / 2**24)
    v_float, spikes_float = simulate_lowered(net, 800, v_limit=v_limit)
    emu = run_emulator(fixed, 800, record=("v",))
    np.testing.assert_array_equal(spikes_float, _raster(emu))
    assert spikes_float.sum() > 20
    assert np.abs(v_float - emu.traces["v"].values * report.v_scale).max() / lo.v_th.min() < 1e-3


def _two_adapting_neurons(duration: str) -> dict:
    """Two uncoupled adaptive_lif neurons under a step current (registry defaults otherwise)."""
    return {
        "name": "adapting",
        "populations": [
            {"name": "a", "size": 1, "model": "adaptive_lif", "params": {"b": "0.05 nA", "tau_w": "100 ms"}},
            {"name": "f", "size": 1, "model": "adaptive_lif", "params": {"b": "0.1 nA", "tau_w": "50 ms"}},
        ],
        "stimuli": [
            {"name": f"s_{cell}", "kind": "step", "targets": [cell], "amplitude": amp, "start": "10 ms"}
            for cell, amp in (("a_0", "0.3 nA"), ("f_0", "0.5 nA"))
        ],
        "run": {"dt": "0.1 ms", "duration": duration, "target": "numpy"},
    }


def test_brian2_vs_emulator_on_adapting_neurons() -> None:
    """Spike-frequency adaptation survives quantization: ≥ 95 % of Brian2's spikes within ±1 step of the
    emulator's (= Lava's) and the adapted steady rate within 1 %, on two neurons over 2 s."""
    from wormchip.analysis.fidelity import fidelity

    report = fidelity(build(from_dict(_two_adapting_neurons("2 s"))), target="numpy")
    assert report.within_1step >= 0.95 and report.within_1step_emulator >= 0.95
    for name in ("a_0", "f_0"):
        b2 = np.diff(report.results["brian2"].spike_times[name])
        emu = np.diff(report.results["emulator"].spike_times[name])
        assert 1 / b2[-10:].mean() < 0.5 / b2[0], "the rate adapts (steady < half the first ISI's rate)"
        assert emu[-10:].mean() == pytest.approx(b2[-10:].mean(), rel=0.01)
