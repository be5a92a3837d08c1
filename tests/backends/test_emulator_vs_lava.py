"""The NumPy emulator is bit-exact with Lava 0.10's fixed-point LIF + Dense: u, v and spikes at every step."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from wormchip.backends.emulator import numba, run_emulator
from wormchip.mappers.fixed_point import (
    BiasChange,
    FixedPointNetwork,
    SignMode,
    WeightBlock,
    lava_dense_weights,
)
from wormchip.result import Result


def _block(
    rng: np.random.Generator, shape: tuple[int, int], density: float, lo: int, hi: int, **kw
) -> WeightBlock:
    mask = rng.random(shape) < density
    return WeightBlock(sp.csr_matrix(np.where(mask, rng.integers(lo, hi + 1, shape), 0)), **kw)


def random_net(seed: int, case: str) -> FixedPointNetwork:
    """Random recurrent networks covering the sign modes, weight exponents and weight bits."""
    rng = np.random.default_rng(seed)
    n, n_in, steps = {
        "mixed": (40, 6, 150),
        "split": (60, 8, 150),
        "coarse": (30, 4, 150),
        "bias": (25, 0, 150),
    }[case]
    if case == "mixed":
        rec = (_block(rng, (n, n), 0.2, -256, 255, weight_exp=-2),)
        inp = (_block(rng, (n, n_in), 0.5, 0, 255, weight_exp=3),)
    elif case == "split":  # excitatory and inhibitory blocks, as a compiler would emit per sign
        rec = (
            _block(rng, (n, n), 0.1, 0, 255, weight_exp=0),
            _block(rng, (n, n), 0.1, -256, 0, weight_exp=3, num_weight_bits=6),
        )
        inp = (_block(rng, (n, n_in), 0.4, -256, 255, weight_exp=0),)
    elif case == "coarse":
        rec = (_block(rng, (n, n), 0.3, -256, 255, weight_exp=3, num_weight_bits=5),)
        inp = (
            _block(rng, (n, n_in), 0.5, 0, 255, weight_exp=1),
            _block(rng, (n, n_in), 0.5, -256, 0, weight_exp=-2),
        )
    else:
        rec = (_block(rng, (n, n), 0.3, -256, 255, weight_exp=0, num_weight_bits=7),)
        inp = ()
    du = rng.integers(0, 4096, n)
    dv = rng.integers(0, 4096, n)
    du[:2], dv[:2] = (0, 4095), (0, 4095)  # the decay extremes: du = 0 still leaks, dv = 0 does not
    return FixedPointNetwork(
        neuron_names=[f"{case}{i}" for i in range(n)],
        du=du,
        dv=dv,
        vth=rng.integers(1, 400 if case == "bias" else 3000, n),
        bias_mant=rng.integers(-20, 200, n) if case == "bias" else rng.integers(-300, 600, n),
        bias_exp=rng.integers(0, 8, n) if case == "bias" else rng.integers(0, 4, n),
        weights=rec,
        input_spikes=rng.random((steps - 20, n_in)) < 0.3,  # shorter than the run: the tail is silent
        input_weights=inp,
        dt=5e-4,
    )


def raster(result: Result) -> np.ndarray:
    steps = int(round(result.duration / result.dt))
    out = np.zeros((steps, len(result.neuron_names)), dtype=bool)
    for i, steps_of in enumerate(result.spike_steps()[name] for name in result.neuron_names):
        out[steps_of, i] = True
    return out


def assert_identical(emu: Result, lava: Result) -> None:
    np.testing.assert_array_equal(raster(emu), raster(lava))
    for key in ("u", "v"):
        np.testing.assert_array_equal(emu.traces[key].values, lava.traces[key].values, err_msg=key)
        np.testing.assert_array_equal(emu.traces[key].times, lava.traces[key].times)


@pytest.mark.parametrize(("seed", "case"), [(0, "mixed"), (1, "split"), (2, "coarse"), (3, "bias")])
@pytest.mark.lava
def test_bit_exact_random_networks(seed: int, case: str) -> None:
    from wormchip.backends.lava_runner import run_lava

    net = random_net(seed, case)
    steps = 150
    emu = run_emulator(net, steps)
    lava = run_lava(net, steps, timeout_s=120)
    assert_identical(emu, lava)
    spikes = raster(emu)
    assert 0.01 < spikes.mean() < 0.9, "activity should be neither silent nor saturated"
    assert spikes.any(axis=0).sum() >= net.n_neurons // 4


def edge_net() -> FixedPointNetwork:
    """Four neurons driven to Lava's arithmetic limits.

    0: u overflows 2²³ and wraps; 1: v saturates at −(2²³ − 1); 2: v saturates at +(2²³ − 1) and spikes
    (the largest effective threshold, 131071 << 6, is below the clip); 3: `a_in << 6` overflows int32.
    """
    n_in = 1100
    w = np.zeros((4, n_in), dtype=np.int64)
    w[0, :8] = 254
    w[1, 8:10] = -254
    w[2, 10:12] = 254
    w[3, :] = 254
    spikes = np.zeros((40, n_in), dtype=bool)
    spikes[:20] = True
    return FixedPointNetwork(
        neuron_names=["wrap_u", "clip_v_neg", "clip_v_pos", "wrap_int32"],
        du=[0, 4095, 4095, 0],
        dv=[0, 0, 0, 100],
        vth=[131071, 131071, 131071, 131071],
        bias_mant=0,
        bias_exp=0,
        input_spikes=spikes,
        input_weights=(WeightBlock(w, weight_exp=7),),
    )


def test_edge_cases_hit_the_limits() -> None:
    res = run_emulator(edge_net(), 60)
    u, v = res.traces["u"].values.astype(np.int64), res.traces["v"].values.astype(np.int64)
    assert (u[:20, 0] < 0).any(), "u of wrap_u should wrap negative under positive drive"
    assert v[:, 1].min() == -(2**23 - 1)
    assert res.spike_counts()["clip_v_pos"] > 0
    assert u[:, 3].min() < -(2**23), "int32 wrap of a_in << 6 takes u outside 24 bits (as Lava does)"


@pytest.mark.lava
def test_edge_cases_bit_exact() -> None:
    from wormchip.backends.lava_runner import run_lava

    net = edge_net()
    assert_identical(run_emulator(net, 60), run_lava(net, 60, timeout_s=120))


@pytest.mark.lava
def test_weight_preprocessing_matches_lava() -> None:
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(7)
    for lo, hi in ((-256, 255), (0, 255), (-256, 0)):
        for bits in (8, 6, 3):
            w = np.where(rng.random((20, 30)) < 0.3, rng.integers(lo, hi + 1, (20, 30)), 0)
            mode = determine_sign_mode(w)
            expected = truncate_weights(clip_weights(w, mode, num_bits=8), mode, bits)
            np.testing.assert_array_equal(lava_dense_weights(sp.csr_matrix(w), bits).toarray(), expected)
            assert WeightBlock(w, num_weight_bits=bits).sign_mode.value == mode.value


def test_default_mixed_weights_become_even() -> None:
    block = WeightBlock(np.array([[3, -3, 255, -256]]))
    assert block.sign_mode is SignMode.MIXED
    assert block.effective_weights().toarray().tolist() == [[2, -4, 254, -256]]
    assert WeightBlock(np.array([[-3, -255, -256]])).effective_weights().toarray().tolist() == [
        [-3, -255, -255]
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("du", 4096, r"du\[0\] = 4096 is outside \[0, 4095\]"),
        ("vth", -1, r"vth\[0\] = -1 is outside"),
        ("bias_mant", 5000, r"bias_mant\[0\] = 5000"),
        ("bias_exp", 8, r"bias_exp\[0\] = 8"),
        ("dv", 1.5, r"dv must be integers"),
    ],
)
def test_validation_names_field_and_value(field: str, value: float, message: str) -> None:
    params = dict(neuron_names=["a", "b"], du=0, dv=0, vth=10, bias_mant=0, bias_exp=0)
    params[field] = value
    with pytest.raises(ValueError, match=message):
        FixedPointNetwork(**params)


def test_block_validation() -> None:
    with pytest.raises(ValueError, match=r"weights.data\[0\] = 300 is outside \[-256, 255\]"):
        WeightBlock(np.array([[300]]))
    with pytest.raises(ValueError, match=r"weight_exp = 9"):
        WeightBlock(np.array([[1]]), weight_exp=9)
    with pytest.raises(ValueError, match=r"weights\[0\] has shape \(1, 1\), expected \(2, 2\)"):
        FixedPointNetwork(["a", "b"], 0, 0, 1, 0, 0, weights=(WeightBlock(np.array([[1]])),))
    with pytest.raises(ValueError, match="'a' appears more than once"):
        FixedPointNetwork(["a", "a"], 0, 0, 1, 0, 0)


def scheduled_net(seed: int = 4) -> FixedPointNetwork:
    """A split-sign network whose bias changes three times (a current step, a pulse, its end)."""
    base = random_net(seed, "split")
    rng = np.random.default_rng(seed)
    n = base.n_neurons
    changes = tuple(
        BiasChange(step, rng.integers(-400, 900, n), rng.integers(0, 4, n)) for step in (17, 60, 61, 130)
    )
    return dataclasses.replace(
        base,
        bias_schedule=changes,
    )


def test_bias_schedule_changes_the_bias_at_its_steps() -> None:
    """With no synapses and u = 0, v follows decay(v) + bias exactly; the bias switches at the given steps."""
    net = FixedPointNetwork(
        ["a"], du=0, dv=0, vth=131071, bias_mant=10, bias_exp=0,
        bias_schedule=(BiasChange(3, [-5], [1]), BiasChange(5, [7], [0])),
    )  # fmt: skip
    v = run_emulator(net, 7).traces["v"].values[:, 0]
    assert v.tolist() == [10, 20, 30, 20, 10, 17, 24]


@pytest.mark.lava
def test_bias_schedule_bit_exact() -> None:
    from wormchip.backends.lava_runner import run_lava

    net = scheduled_net()
    emu = run_emulator(net, 150)
    assert_identical(emu, run_lava(net, 150, timeout_s=120))
    static = run_emulator(random_net(4, "split"), 150)
    assert not np.array_equal(raster(emu), raster(static)), "the schedule should change the activity"


def gap_net(seed: int = 5) -> FixedPointNetwork:
    """Random recurrent network with gap junctions: off-diagonal g_ij ≥ 0 and diagonal −Σg in two blocks."""
    base = random_net(seed, "split")
    rng = np.random.default_rng(seed)
    n = base.n_neurons
    upper = np.triu(rng.random((n, n)) < 0.08, 1)
    g = np.zeros((n, n), dtype=np.int64)
    g[upper] = rng.integers(1, 256, upper.sum())
    g = g + np.triu(g, 1).T  # symmetric
    diag = np.clip(-g.sum(axis=1) // 4, -256, 0)
    return dataclasses.replace(
        base,
        gap_weights=(WeightBlock(g, weight_exp=-3), WeightBlock(np.diag(diag), weight_exp=-1)),
        gap_shift=6,
    )


def test_gap_junctions_pull_voltages_together() -> None:
    """Two silent neurons, one biased: the gap current (g·(v_j − v_i) >> shifts) raises the other one."""
    g = np.array([[-128, 128], [128, -128]])
    net = FixedPointNetwork(
        ["a", "b"], du=0, dv=[100, 100], vth=131071, bias_mant=[1000, 0], bias_exp=6,
        gap_weights=(WeightBlock(g, weight_exp=-7),), gap_shift=3,
    )  # fmt: skip
    v = run_emulator(net, 40).traces["v"].values.astype(np.int64)
    assert v[0, 1] == 0, "the gap current arrives one step after the voltage"
    for k in range(1, 40):  # step k's gap input comes from step k − 1's voltages
        msg = v[k - 1] >> 3
        gap = (128 * msg[0] - 128 * msg[1]) >> 7
        assert v[k, 1] == (v[k - 1, 1] * (4096 - 100) >> 12) + gap
    assert 0 < v[-1, 1] < v[-1, 0]


@pytest.mark.lava
def test_gap_junctions_bit_exact() -> None:
    from wormchip.backends.lava_runner import run_lava

    net = gap_net()
    emu = run_emulator(net, 150)
    assert_identical(emu, run_lava(net, 150, timeout_s=120))
    no_gap = run_emulator(random_net(5, "split"), 150)
    assert not np.array_equal(emu.traces["v"].values, no_gap.traces["v"].values)


def refractory_net(base: FixedPointNetwork, seed: int = 6) -> FixedPointNetwork:
    """`base` with GapLIF's refractory delays (0 … 8 steps) and resets to v_reset ≠ 0 (both signs)."""
    rng = np.random.default_rng(seed)
    n = base.n_neurons
    return dataclasses.replace(
        base, refractory=rng.integers(0, 9, n), v_reset=rng.integers(-3000, 3000, n) * 64
    )


