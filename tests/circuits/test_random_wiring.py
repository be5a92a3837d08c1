"""`random:` wiring is O(edges): Bernoulli(p) pairs drawn through geometric gaps, seeded, any size (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.circuits.build import bernoulli_indices, build
from wormchip.circuits.loader import from_dict


def _spec(n: int, p: float, seed: int = 0, allow_self: bool = False) -> dict:
    return {
        "name": "random_net",
        "populations": [{"name": "a", "size": n, "model": "lif"}],
        "connections": [
            {
                "name": "r",
                "source": ["a"],
                "target": ["a"],
                "random": {"p": p, "allow_self": allow_self},
                "weight_scale": "0.01 nA",
            }
        ],
        "run": {"duration": "10 ms", "seed": seed},
    }


def test_bernoulli_indices_distribution() -> None:
    """Sorted, distinct, in range; each index present with probability p (counts and positions)."""
    rng = np.random.default_rng(1)
    n, p, trials = 20_000, 0.05, 200
    hits = np.zeros(n)
    counts = []
    for _ in range(trials):
        idx = bernoulli_indices(n, p, rng)
        assert (np.diff(idx) > 0).all() and idx[0] >= 0 and idx[-1] < n
        hits[idx] += 1
        counts.append(len(idx))
    sd = np.sqrt(n * p * (1 - p))
    assert abs(np.mean(counts) - n * p) < 4 * sd / np.sqrt(trials)
    assert np.std(counts) == pytest.approx(sd, rel=0.2)
    # Uniform over positions: first and second half, and every tenth, get their share.
    blocks = hits.reshape(10, -1).sum(axis=1) / (trials * n * p / 10)
    assert np.allclose(blocks, 1.0, atol=0.03)
    assert len(bernoulli_indices(10, 0.0, rng)) == 0
    assert np.array_equal(bernoulli_indices(5, 1.0, rng), np.arange(5))
    assert len(bernoulli_indices(1, 1e-9, rng)) <= 1


def test_random_wiring_is_seeded_and_excludes_autapses() -> None:
    a = build(from_dict(_spec(300, 0.1, seed=4))).projections[0]
    b = build(from_dict(_spec(300, 0.1, seed=4))).projections[0]
    c = build(from_dict(_spec(300, 0.1, seed=5))).projections[0]
    assert (
        np.array_equal(a.pre, b.pre) and np.array_equal(a.post, b.post) and np.array_equal(a.weight, b.weight)
    )
    assert not np.array_equal(a.post, c.post)
    assert not (a.pre == a.post).any()
    assert abs(a.size - 0.1 * 300 * 299) < 5 * np.sqrt(0.1 * 0.9 * 300 * 299)
    assert len(set(zip(a.pre.tolist(), a.post.tolist()))) == a.size  # no duplicate pairs
    with_self = build(from_dict(_spec(50, 1.0, allow_self=True))).projections[0]
    assert with_self.size == 2500


def test_random_projection_at_100k_neurons() -> None:
    """100k × 100k pairs at p = 0.001 (1e7 synapses): built from the edges alone (~2 s; was refused)."""
    proj = build(from_dict(_spec(100_000, 0.001))).projections[0]
    expected = 0.001 * 100_000 * 99_999
    assert abs(proj.size - expected) < 6 * np.sqrt(expected)
