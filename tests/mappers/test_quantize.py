"""Quantization: errors against independent computations, the emulator against float LIF physics, and
our method against nengo-loihi's discretization."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from wormchip.backends.emulator import run_emulator
from wormchip.circuits.build import build
from wormchip.circuits.loader import library_path, load_spec, parse_spec
from wormchip.errors import QuantizationError, WormchipError
from wormchip.mappers.lower import LoweredNetwork, lower
from wormchip.mappers.quantize import _blocks, quantize, quantize_nengo_loihi


def lowered_net(n: int, dt: float = 1e-4, **fields) -> LoweredNetwork:
    """A hand-made lowered network (defaults: τ_u 5 ms, τ_m 20 ms, v_th 15 mV, no inputs)."""
    tau_u, tau_v = fields.pop("tau_u", np.full(n, 5e-3)), fields.pop("tau_v", np.full(n, 20e-3))
    base = dict(
        names=tuple(f"n{i}" for i in range(n)),
        dt=dt,
        steps=100,
        tau_u=tau_u,
        tau_v=tau_v,
        decay_u=-np.expm1(-dt / tau_u),
        decay_v=-np.expm1(-dt / tau_v),
        v_th=np.full(n, 0.015),
        bias=np.zeros(n),
        e_l=np.full(n, -0.065),
        weights=sp.csr_matrix((n, n)),
        input_spikes=np.zeros((100, 0), dtype=bool),
        input_weights=sp.csr_matrix((n, 0)),
        gap=sp.csr_matrix((n, n)),
    )
    base.update(fields)
    return LoweredNetwork(**base)


@pytest.mark.parametrize("dt", [1e-4, 1e-3])
def test_decays_reproduce_exponentials_within_one_step(dt: float) -> None:
    """(du + 1)/4096 is within half a quantization step of 1 − e^(−dt/τ); without refinement so is dv/4096.

    With refined decays (the default) dv = floor(4096·d) and the residual sits on the diagonal of the graded
    self-connection: decoded here from the blocks, the effective decay is within 2^-20 of the exact one."""
    taus = np.array([0.3e-3, 1e-3, 2e-3, 5e-3, 20e-3, 100e-3, 400e-3])
    taus = taus[taus > dt]
    lowered = lowered_net(len(taus), dt, tau_u=taus, tau_v=taus)
    exact = 1 - np.exp(-dt / taus)
    plain, plain_report = quantize(lowered, refine_decays=False)
    assert not plain.gap_weights
    assert np.all(np.abs((plain.du + 1) / 4096 - exact) <= 0.5 / 4096 + 1e-15)
    assert np.all(np.abs(plain.dv / 4096 - exact) <= 0.5 / 4096 + 1e-15)
    rel = np.abs(plain.dv / 4096 - exact) / exact
    assert plain_report.errors["decay_v"].max == pytest.approx(rel.max())

    net, report = quantize(lowered)
    np.testing.assert_array_equal(net.du, plain.du)
    np.testing.assert_array_equal(net.dv, np.floor(4096 * exact))
    diag = sum(
        b.effective_weights().diagonal().astype(float) * 2.0 ** (b.weight_exp - net.gap_shift)
        for b in net.gap_weights
    )
    effective = net.dv / 4096 - diag
    assert np.all(np.abs(effective - exact) <= 2.0**-21 + 1e-15)
    assert report.errors["decay_v"].max == pytest.approx(np.max(np.abs(effective - exact) / exact))
    assert report.errors["decay_v"].max < 1e-3 < rel.max()


TONIC = """
name: tonic
populations:
  - {name: p, cells: [A], model: lif, params: {I_bias: "0.2 nA", t_ref: "0 ms", C_m: "200 pF", g_L: "10 nS"}}