def test_refractory_period_and_reset_follow_the_rule() -> None:
    """After a spike at step k, v = v_reset at steps k … k + R − 1 with no spike, then integrates again; u
    keeps integrating. Checked against the update rule written out here, step by step."""
    net = FixedPointNetwork(
        ["a", "b"], du=[300, 300], dv=[200, 200], vth=[400, 400], bias_mant=[2000, 1500], bias_exp=4,
        refractory=[5, 0], v_reset=[-6400, 3200],
    )  # fmt: skip
    res = run_emulator(net, 120)
    v = res.traces["v"].values.astype(np.int64)
    fired = raster(res)
    bias = np.array([2000, 1500]) << 4
    expected = np.zeros(2, dtype=np.int64)
    count = np.zeros(2, dtype=np.int64)
    for k in range(120):
        decayed = np.sign(expected * 3896) * (np.abs(expected * 3896) >> 12)
        nxt = decayed + bias  # u stays 0: no synaptic input
        held = count > 0
        nxt[held] = net.v_reset[held]
        count[held] -= 1
        spike = (nxt > 400 << 6) & ~held
        nxt[spike] = net.v_reset[spike]
        count[spike] = np.maximum(net.refractory[spike] - 1, 0)
        np.testing.assert_array_equal(fired[k], spike, err_msg=f"step {k}")
        np.testing.assert_array_equal(v[k], nxt, err_msg=f"step {k}")
        expected = nxt
    isi_a = np.diff(np.flatnonzero(fired[:, 0]))
    assert fired[:, 0].sum() >= 4 and fired[:, 1].sum() >= 4
    assert isi_a.min() >= 5, "no spike inside the refractory delay"


