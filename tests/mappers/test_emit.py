"""The emit pass: a `FixedPointNetwork` on cores → `LavaPlan` (one LIF per core, one Dense per core pair)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from wormchip.mappers.emit import INPUT_CORE, KINDS, LavaPlan, blocks_of, emit, truncate
from wormchip.mappers.fixed_point import (
    BiasChange,
    FixedPointNetwork,
    SignMode,
    WeightBlock,
    lava_dense_weights,
    sign_mode_of,
)


def _block(
    rng: np.random.Generator, shape: tuple[int, int], density: float, lo: int, hi: int, **kw
) -> WeightBlock:
    mask = rng.random(shape) < density
    return WeightBlock(sp.csr_matrix(np.where(mask, rng.integers(lo, hi + 1, shape), 0)), **kw)


def net_with_every_block(seed: int = 0, n: int = 30, n_in: int = 4) -> FixedPointNetwork:
    """Mixed (with −256s), excitatory, inhibitory, coarse recurrent blocks; gap, graded and input blocks; a
    schedule."""
    rng = np.random.default_rng(seed)
    mixed = _block(rng, (n, n), 0.3, -256, 255, weight_exp=-2)
    w = mixed.weights.toarray()
    w[rng.random((n, n)) < 0.05] = -256
    g = np.triu(np.where(rng.random((n, n)) < 0.1, rng.integers(1, 256, (n, n)), 0), 1)
    g = g + g.T
    return FixedPointNetwork(
        neuron_names=[f"n{i}" for i in range(n)],
        du=rng.integers(0, 4096, n),
        dv=rng.integers(0, 4096, n),
        vth=rng.integers(1, 3000, n),
        bias_mant=rng.integers(-300, 600, n),
        bias_exp=rng.integers(0, 4, n),
        weights=(
            WeightBlock(w, weight_exp=-2),
            _block(rng, (n, n), 0.1, 0, 255, weight_exp=1),
            _block(rng, (n, n), 0.1, -256, 0, weight_exp=-1, num_weight_bits=6),
            _block(rng, (n, n), 0.2, -256, 255, weight_exp=0, num_weight_bits=5),
        ),
        input_spikes=rng.random((50, n_in)) < 0.3,
        input_weights=(_block(rng, (n, n_in), 0.5, -256, 255, weight_exp=2),),
        gap_weights=(WeightBlock(g, weight_exp=-3), WeightBlock(np.diag(np.clip(-g.sum(1) // 4, -256, 0)))),
        gap_shift=6,
        graded_weights=(_block(rng, (n, n), 0.15, 0, 255, weight_exp=-4), _block(rng, (n, n), 0.1, -256, 0)),
        graded_mu=rng.integers(-5000, 5000, n),
        graded_slope_mant=rng.integers(1, 2**16, n),
        graded_slope_shift=rng.integers(10, 20, n),
        bias_schedule=(BiasChange(10, rng.integers(-300, 600, n), rng.integers(0, 4, n)),),
        refractory=rng.integers(0, 5, n),
    )


def reassemble(plan: LavaPlan, kind: str, b: int, shape: tuple[int, int]) -> np.ndarray:
    """Block `b` of `kind` put back together from its sub-blocks (each position written at most once)."""
    out = np.zeros(shape, dtype=np.int64)
    written = np.zeros(shape, dtype=int)
    neurons = {c.core: c.neurons for c in plan.cores}
    for sub in plan.sub_blocks:
        if (sub.kind, sub.block) != (kind, b):
            continue
        cols = np.arange(shape[1]) if sub.src_core == INPUT_CORE else neurons[sub.src_core]
        out[np.ix_(neurons[sub.dst_core], cols)] += sub.weights.toarray()
        written[np.ix_(neurons[sub.dst_core], cols)] += 1
    assert written.max(initial=0) <= 1, "a weight position lies in two sub-blocks"
    return out


@pytest.mark.parametrize("n_cores", [1, 3, 7])
def test_every_effective_weight_lies_in_exactly_one_sub_block(n_cores: int) -> None:
    net = net_with_every_block()
    core_of = np.random.default_rng(n_cores).integers(0, n_cores, net.n_neurons) * 2  # non-contiguous ids
    plan = emit(net, core_of)
    for kind in KINDS:
        for b, block in enumerate(blocks_of(net, kind)):
            eff = block.effective_weights().toarray()
            np.testing.assert_array_equal(reassemble(plan, kind, b, block.shape), eff, err_msg=f"{kind}[{b}]")
            subs = [s for s in plan.sub_blocks if (s.kind, s.block) == (kind, b)]
            assert sum(s.weights.nnz for s in subs) == np.count_nonzero(eff)
            assert all(s.weights.nnz > 0 for s in subs), "all-zero sub-blocks are not emitted"
            assert len({(s.src_core, s.dst_core) for s in subs}) == len(subs)
            assert all(
                (s.weight_exp, s.num_weight_bits, s.sign_mode)
                == (block.weight_exp, block.num_weight_bits, block.sign_mode)
                for s in subs
            )


def test_sub_block_truncation_is_a_no_op() -> None:
    """Lava re-clips and re-truncates every Dense with the sign mode it is given: the block's, so nothing moves."""
    plan = emit(net_with_every_block(), np.random.default_rng(1).integers(0, 4, 30))
    for sub in plan.sub_blocks:
        again = truncate(sub.weights, sub.sign_mode, sub.num_weight_bits)
        assert (again != sub.weights).nnz == 0, (sub.kind, sub.block, sub.src_core, sub.dst_core)
    # Mixed effective weights at 8 bits are even, so they stay even in any sub-block.
    mixed = [s for s in plan.sub_blocks if s.sign_mode is SignMode.MIXED and s.num_weight_bits == 8]
    assert mixed and all(np.all(s.weights.data % 2 == 0) for s in mixed)


