"""The signal-propagation atlas comparison: loader, batched simulator vs Brian2, shuffles, statistics, null."""

from __future__ import annotations

import dataclasses
from functools import cache

import h5py
import numpy as np
import pytest
from scipy import stats

from wormchip import ir
from wormchip.analysis.atlas import (
    UNMAPPED,
    atlas_compare,
    atlas_path,
    auc_score,
    empirical_p,
    load_atlas,
    pair_statistics,
    sign_agreement,
)
from wormchip.analysis.perturbation import (
    BatchSimulator,
    PerturbationProtocol,
    Pulse,
    perturb,
    prepare_network,
)
from wormchip.analysis.shuffle import directed_swaps, shuffle_network, undirected_swaps
from wormchip.circuits.build import build
from wormchip.circuits.loader import load_spec
from wormchip.worm_connectome import load


@cache
def whole_worm() -> ir.Network:
    return build(load_spec("whole_worm"))


# --- loader --------------------------------------------------------------------------------------------------
def test_atlas_counts_match_file():
    with h5py.File(atlas_path(), "r") as f:
        raw = {s: (f[s]["dFF"][:], f[s]["q"][:]) for s in ("wt", "unc31")}
    for strain, (dff, q) in raw.items():
        atlas = load_atlas(strain)
        assert atlas.dff.shape == atlas.q.shape == (300, 300)
        assert atlas.measured.sum() == (np.isfinite(dff) & np.isfinite(q)).sum()
        assert (atlas.q[atlas.measured] < 0.05).sum() == (q[np.isfinite(dff)] < 0.05).sum()
        # Columns are the stimulated neurons: each stimulated neuron's own response is on the diagonal.
        assert np.isfinite(np.diag(atlas.dff)).sum() == len(atlas.stimulated)
    wt = load_atlas("wt")
    assert wt.measured.sum() == 24_074  # REFERENCE.md §5 (Randi et al. 2023 release)
    # 1,310 q < 0.05 entries in the file; one of them (URYDL ← ADER, one trial) has no ΔF/F, so is not measured.
    assert (wt.q < 0.05).sum() == 1_310 and (wt.q[wt.measured] < 0.05).sum() == 1_309
    assert "Nature 623:406" in wt.citation and "10.1038/s41586-023-06683-4" in wt.citation


def test_name_mapping_to_wormchip():
    atlas = load_atlas("wt")
    neurons = set(load("cook2019").neurons)
    mapped = [c for c in atlas.canonical if c is not None]
    assert len(mapped) == 300 - len(UNMAPPED) and set(mapped) <= neurons
    assert {"VB1", "AS10", "AVAL", "DD1"} <= set(mapped)  # no zero padding (VB01) in either naming
    assert all(atlas.canonical[atlas.names.index(n)] is None for n in UNMAPPED)
    i, j = atlas.pairs()
    assert all(atlas.canonical[k] is not None for k in np.r_[i, j]) and not (i == j).any()


# --- batched simulator vs Brian2 -----------------------------------------------------------------------------
def test_batched_simulator_matches_brian2():
    from wormchip.backends.brian2_backend import run_brian2

    net = whole_worm()
    idx = net.index()
    duration, steps = 0.15, 1500
    stim = [idx["AVAL"], idx["ASHL"]]
    pulses = [Pulse(j, 0.3e-9, 500, 1000) for j in stim]
    sim = BatchSimulator(dataclasses.replace(net, current=None, duration=duration))
    out = sim.run(sim.initial_state(len(pulses)), steps, pulses, record_every=10)
    for b, j in enumerate(stim):
        wave = np.zeros((steps, 1))
        wave[500:1000] = 0.3e-9
        single = dataclasses.replace(
            net,
            duration=duration,
            current=ir.CurrentInput(net.dt, np.array([j]), wave),
            probes=(ir.ProbeSpec(("v",), np.arange(net.size), 1e-3),),
        )
        res = run_brian2(single, target="numpy")
        counts = np.array([len(res.spike_times[n]) for n in net.names])
        assert counts[j] > 0
        np.testing.assert_array_equal(counts, out.spike_count[:, b])
        order = [idx[c] for c in res.traces["v"].channels]
        np.testing.assert_allclose(res.traces["v"].values, out.v_trace[:, order, b], atol=1e-9)


def _two_channels(net: ir.Network) -> ir.Network:
    """`net` with every other chemical edge moved to a second projection with τ = 10 ms (two current channels)."""
    chem = next(p for p in net.projections if p.synapse == "exp_current")
    half = np.arange(chem.size) % 2 == 1
    slow = dataclasses.replace(
        chem, name="slow", pre=chem.pre[half], post=chem.post[half], weight=chem.weight[half]
    )
    slow = dataclasses.replace(slow, params={**chem.params, "tau": 0.01})
    fast = dataclasses.replace(chem, pre=chem.pre[~half], post=chem.post[~half], weight=chem.weight[~half])
    rest = tuple(p for p in net.projections if p is not chem)
    return dataclasses.replace(net, projections=(fast, slow, *rest))


