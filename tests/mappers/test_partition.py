"""Partition pass: usage and traffic against hand computations, known-answer METIS, repair, ResourceError."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp

from wormchip.errors import ResourceError, WormchipError
from wormchip.mappers.fixed_point import FixedPointNetwork, WeightBlock
from wormchip.mappers.hardware import loihi1
from wormchip.mappers.partition import (
    _axons_from_rows,
    _ContiguousSplits,
    _Dissolver,
    _merge_cores,
    _repair,
    axon_matrix,
    core_usage,
    graph_from_fixed_point,
    inter_core_traffic,
    legacy_lower_bound,
    min_source_bits,
    partition,
    resource_lower_bound,
    synapse_graph,
    synapse_memory_bits,
)


def small(**kw):
    return loihi1.model_copy(update=kw)


def edges(n: int, pairs: list[tuple[int, int]]) -> sp.csr_matrix:
    """Post × pre synapse counts from (pre, post) pairs; repeated pairs count twice."""
    pre, post = np.array(pairs).T
    return sp.csr_matrix((np.ones(len(pairs), np.int32), (post, pre)), shape=(n, n))


HAND = edges(4, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 2), (2, 3), (3, 0)])
HAND_CORES = np.array([0, 0, 1, 2])


def test_traffic_counts_each_destination_core_once():
    # neuron 0 (core 0) reaches cores {0, 1, 2}: 2 remote; 1 → {1}: 1; 2 → {2}: 1; 3 → {0}: 1
    assert inter_core_traffic(HAND, HAND_CORES) == 5.0
    assert inter_core_traffic(HAND, HAND_CORES, rates=np.array([1.0, 2.0, 3.0, 4.0])) == 2 + 2 + 3 + 4


def test_core_usage_by_hand():
    u = core_usage(HAND, HAND_CORES, 3, loihi1)
    assert u.neurons.tolist() == [2, 1, 1]
    assert u.synapses.tolist() == [2, 3, 2]
    assert u.input_axons.tolist() == [2, 2, 2]  # core 0: from 3 and 0; core 1: 0, 1; core 2: 0, 2
    assert u.output_axons.tolist() == [4, 1, 1]  # neuron 0 → 3 cores, neuron 1 → 1
    # core 1: axon of 0 with 1 synapse (28 bits → 64) + axon of 1 with 2 synapses (46 → 64)
    assert u.memory_bits.tolist() == [128, 128, 128]


def test_graph_from_fixed_point_sums_block_nonzeros():
    w1 = np.array([[0, 3, 0], [0, 0, -2], [0, 0, 0]])
    w2 = np.array([[0, 1, 0], [0, 0, 0], [4, 0, 0]])
    net = FixedPointNetwork(
        ("a", "b", "c"),
        du=0,
        dv=0,
        vth=10,
        bias_mant=0,
        bias_exp=0,
        weights=(WeightBlock(w1), WeightBlock(w2)),
    )
    assert graph_from_fixed_point(net).toarray().tolist() == [[0, 2, 0], [0, 0, 1], [1, 0, 0]]
    assert synapse_graph(np.array([[0.5, 0], [-1, 0]])).toarray().tolist() == [[1, 0], [1, 0]]


def planted(n_mod: int = 8, size: int = 16) -> tuple[sp.csr_matrix, np.ndarray]:
    """All-to-all modules, no edges between them; neuron i in module i % n_mod (interleaved indices)."""
    mod = np.arange(n_mod * size) % n_mod
    same = mod[:, None] == mod[None, :]
    np.fill_diagonal(same, False)
    return sp.csr_matrix(same.astype(np.int32)), mod


def test_metis_finds_zero_traffic_on_planted_modules():
    g, mod = planted()
    profile = small(neurons_per_core=16)
    p = partition(g, profile, method="metis")
    assert p.lower_bound == 8 and p.n_cores == 8
    assert p.traffic == 0.0
    assert all(np.unique(mod[p.core_of == c]).size == 1 for c in range(8))  # one module per core
    base = partition(g, profile, method="contiguous")
    assert base.n_cores == 8 and base.traffic == 128 * 7  # every neuron reaches the 7 other cores


def check_fits(p, g, profile, external=None):
    u = core_usage(g, p.core_of, p.n_cores, profile, external)  # recomputed independently
    assert (u.neurons <= profile.neurons_per_core).all()
    assert (u.memory_bits <= profile.synaptic_memory_bits_per_core).all()
    assert (u.input_axons <= profile.input_axons_per_core).all()
    assert (u.output_axons <= profile.output_axons_per_core).all()
    assert p.n_cores >= p.lower_bound
    assert np.array_equal(np.unique(p.core_of), np.arange(p.n_cores))


def hub_ring_graph():
    """200 neurons: hub 0 → everyone, a local ring (±1..3), 300 random long-range synapses; tight 16-neuron cores."""
    rng = np.random.default_rng(1)
    n = 200
    pairs = [(0, j) for j in range(1, n)]  # hub 0 → everyone
    pairs += [(i, (i + d) % n) for i in range(n) for d in (1, 2, 3)]  # local ring
    pairs += [(int(a), int(b)) for a, b in rng.integers(0, n, (300, 2)) if a != b]  # random long-range
    g = edges(n, pairs)
    g.data[:] = 1
    profile = small(
        neurons_per_core=16,
        input_axons_per_core=40,
        output_axons_per_core=40,
        synaptic_memory_bits_per_core=64 * 120,
    )
    return g, profile


def test_hub_with_huge_fan_out_fits_after_repair():
    g, profile = hub_ring_graph()
    p = partition(g, profile, method="metis")
    check_fits(p, g, profile)
    hub_core = p.core_of[0]
    assert p.usage.output_axons[hub_core] >= np.unique(p.core_of[1:]).size  # the hub reaches every core
    with pytest.raises(ResourceError):  # equal contiguous splits make the hub's core overflow at every k
        partition(g, profile, method="contiguous")


def test_heavy_tailed_random_graph_with_external_inputs_fits():
    rng = np.random.default_rng(2)
    n = 400
    deg = np.minimum(rng.pareto(1.5, n).astype(int) + 2, 60)
    pre = np.repeat(np.arange(n), deg)
    post = (pre + rng.integers(-20, 21, pre.size)) % n
    g = sp.csr_matrix((np.ones(pre.size, np.int32), (post, pre)), shape=(n, n))
    ext = sp.csr_matrix((np.ones(n, np.int32), (np.arange(n), np.arange(n) % 5)), shape=(n, 5))
    profile = small(
        neurons_per_core=32,
        input_axons_per_core=48,
        output_axons_per_core=64,
        synaptic_memory_bits_per_core=64 * 80,
    )
    p = partition(g, profile, external=ext, seed=3)
    check_fits(p, g, profile, ext)
    check_fits(partition(g, profile, external=ext, method="contiguous"), g, profile, ext)


def test_fan_in_beyond_limit_raises_resource_error():
    n = 12
    g = edges(n, [(j, 5) for j in range(n) if j != 5])  # neuron 5 hears 11 distinct neurons
    with pytest.raises(ResourceError) as exc:
        partition(g, small(input_axons_per_core=8))
    err = exc.value
    assert isinstance(err, WormchipError)
    assert err.limit == "input_axons" and err.value == 11 and err.neurons == [5]
    assert "neuron 5 needs 11" in str(err) and "input_axons per core is 8" in str(err)
    with pytest.raises(ResourceError, match="memory_bits"):
        partition(g, small(synaptic_memory_bits_per_core=64 * 10))


def test_lower_bound_by_hand():
    g, _ = planted(4, 8)  # 32 neurons, each a source of 7 synapses: 7·18 + 10 = 136 bits → 192 bits
    assert resource_lower_bound(g, small(neurons_per_core=10)) == 4  # ceil(32 / 10)
    assert resource_lower_bound(g, small(synaptic_memory_bits_per_core=192 * 5)) == 7  # ceil(32 / 5)
    assert resource_lower_bound(g, small(input_axons_per_core=3)) == 11  # 32 sources / 3


def test_rejects_weights_as_counts():
    with pytest.raises(ValueError, match="synapse_graph"):
        partition(sp.csr_matrix(np.array([[0, -1.5], [0, 0]])), loihi1)


def shuffled_modules(n_mod: int, size: int, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """All-to-all modules with shuffled indices, and module i → i + 1 fully (a ring of modules)."""
    perm = np.random.default_rng(seed).permutation(n_mod * size)
    mod = np.arange(n_mod * size) // size
    adj = (mod[:, None] == mod[None, :]) | (mod[:, None] == (mod[None, :] + 1) % n_mod)
    np.fill_diagonal(adj, False)
    return sp.csr_matrix(adj[np.ix_(perm, perm)].astype(np.int32)), mod[perm]


def test_cores_within_five_percent_of_bound_on_planted_modules():
    # 24 modules of 12 neurons, 48 neurons per core: the bound is 288 / 48 = 6 and 4 whole modules fit a core
    g, mod = shuffled_modules(24, 12)
    profile = small(neurons_per_core=48)
    p = partition(g, profile, method="metis")
    check_fits(p, g, profile)
    assert p.lower_bound == 6 and p.n_cores <= 1.05 * p.lower_bound  # so exactly 6
    assert all(np.unique(mod[p.core_of == c]).size == 4 for c in range(6))  # no module is split
    # each core's 4 modules form a run of the ring, so only its last module's 12 neurons send out: 6 × 12
    assert p.traffic == 72


def test_merge_usage_is_exact_against_core_usage():
    g, _ = shuffled_modules(24, 12)
    profile = small(neurons_per_core=48)
    ext = sp.csr_matrix((np.ones(288, np.int32), (np.arange(288), np.arange(288) % 3)), shape=(288, 3))
    core_of = np.arange(288) % 40  # 40 scattered cores of 7–8 neurons: merges must pack them
    merged, tracked, axons = _merge_cores(g, ext, core_of, profile, np.ones(288))
    n_cores = int(merged.max()) + 1
    assert n_cores < 40
    exact = core_usage(g, merged, n_cores, profile, ext)
    for field in ("neurons", "synapses", "memory_bits", "input_axons"):
        assert np.array_equal(getattr(tracked, field), getattr(exact, field)), field
    assert (tracked.output_axons >= exact.output_axons).all()  # other cores' counts are upper bounds
    assert (exact.load(profile) <= 1).all()
    assert np.array_equal(np.unique(merged), np.arange(n_cores))
    assert (axons != axon_matrix(g, merged, n_cores)).nnz == 0  # built from the merged rows


def test_two_cores_merge_by_hand():
    # HAND on cores [0, 0, 1, 2]; merging 1 and 2: sources 0 (2 synapses: 46 bits → 64), 1 (2 → 64), 2 (1 → 64)
    merged, tracked, _ = _merge_cores(HAND, None, HAND_CORES, small(neurons_per_core=2), np.ones(4))
    assert merged.tolist() == [0, 0, 1, 1]
    assert tracked.memory_bits.tolist() == [128, 192] and tracked.input_axons.tolist() == [2, 3]
    # core {2, 3}: neuron 2 → {1}, neuron 3 → {0}; neuron 0 → {0, 1}: 2 and 2 output axons
    assert core_usage(HAND, merged, 2, loihi1).output_axons.tolist() == [3, 2]
    assert tracked.output_axons.tolist()[1] == 2


def test_fast_contiguous_usage_matches_core_usage():
    rng = np.random.default_rng(4)
    n = 300
    g = sp.random(n, n, density=0.05, random_state=5, data_rvs=lambda k: rng.integers(1, 4, k)).tocsr()
    g = g.astype(np.int32)
    ext = sp.random(n, 7, density=0.2, random_state=6, data_rvs=lambda k: np.ones(k)).tocsr().astype(np.int32)
    splits = _ContiguousSplits(g, ext, loihi1)
    for k in (1, 2, 7, 64, 299):
        fast = splits.usage(k)
        slow = core_usage(g, splits.core_of(k), k, loihi1, ext)
        for field in ("neurons", "synapses", "memory_bits", "input_axons", "output_axons"):
            assert np.array_equal(getattr(fast, field), getattr(slow, field)), (k, field)


def test_best_is_never_worse_than_contiguous():
    # ordered ring of modules: the contiguous split is already optimal, so "best" must match it
    n_mod, size = 12, 8
    mod = np.arange(n_mod * size) // size
    adj = (mod[:, None] == mod[None, :]) | (mod[:, None] == (mod[None, :] + 1) % n_mod)
    np.fill_diagonal(adj, False)
    g = sp.csr_matrix(adj.astype(np.int32))
    profile = small(neurons_per_core=16)
    base = partition(g, profile, method="contiguous")
    assert base.n_cores == 6 and base.traffic == 6 * 8  # each core's second module feeds the next core
    best = partition(g, profile, method="best")
    check_fits(best, g, profile)
    assert (best.n_cores, best.traffic) <= (base.n_cores, base.traffic)
    assert best.method in ("metis", "contiguous")
    shuffled, _ = shuffled_modules(n_mod, size)
    b = partition(shuffled, profile, method="best")
    c = partition(shuffled, profile, method="contiguous")
    assert b.method == "metis" and (b.n_cores, b.traffic) < (c.n_cores, c.traffic)


def test_best_survives_contiguous_failure():
    g, profile = hub_ring_graph()
    p = partition(g, profile, method="best")  # contiguous raises ResourceError here; METIS's result is kept
    assert p.method == "metis"
    check_fits(p, g, profile)


def test_min_source_bits_by_hand():
    # Loihi 1: one axon of 65 synapses = 1,216 + 64 bits; 63 + 2 on two cores = 1,152 + 64
    want = [0, 64, 192, 1152, 1216, 1856]
    assert min_source_bits(np.array([0, 1, 7, 63, 65, 100]), loihi1).tolist() == want
    big = np.array([20_000])  # beyond the DP table: n × the cheapest bits per synapse (1,024 / 56)
    assert min_source_bits(big, loihi1)[0] == math.ceil(20_000 * 1024 / 56)
    assert (min_source_bits(np.arange(500), loihi1) <= synapse_memory_bits(np.arange(500), loihi1)).all()


def test_legacy_bound_overstates_a_two_core_partition():
    # 4 sources of 65 targets each; one axon of 65 synapses costs 1,280 bits, so the legacy bound asks for
    # ceil(4 × 1,280 / 2,432) = 3 cores, but splitting every source 63 + 2 over two cores fits in 2
    n = 4 + 4 * 65
    pre = np.repeat(np.arange(4), 65)
    post = 4 + np.arange(4 * 65)
    g = sp.csr_matrix((np.ones(pre.size, np.int32), (post, pre)), shape=(n, n))
    profile = small(synaptic_memory_bits_per_core=2 * 1152 + 2 * 64)
    local = np.arange(65) < 63  # each source's first 63 targets
    core_of = np.zeros(n, np.int64)
    core_of[post] = np.where(np.tile(local, 4) ^ np.repeat([0, 1, 0, 1], 65).astype(bool), 0, 1)
    assert (core_usage(g, core_of, 2, profile).load(profile) <= 1).all()
    assert legacy_lower_bound(g, profile) == 3
    assert resource_lower_bound(g, profile) == 2


def _fewest_cores_brute_force(g: sp.csr_matrix, profile, max_cores: int) -> int:
    """The fewest cores of any valid partition of a tiny graph, by trying every assignment."""
    n = g.shape[0]
    for k in range(1, max_cores + 1):
        for assign in itertools.product(range(k), repeat=n):
            core_of = np.array(assign)
            if core_of.max() + 1 == k and (core_usage(g, core_of, k, profile).load(profile) <= 1).all():
                return k
    return max_cores + 1


@pytest.mark.parametrize("seed", range(12))
def test_bound_never_above_brute_force_on_small_random_networks(seed):
    rng = np.random.default_rng(seed)
    n = 7
    counts = rng.integers(1, 40, (n, n)) * (rng.random((n, n)) < 0.5)
    np.fill_diagonal(counts, 0)
    g = sp.csr_matrix(counts.astype(np.int32))
    total = int(synapse_memory_bits(counts.sum(axis=0), loihi1).sum())
    profile = small(neurons_per_core=4, synaptic_memory_bits_per_core=64 * max(2, -(-total // 64) // 2))
    best = _fewest_cores_brute_force(g, profile, 4)
    if best <= 4:
        assert resource_lower_bound(g, profile) <= best


@pytest.mark.parametrize("seed", range(4))
def test_bound_never_above_found_partitions(seed):
    g = sp.random(300, 300, density=0.08, random_state=seed, data_rvs=lambda k: np.ones(k)).tocsr()
    g = g.astype(np.int32)
    profile = small(neurons_per_core=64, synaptic_memory_bits_per_core=64 * 300)
    bound = resource_lower_bound(g, profile)
    for method in ("metis", "contiguous"):
        p = partition(g, profile, method=method, seed=seed)
        check_fits(p, g, profile)
        assert bound == p.lower_bound <= p.n_cores


@pytest.mark.parametrize("tight", [False, True])
def test_dissolve_keeps_every_core_valid(tight):
    # 40 scattered cores of 7–8 neurons (with external inputs): dissolving moves whole cores into others
    g, _ = shuffled_modules(24, 12)
    n = g.shape[0]
    ext = sp.csr_matrix((np.ones(n, np.int32), (np.arange(n), np.arange(n) % 3)), shape=(n, 3))
    profile = small(neurons_per_core=48)
    if tight:  # axon limits at the scattered partition's own maxima: every move must respect them
        u = core_usage(g, np.arange(n) % 40, 40, profile, ext)
        limits = dict(input_axons_per_core=u.input_axons.max(), output_axons_per_core=u.output_axons.max())
        profile = small(neurons_per_core=48, **{k: int(v) for k, v in limits.items()})
    core_of, state = _repair(g, ext, np.arange(n) % 40, profile, np.ones(n))
    assert int(core_of.max()) + 1 == 40
    dissolver = _Dissolver(state, core_of)
    out = dissolver.run(below=1.0)
    k = int(out.max()) + 1
    assert k < 40 and np.array_equal(np.unique(out), np.arange(k))
    assert (core_usage(g, out, k, profile, ext).load(profile) <= 1).all()
    rows, erows = dissolver.kept_rows()  # tracked exactly: the rows of the result's axon matrices
    assert (_axons_from_rows(rows, n) != axon_matrix(g, out, k)).nnz == 0
    assert (_axons_from_rows(erows, ext.shape[1]) != axon_matrix(ext, out, k)).nnz == 0