def test_derived_sign_mode_would_break_a_split_mixed_block() -> None:
    """Why the plan passes the block's sign mode: an all-negative sub-block of a mixed block holding −256
    would be clipped to −255 if Lava derived its (inhibitory) sign mode from the sub-block alone."""
    block = WeightBlock(np.array([[-256, 0], [0, 100]]))
    plan = emit(FixedPointNetwork(["a", "b"], 0, 0, 1, 0, 0, weights=(block,)), np.array([0, 1]))
    (sub,) = [s for s in plan.sub_blocks if s.dst_core == 0]
    assert sign_mode_of(sub.weights) is SignMode.INHIBITORY and sub.sign_mode is SignMode.MIXED
    assert lava_dense_weights(sub.weights).toarray().tolist() == [[-255]]
    assert truncate(sub.weights, sub.sign_mode, 8).toarray().tolist() == [[-256]]


def test_truncate_matches_lava_dense_weights_with_the_derived_mode() -> None:
    rng = np.random.default_rng(3)
    for lo, hi in ((-256, 255), (0, 255), (-256, 0)):
        for bits in (8, 5, 1):
            w = sp.csr_matrix(np.where(rng.random((15, 20)) < 0.3, rng.integers(lo, hi + 1, (15, 20)), 0))
            expected = lava_dense_weights(w, bits)
            assert (truncate(w, sign_mode_of(w), bits) != expected).nnz == 0


def test_relays_only_where_a_negative_exponent_merges_several_cores() -> None:
    net = net_with_every_block()
    plan = emit(net, np.random.default_rng(2).integers(0, 3, net.n_neurons))
    relays = plan.relays()
    for sub in plan.sub_blocks:
        fan_in = sum(
            1 for s in plan.sub_blocks if (s.kind, s.block, s.dst_core) == (sub.kind, sub.block, sub.dst_core)
        )
        assert sub.relay == (sub.weight_exp < 0 and fan_in > 1)
        assert sub.dense_weight_exp == (0 if sub.relay else sub.weight_exp)
        if sub.relay:
            assert relays[sub.kind, sub.block, sub.dst_core] == -sub.weight_exp
    assert relays, "the test network should need relays"
    assert plan.n_processes == len(plan.cores) + len(plan.sub_blocks) + len(relays)


def test_one_core_is_todays_graph() -> None:
    net = net_with_every_block()
    plan = emit(net)
    assert len(plan.cores) == 1 and plan.cores[0].neurons.tolist() == list(range(net.n_neurons))
    assert not plan.relays() and plan.gap_lif
    assert [(s.kind, s.block) for s in plan.sub_blocks] == [
        (kind, b) for kind in KINDS for b in range(len(blocks_of(net, kind)))
    ]


def test_core_parameter_slices() -> None:
    net = net_with_every_block()
    core_of = np.random.default_rng(4).integers(0, 3, net.n_neurons)
    plan = emit(net, core_of)
    assert [c.core for c in plan.cores] == [0, 1, 2]
    assert sorted(np.concatenate([c.neurons for c in plan.cores]).tolist()) == list(range(net.n_neurons))
    for core in plan.cores:
        idx = core.neurons
        assert np.all(np.diff(idx) > 0) and np.all(core_of[idx] == core.core)
        for name in ("du", "dv", "vth", "bias_mant", "bias_exp", "refractory", "v_reset"):
            np.testing.assert_array_equal(getattr(core, name), getattr(net, name)[idx], err_msg=name)
        (change,) = core.bias_schedule
        assert change.step == 10
        np.testing.assert_array_equal(change.bias_mant, net.bias_schedule[0].bias_mant[idx])


def test_core_of_is_validated() -> None:
    net = net_with_every_block()
    with pytest.raises(ValueError, match="core_of must be 30 integers"):
        emit(net, np.zeros(29, dtype=int))
    with pytest.raises(ValueError, match="negative core"):
        emit(net, -np.ones(30, dtype=int))