@pytest.mark.parametrize("channels", [1, 2])
def test_compiled_engine_matches_numpy_loop_bit_for_bit(channels: int):
    """The numba loop reproduces the NumPy loop (the original implementation) exactly: window means, spike
    counts and the whole state, with the Poisson background, pulses starting and ending inside the run, a
    control column and an odd number of steps."""
    pytest.importorskip("numba")
    net = prepare_network(whole_worm(), PerturbationProtocol())
    sim = BatchSimulator(net if channels == 1 else _two_channels(net))
    assert len(sim.W) == channels
    idx = net.index()
    targets = ["AVAL", "ASHL", "PLML", "AVBR", "DVA", "RIML", "AVAL"]
    pulses = [
        None,
        *(Pulse(idx[n], 1e-9 * (1 + k % 3), 305 + 20 * k, 420 + 7 * k) for k, n in enumerate(targets)),
    ]
    runs = {}
    for engine in ("numpy", "numba"):
        state = sim.initial_state(1)
        warm = sim.run(state, 300, engine=engine)
        state = state.tile(len(pulses))
        runs[engine] = (warm, sim.run(state, 251, pulses, engine=engine))
    for a, b in zip(runs["numpy"], runs["numba"]):
        for field in ("mean_v", "mean_v_free", "spike_count"):
            assert getattr(a, field).tobytes() == getattr(b, field).tobytes(), field
        for field in ("v", "v_free", "currents", "last_spike", "step"):
            assert np.array_equal(getattr(a.state, field), getattr(b.state, field)), field
            assert (
                np.asarray(getattr(a.state, field)).tobytes() == np.asarray(getattr(b.state, field)).tobytes()
            )
    assert runs["numba"][1].spike_count.sum() > 200  # spikes propagate through both channels
    with pytest.raises(ValueError, match="numba"):
        sim.run(sim.initial_state(1), 2, record_every=1, engine="numba")


def _reference_directed(pre, post, n_swaps, rng):
    """The original pure-Python directed swap loop (issue 16 kept its results bit for bit)."""
    n = int(max(pre.max(), post.max())) + 1
    edges = set((pre * n + post).tolist())
    first, second = rng.integers(0, len(pre), n_swaps).tolist(), rng.integers(0, len(pre), n_swaps).tolist()
    src, dst, accepted = pre.tolist(), post.tolist(), 0
    for e1, e2 in zip(first, second):
        a, b, c, d = src[e1], dst[e1], src[e2], dst[e2]
        if a == d or c == b or b == d or a == c or a * n + d in edges or c * n + b in edges:
            continue
        edges -= {a * n + b, c * n + d}
        edges |= {a * n + d, c * n + b}
        dst[e1], dst[e2] = d, b
        accepted += 1
    return np.array(dst), accepted


def _reference_undirected(u, v, n_swaps, rng):
    """The original pure-Python undirected swap loop."""
    u, v = u.tolist(), v.tolist()
    n = max(max(u), max(v)) + 1
    key = lambda a, b: min(a, b) * n + max(a, b)  # noqa: E731
    edges = {key(a, b) for a, b in zip(u, v)}
    first, second = rng.integers(0, len(u), n_swaps).tolist(), rng.integers(0, len(u), n_swaps).tolist()
    flip, accepted = (rng.random(n_swaps) < 0.5).tolist(), 0
    for e1, e2, f in zip(first, second, flip):
        a, b = u[e1], v[e1]
        c, d = (v[e2], u[e2]) if f else (u[e2], v[e2])
        if e1 == e2 or a == d or c == b or key(a, d) == key(c, b) or key(a, d) in edges or key(c, b) in edges:
            continue
        edges -= {key(a, b), key(c, d)}
        edges |= {key(a, d), key(c, b)}
        u[e1], v[e1], u[e2], v[e2] = min(a, d), max(a, d), min(c, b), max(c, b)
        accepted += 1
    return np.array(u), np.array(v), accepted


def test_compiled_swaps_match_the_python_loops():
    net = whole_worm()
    chem = next(p for p in net.projections if p.synapse == "exp_current")
    gap = next(p for p in net.projections if p.synapse == "gap_junction")
    post, accepted = directed_swaps(chem.pre, chem.post, 10 * chem.size, np.random.default_rng(5))
    ref_post, ref_accepted = _reference_directed(
        chem.pre, chem.post, 10 * chem.size, np.random.default_rng(5)
    )
    assert accepted == ref_accepted and np.array_equal(post, ref_post)
    lo, hi = np.minimum(gap.pre, gap.post), np.maximum(gap.pre, gap.post)
    u, v, accepted = undirected_swaps(lo, hi, 10 * gap.size, np.random.default_rng(6))
    ref_u, ref_v, ref_accepted = _reference_undirected(lo, hi, 10 * gap.size, np.random.default_rng(6))
    assert accepted == ref_accepted and np.array_equal(u, ref_u) and np.array_equal(v, ref_v)