def delayed_net(seed: int = 10) -> FixedPointNetwork:
    """`random_net(.., "split")` with its blocks delayed by 0 and 5 steps plus a mixed block at exponent −2
    delayed by 63 steps (the 6-bit maximum) and one at exponent 1 delayed by 1."""
    base = random_net(seed, "split")
    rng = np.random.default_rng(seed)
    n = base.n_neurons
    return dataclasses.replace(
        base,
        weights=(
            base.weights[0],
            dataclasses.replace(base.weights[1], delay=5),
            _block(rng, (n, n), 0.1, -256, 255, weight_exp=-2, delay=63),
            _block(rng, (n, n), 0.05, -256, 255, weight_exp=1, delay=1),
        ),
    )


def test_delay_postpones_arrival_by_its_steps() -> None:
    """A spike at step k reaches u at step k + 1 + delay; nothing arrives earlier."""
    for delay in (0, 1, 4, 63):
        net = FixedPointNetwork(
            ["pre", "post"], du=[0, 4095], dv=[0, 4095], vth=[10, 131071], bias_mant=[1000, 0], bias_exp=0,
            weights=(WeightBlock(np.array([[0, 0], [100, 0]]), delay=delay),),
        )  # fmt: skip
        res = run_emulator(net, 80)
        first_spike = int(np.flatnonzero(raster(res)[:, 0])[0])
        u_post = res.traces["u"].values[:, 1]
        arrival = first_spike + 1 + delay
        if arrival < 80:
            assert int(np.flatnonzero(u_post)[0]) == arrival
            assert u_post[arrival] == 100 << 6
        else:
            assert not u_post.any()


