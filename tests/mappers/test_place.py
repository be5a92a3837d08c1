"""Place pass: beats naive sequential placement on a ring and on planted chip clusters; slots are valid."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from wormchip.mappers.hardware import loihi1
from wormchip.mappers.partition import partition
from wormchip.mappers.place import core_traffic, place, placement_cost


def module_graph(n_mod: int, size: int, links: list[tuple[int, int]], seed: int = 0) -> sp.csr_matrix:
    """Modules of `size` all-to-all neurons, module a → module b fully for each link, shuffled indices."""
    perm = np.random.default_rng(seed).permutation(n_mod * size)
    mod = np.arange(n_mod * size) // size
    adj = mod[:, None] == mod[None, :]
    np.fill_diagonal(adj, False)
    for a, b in links:
        adj |= (mod[:, None] == b) & (mod[None, :] == a)  # post in b, pre in a
    adj = adj[np.ix_(perm, perm)]
    return sp.csr_matrix(adj.astype(np.int32))


def test_ring_placement_beats_sequential():
    g = module_graph(16, 4, [(k, (k + 1) % 16) for k in range(16)])
    profile = loihi1.model_copy(
        update=dict(neurons_per_core=4, cores_per_tile=1, chip_mesh=(4, 4), cores_per_chip=16)
    )
    part = partition(g, profile)
    assert part.n_cores == 16 and part.traffic == 16 * 4  # each core sends to the next one only
    good = place(part, g, profile)
    naive = place(part, g, profile, method="sequential")
    assert placement_cost(good, part, g) < placement_cost(naive, part, g)
    assert placement_cost(good, part, g) >= 64  # every ring link needs ≥ 1 hop (4 neurons each)
    assert len({tuple(xy) for xy in good.global_xy()}) == 16  # one core per mesh position


def test_clusters_go_to_separate_chips():
    # two 8-module cliques of modules joined by one link; 8 cores per chip → one clique per chip
    links = [(a, b) for a in range(8) for b in range(8) if a != b]
    links += [(a + 8, b + 8) for a, b in links] + [(0, 8)]
    g = module_graph(16, 4, links, seed=1)
    profile = loihi1.model_copy(
        update=dict(neurons_per_core=4, cores_per_tile=2, chip_mesh=(2, 2), cores_per_chip=8)
    )
    part = partition(g, profile)
    plc = place(part, g, profile)
    assert plc.n_chips == 2 and np.bincount(plc.chip_of).tolist() == [8, 8]
    mod = (np.arange(64) // 4)[np.random.default_rng(1).permutation(64)]  # module of each (shuffled) neuron
    chip_of_neuron = plc.chip_of[part.core_of]
    assert all(np.unique(mod[chip_of_neuron == c] >= 8).size == 1 for c in (0, 1))  # one clique per chip
    t = core_traffic(part, g).toarray()
    assert t[plc.chip_of[:, None] != plc.chip_of[None, :]].sum() <= 4 * 4  # only the 0 → 8 link leaves a chip
    naive = place(part, g, profile, method="sequential")
    assert placement_cost(plc, part, g) < placement_cost(naive, part, g)
    slots = {(c, x, y, s) for c, (x, y), s in zip(plc.chip_of, plc.tile_xy, plc.slot)}
    assert len(slots) == 16 and (plc.slot < 2).all()