# --- shuffles ------------------------------------------------------------------------------------------------
def test_shuffles_preserve_degrees_exactly():
    net = whole_worm()
    chem = next(p for p in net.projections if p.synapse == "exp_current")
    gap = next(p for p in net.projections if p.synapse == "gap_junction")
    rng = np.random.default_rng(3)
    post, accepted = directed_swaps(chem.pre, chem.post, 5 * chem.size, rng)
    n = net.size
    assert accepted > chem.size
    assert np.array_equal(np.bincount(post, minlength=n), np.bincount(chem.post, minlength=n))
    assert len(set(zip(chem.pre.tolist(), post.tolist()))) == chem.size and not (chem.pre == post).any()
    assert (post != chem.post).mean() > 0.5
    u, v, accepted = undirected_swaps(
        np.minimum(gap.pre, gap.post), np.maximum(gap.pre, gap.post), 5 * gap.size, rng
    )
    assert accepted > gap.size and (u < v).all() and len(set(zip(u.tolist(), v.tolist()))) == gap.size
    assert np.array_equal(
        np.bincount(np.r_[u, v], minlength=n), np.bincount(np.r_[gap.pre, gap.post], minlength=n)
    )
    a = shuffle_network(net, np.random.default_rng(7))
    b = shuffle_network(net, np.random.default_rng(7))
    for pa, pb, p0 in zip(a.projections, b.projections, net.projections):
        assert np.array_equal(pa.post, pb.post) and np.array_equal(
            pa.weight, p0.weight
        )  # seeded; weights kept
        out0 = np.bincount(p0.pre, weights=p0.weight, minlength=n)
        if p0.synapse == "exp_current":  # each edge keeps its source, so out-strength (and sign) is kept
            np.testing.assert_allclose(np.bincount(pa.pre, weights=pa.weight, minlength=n), out0)


# --- statistics on synthetic data ----------------------------------------------------------------------------
def test_statistics_known_answers():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    q = np.where(np.abs(x) > 1.5, 0.01, 0.5)
    same = pair_statistics(x, x, q)
    assert same["spearman_r"] == pytest.approx(1.0) and same["sign_agreement"] == 1.0
    assert same["auc"] == 1.0  # |x| is a perfect predictor of q < 0.05 here
    assert pair_statistics(-x, x, q)["sign_agreement"] == 0.0
    score, label = rng.normal(size=300), rng.random(300) < 0.3
    u = stats.mannwhitneyu(score[label], score[~label]).statistic
    assert auc_score(score, label) == pytest.approx(u / (label.sum() * (~label).sum()))
    assert auc_score(np.r_[1.0, 1.0], np.r_[True, False]) == 0.5
    agree, chance, n = sign_agreement(np.r_[1.0, -1.0, 0.0, 2.0], np.r_[1.0, 1.0, 1.0, -1.0])
    assert (agree, n) == (pytest.approx(1 / 3), 3)  # the zero response is left out
    assert chance == pytest.approx(2 / 3 * 2 / 3 + 1 / 3 * 1 / 3)
    assert empirical_p(0.9, np.r_[0.1, 0.2, 0.95]) == pytest.approx(2 / 4)
    assert empirical_p(1.0, np.zeros(99)) == pytest.approx(0.01)


def test_perturbation_control_column_is_exact():
    """A zero-amplitude pulse gives exactly zero response (common inputs); a real pulse drives its neuron."""
    net = whole_worm()
    null = perturb(net, [0, 5], PerturbationProtocol(amplitude=0.0, warmup=0.05, window=0.05, pulse=0.02))
    assert all(not np.any(r) for r in null.response.values())
    proto = PerturbationProtocol(warmup=0.05, window=0.05, pulse=0.02)
    res = perturb(net, [net.index()["AVAL"]], proto)
    assert res.response["v_free"][net.index()["AVAL"], 0] > 1e-3
    assert res.response["rate"][net.index()["AVAL"], 0] > 0


# --- the full comparison with a small null -------------------------------------------------------------------
def test_atlas_compare_null_near_chance_and_same_pairs():
    shuffles = 10
    seen = []
    comp = atlas_compare(
        shuffles=shuffles,
        network=whole_worm(),
        protocol=PerturbationProtocol(warmup=0.1, window=0.08, pulse=0.03),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (shuffles + 1, shuffles + 1) and len(seen) == shuffles + 1
    index = whole_worm().index()
    for strain, c in comp.strains.items():
        atlas = load_atlas(strain)
        i, j = atlas.pairs()
        expected = sum(atlas.canonical[a] in index and atlas.canonical[b] in index for a, b in zip(i, j))
        assert c.stats["pairs"] == expected == len(c.sim) == len(c.dff)
        for name, values in c.null.items():
            assert len(values) == shuffles
            assert 1 / (shuffles + 1) <= c.null_p[name] <= 1
        assert abs(np.nanmean(c.null["auc"]) - 0.5) < 0.06
        assert abs(np.nanmean(c.null["spearman_r"])) < 0.06
        assert abs(np.nanmean(c.null["sign_agreement"]) - c.stats["sign_chance"]) < 0.06
    d = comp.to_dict()
    for key in ("pairs", "sign_agreement", "spearman_r", "auc", "null_p"):
        assert key in d
    assert d["strains"]["unc31"]["pairs"] > 0 and d["wt_vs_unc31"]["pairs"] > 0