def test_delay_validation() -> None:
    with pytest.raises(ValueError, match=r"delay = 64 steps is outside \[0, 63\]"):
        WeightBlock(np.array([[1]]), delay=64)
    with pytest.raises(ValueError, match="only recurrent weight blocks carry delays"):
        FixedPointNetwork(
            ["a"], 0, 0, 1, 0, 0, input_spikes=np.zeros((3, 1), bool),
            input_weights=(WeightBlock(np.array([[1]]), delay=2),),
        )  # fmt: skip


@pytest.mark.lava
def test_delays_bit_exact() -> None:
    """Lava's DelayDense (6-bit delays, each delay's sum shifted on its own) == the emulator's ring buffer."""
    from wormchip.backends.lava_runner import run_lava

    net = delayed_net()
    emu = run_emulator(net, 150)
    assert_identical(emu, run_lava(net, 150, timeout_s=120))
    undelayed = dataclasses.replace(net, weights=tuple(dataclasses.replace(b, delay=0) for b in net.weights))
    assert not np.array_equal(raster(emu), raster(run_emulator(undelayed, 150)))


@pytest.mark.skipif(numba is None, reason="numba not installed")
@pytest.mark.parametrize(
    "make", [edge_net, scheduled_net, gap_net, lambda: refractory_net(gap_net()), delayed_net]
)
def test_numba_and_numpy_engines_agree(make) -> None:
    net = make()
    a, b = run_emulator(net, 200, engine="numpy"), run_emulator(net, 200, engine="numba")
    assert_identical(a, b)
    assert a.metadata["engine"] == "numpy" and b.metadata["engine"] == "numba"