run: {dt: "0.1 ms", duration: "2 s"}
"""


def test_constant_bias_rate_matches_the_analytic_lif_rate() -> None:
    """v∞ = I/g_L = 20 mV, θ = 15 mV, τ = 20 ms: rate = 1/(τ ln(v∞/(v∞ − θ))) = 36.07 Hz.

    Without refined decays the rate is within 3 % of it (the 12-bit dv makes τ 2.4 % longer at dt = 0.1 ms;
    the bias is compensated so v∞ is exact) and within 0.5 % of the same formula with the quantized decay.
    With them (the default) it is within 0.5 % of the exact rate (the ISI is whole steps: 277 of 0.1 ms).
    """
    lowered = lower(build(parse_spec(TONIC)))
    analytic = 1 / (0.02 * math.log(20 / 5))
    for refine in (False, True):
        net, report = quantize(lowered, refine_decays=refine)
        res = run_emulator(net, lowered.steps, record=())
        spikes = res.spike_times["A"]
        rate = (len(spikes) - 1) / (spikes[-1] - spikes[0])
        assert report.errors["dc_gain"].max < 1e-3
        if refine:
            assert rate == pytest.approx(analytic, rel=0.005)
        else:
            assert rate == pytest.approx(analytic, rel=0.03)
            assert abs(rate / analytic - 1) > 0.01
            tau_q = -1e-4 / math.log(1 - net.dv[0] / 4096)
            assert rate == pytest.approx(1 / (tau_q * math.log(20 / 5)), rel=0.005)


def mixed_block_net(seed: int = 0) -> LoweredNetwork:
    rng = np.random.default_rng(seed)
    n = 40
    mask = rng.random((n, n)) < 0.3
    w = np.where(mask, rng.uniform(-1, 1, (n, n)) * 2e-4, 0.0)  # V per step, mixed signs
    return lowered_net(n, weights=sp.csr_matrix(w), bias=np.full(n, 2e-5))


def independent_weight_rms(net, report, exact: sp.csr_matrix) -> float:
    """RMS relative weight error recomputed from the blocks: what one spike delivers, in volts per step.

    Lava shifts the integer sum: one spike gives floor(W_eff · 2^exp) a_in units, then << 6 into u.
    """
    total = sp.csr_matrix(exact.shape)
    for b in net.weights:
        w = b.effective_weights().toarray().astype(np.int64)
        per_spike = w << b.weight_exp if b.weight_exp >= 0 else w >> -b.weight_exp
        total = total + sp.csr_matrix(per_spike.astype(float))
    rep = sp.diags(report.v_scale * 64) @ total
    e = exact.tocoo()
    r = np.asarray(rep.tocsr()[e.row, e.col]).ravel()
    return float(np.sqrt(np.mean(((r - e.data) / e.data) ** 2)))


def test_ours_beats_nengo_loihi_on_a_mixed_sign_block() -> None:
    lowered = mixed_block_net()
    ours, r_ours = quantize(lowered, compensate=False)
    base, r_base = quantize_nengo_loihi(lowered)
    e_ours = independent_weight_rms(ours, r_ours, lowered.weights)
    e_base = independent_weight_rms(base, r_base, lowered.weights)
    assert e_ours == pytest.approx(r_ours.errors["weights"].rms, rel=1e-9)
    assert e_base == pytest.approx(r_base.errors["weights"].rms, rel=1e-9)
    assert {b.sign_mode.name for b in ours.weights} == {"EXCITATORY", "INHIBITORY"}
    assert [b.sign_mode.name for b in base.weights] == ["MIXED"]
    assert e_ours < 0.6 * e_base, (e_ours, e_base)
    # Each sign's first 8-bit block has its largest weight in (127.5, 255]; the next holds the residuals.
    for mode in ("EXCITATORY", "INHIBITORY"):
        first = max((b for b in ours.weights if b.sign_mode.name == mode), key=lambda b: b.weight_exp)
        assert 127 <= abs(first.weights).max() <= 255


def test_unrepresentable_threshold_fails_loudly() -> None:
    lowered = lowered_net(2, v_th=np.array([0.015, 1e-9]), bias=np.array([0.0, 1e-3]))
    with pytest.raises(QuantizationError, match=r"threshold of neuron n1 .* outside \[1, 131071\]") as err:
        quantize(lowered)
    assert isinstance(err.value, WormchipError)


def float_reference(lo: LoweredNetwork, steps: int) -> np.ndarray:
    """The lowered network's own float dynamics (Loihi's update in volts), for subthreshold runs."""
    n = lo.n_neurons
    u, v = np.zeros(n), np.zeros(n)
    a_in, gap_in = np.zeros(n), np.zeros(n)
    bias = lo.bias.copy()
    changes = dict(lo.bias_schedule)
    laplacian = lo.gap - sp.diags(np.asarray(lo.gap.sum(axis=1)).ravel())
    out = np.zeros((steps, n))
    for k in range(steps):
        bias = changes.get(k, bias)
        u = u * (1 - lo.decay_u) + a_in
        v = v * (1 - lo.decay_v) + u + bias + gap_in
        spikes = v > lo.v_th
        v[spikes] = 0
        out[k] = v
        a_in = lo.weights @ spikes + (
            lo.input_weights @ lo.input_spikes[k] if k < len(lo.input_spikes) else 0
        )
        gap_in = laplacian @ v
    return out


def test_emulator_follows_the_float_network_with_gaps_and_schedule() -> None:
    """Subthreshold voltages of a gap-coupled network with a step current: fixed point ≈ float within 1 %
    of the threshold (quantization only; compensation off so both solve the same equations)."""
    rng = np.random.default_rng(3)
    n = 12
    upper = np.triu(rng.random((n, n)) < 0.3, 1)
    g = np.where(upper, rng.uniform(0.2e-3, 5e-3, (n, n)), 0.0)
    steps = 400
    spikes = rng.random((steps, 3)) < 0.05
    lo = lowered_net(
        n,
        steps=steps,
        v_th=np.full(n, 0.04),  # above the drive: no spikes, voltages comparable at every step
        bias=rng.uniform(0, 5e-5, n),
        bias_schedule=((100, rng.uniform(0, 1e-4, n)), (250, np.zeros(n))),
        gap=sp.csr_matrix(g + g.T),
        input_spikes=spikes,
        input_weights=sp.csr_matrix(rng.uniform(-3e-5, 3e-5, (n, 3))),
    )
    net, report = quantize(lo, compensate=False)
    assert net.gap_weights and net.bias_schedule
    v_fixed = run_emulator(net, steps).traces["v"].values * report.v_scale
    v_float = float_reference(lo, steps)
    assert np.abs(v_float).max() > 0.01, "the drive should move v by several mV"
    assert np.abs(v_float).max() < 0.04, "subthreshold by construction"
    assert np.abs(v_fixed - v_float).max() < 0.01 * 0.04


@pytest.mark.lava
def test_quantized_tap_withdrawal_bit_exact_in_lava() -> None:
    """The compiled library circuit (gap junctions, touch bias schedule) runs identically in Lava."""
    from wormchip.backends.lava_runner import run_lava

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = build(load_spec("tap_withdrawal"), base_dir=library_path("tap_withdrawal").parent)
    lo = lower(net)
    fixed, _ = quantize(lo)
    import dataclasses

    # Move the touch onset from 100 ms to step 150 so a short run sees it.
    start, end = (s for s, _ in lo.bias_schedule)
    moved = dataclasses.replace(
        lo, bias_schedule=((150, lo.bias_schedule[0][1]), (150 + end - start, lo.bias_schedule[1][1]))
    )
    fixed, _ = quantize(moved)
    steps = 400
    emu = run_emulator(fixed, steps)
    lava = run_lava(fixed, steps, timeout_s=120)
    for name in fixed.neuron_names:
        np.testing.assert_array_equal(emu.spike_times[name], lava.spike_times[name])
    for key in ("u", "v"):
        np.testing.assert_array_equal(emu.traces[key].values, lava.traces[key].values)
    assert sum(emu.spike_counts().values()) > 0


@pytest.mark.parametrize("layout", ["canonical", "unsorted", "duplicates"])
def test_blocks_equal_the_coo_rebuild(layout: str) -> None:
    """`_blocks` splits signs and magnitudes on the matrix's own sorted layout; the blocks equal those rebuilt
    from COO triplets per sign (the reference below), whatever the input's index order or duplicates."""
    rng = np.random.default_rng(3)
    dense = rng.normal(0, 300, (40, 50)) * (rng.random((40, 50)) < 0.3)
    w = sp.csr_matrix(dense)
    if layout != "canonical":  # reverse each row's entries; "duplicates" also splits every entry in two
        rows = [slice(w.indptr[i], w.indptr[i + 1]) for i in range(w.shape[0])]
        indices = np.concatenate([w.indices[r][::-1] for r in rows])
        data = np.concatenate([w.data[r][::-1] for r in rows])
        indptr = w.indptr
        if layout == "duplicates":
            indices, data, indptr = np.repeat(indices, 2), np.repeat(data / 2, 2), w.indptr * 2
            data[::4] *= -1.5  # some pairs of opposite signs
        w = sp.csr_matrix((data, indices, indptr), shape=w.shape)
        assert not w.has_canonical_format
    reference = []
    coo = w.tocoo()
    for sel in (coo.data > 0, coo.data < 0):
        part = sp.csr_matrix((coo.data[sel], (coo.row[sel], coo.col[sel])), shape=w.shape).tocoo()
        sign, mag = np.sign(part.data), np.abs(part.data)
        for k in range(2):
            if not (mag > 0).any():
                break
            exp = max(0, math.ceil(math.log2(mag.max() / 255)))
            q = mag / 2.0**exp
            ints = np.clip(np.round(q) if k == 1 or exp == 0 else np.floor(q), 0, 255)
            block = sp.csr_matrix((sign * ints, (part.row, part.col)), shape=w.shape)
            block.eliminate_zeros()
            reference.append((block.astype(np.int64), exp))
            mag = mag - ints * 2.0**exp
            if exp == 0:
                break
    blocks = _blocks(w, 2)
    assert len(blocks) == len(reference) >= 3
    for block, (ints, exp) in zip(blocks, reference):
        assert block.weight_exp == exp
        for attr in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(block.weights, attr), getattr(ints, attr))