@pytest.mark.lava
def test_refractory_and_reset_bit_exact() -> None:
    """GapLIF's refractory delay and v_reset, with gap junctions and without (GapLIF with idle gap ports)."""
    from wormchip.backends.lava_runner import run_lava

    for net in (refractory_net(gap_net()), refractory_net(random_net(1, "split"), seed=7)):
        emu = run_emulator(net, 150)
        assert_identical(emu, run_lava(net, 150, timeout_s=120))
        assert not np.array_equal(
            raster(emu), raster(run_emulator(dataclasses.replace(net, refractory=0), 150))
        )


def multi_core_net(core_of: np.ndarray, seed: int = 8) -> FixedPointNetwork:
    """`gap_net` with `scheduled_net`'s bias changes, refractory delays and two mixed blocks added: exponent 0
    with some −256 and only non-positive weights from core 0 (so a split has inhibitory sub-blocks of a mixed
    block, where a derived sign mode would clip −256 to −255), and exponent −2 (relays)."""
    base = gap_net()
    rng = np.random.default_rng(seed)
    n = base.n_neurons
    w = np.where(rng.random((n, n)) < 0.1, rng.integers(-256, 256, (n, n)), 0)
    w[rng.random((n, n)) < 0.03] = -256
    w[:, core_of == 0] = -np.abs(w[:, core_of == 0])
    w2 = np.where(rng.random((n, n)) < 0.1, rng.integers(-256, 256, (n, n)), 0)
    w3 = np.where(rng.random((n, n)) < 0.05, rng.integers(-256, 256, (n, n)), 0)
    return dataclasses.replace(
        base,
        weights=(
            *base.weights,
            WeightBlock(w),
            WeightBlock(w2, weight_exp=-2),
            WeightBlock(w3, weight_exp=-3, delay=4),
        ),
        bias_schedule=scheduled_net().bias_schedule,
        refractory=rng.integers(0, 4, n),
    )


@pytest.mark.lava
def test_multi_core_split_bit_exact() -> None:
    """One LIF per core, one Dense per (block, core pair), relays for negative exponents: still bit-exact."""
    from wormchip.backends.lava_runner import run_lava
    from wormchip.mappers.emit import emit

    core_of = np.random.default_rng(9).integers(0, 3, 60)
    net = multi_core_net(core_of)
    plan = emit(net, core_of)
    assert len(plan.cores) == 3 and {kind for kind, _, _ in plan.relays()} == {"recurrent", "gap"}
    assert any(
        s.sign_mode is SignMode.MIXED and s.weights.data.max() <= 0 and s.weights.data.min() == -256
        for s in plan.sub_blocks
    ), "an inhibitory sub-block of a mixed block, holding −256"
    emu = run_emulator(net, 150)
    lava = run_lava(net, 150, timeout_s=120, core_of=core_of)
    assert_identical(emu, lava)
    spikes = raster(emu)
    assert 0.01 < spikes.mean() < 0.9


@pytest.mark.skipif(numba is None, reason="numba not installed")
def test_numba_engine_in_chunks_agrees_and_its_memory_does_not_grow_with_steps(monkeypatch) -> None:
    """The numba loop runs in chunks of CHUNK_STEPS (input drive and raster one chunk at a time): across chunk
    boundaries it equals the NumPy loop, and without recording its peak memory does not grow with the run."""
    import tracemalloc

    from wormchip.backends import emulator
    from wormchip.pipeline import build_circuit, quantized

    monkeypatch.setattr(emulator, "CHUNK_STEPS", 97)  # many boundaries, inside delays and bias changes
    for make in (scheduled_net, delayed_net):
        net = make()
        assert_identical(run_emulator(net, 500, engine="numpy"), run_emulator(net, 500, engine="numba"))
    monkeypatch.undo()
    fixed = quantized(
        build_circuit("touch_response", duration="0.1 s")
    ).fixed  # inputs: a touch (bias) schedule

    def peak(steps: int) -> int:
        tracemalloc.start()
        run_emulator(fixed, steps, record=())
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    peak(100)
    short, long = peak(10_000), peak(160_000)
    assert long - short < 2_000_000  # a full raster and drive would add 150k × 16 × 5 B = 12 MB
