"""Place pass: cores → chips → tile positions on the chip mesh, chips → positions on the system mesh.

Spikes travel the mesh with dimension-order routing, so a message from core a to core b costs
|Δx| east-west plus |Δy| north-south hops between tiles, in global coordinates (chip position × chip mesh
+ tile position; the chip-to-chip links continue the mesh). The pass minimizes hop-weighted traffic
Σ traffic(a → b) × hops(a, b): METIS groups cores into chips, recursive METIS bisection maps each group onto
the mesh, and pairwise swaps refine it. Loops run over cores and chips (thousands), never neurons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pymetis
import scipy.sparse as sp

from wormchip.errors import ResourceError
from wormchip.mappers.hardware import HardwareProfile, load_profile
from wormchip.mappers.partition import Partition, _as_counts, _rates, axon_matrix


@dataclass(frozen=True, eq=False)
class Placement:
    """Where each core sits. Per core: `chip_of`, `tile_xy` (tile on its chip's mesh), `slot` (core within
    the tile). Per chip: `chip_xy` on the system mesh. `chip_mesh` is the tiles grid of one chip."""

    chip_of: np.ndarray
    tile_xy: np.ndarray
    slot: np.ndarray
    chip_xy: np.ndarray
    chip_mesh: tuple[int, int]
    method: str

    @property
    def n_chips(self) -> int:
        return int(self.chip_xy.shape[0])

    @property
    def n_cores(self) -> int:
        return int(self.chip_of.shape[0])

    def global_xy(self) -> np.ndarray:
        """(n_cores, 2) tile coordinates on the whole system mesh (chip offset + tile on chip)."""
        return self.chip_xy[self.chip_of] * np.asarray(self.chip_mesh) + self.tile_xy


def core_traffic(partition: Partition, graph: sp.spmatrix, rates: np.ndarray | None = None) -> sp.csr_matrix:
    """Core × core matrix: entry (a, b) = Σ over neurons on core a with a target on core b ≠ a of the rate."""
    g = _as_counts(graph, "graph", square=True)
    r = _rates(rates, g.shape[0])
    core_of = partition.core_of
    m = axon_matrix(g, core_of, partition.n_cores)  # dst core × source neuron
    m.data = r[m.indices].astype(float)
    src = sp.csr_matrix(
        (np.ones(core_of.size), (np.arange(core_of.size), core_of)), shape=(core_of.size, partition.n_cores)
    )
    t = (m @ src).T.tocsr()  # src core × dst core
    t.setdiag(0)
    t.eliminate_zeros()
    return t


def hops(placement: Placement) -> tuple[np.ndarray, np.ndarray]:
    """Core × core matrices of east-west |Δx| and north-south |Δy| hops between the cores' tiles."""
    xy = placement.global_xy()
    return np.abs(xy[:, None, 0] - xy[None, :, 0]), np.abs(xy[:, None, 1] - xy[None, :, 1])


def placement_cost(
    placement: Placement, partition: Partition, graph: sp.spmatrix, rates: np.ndarray | None = None
) -> float:
    """Hop-weighted traffic Σ traffic(a → b) × (|Δx| + |Δy|) over core pairs."""
    t = core_traffic(partition, graph, rates).tocoo()
    xy = placement.global_xy()
    d = np.abs(xy[t.row] - xy[t.col]).sum(axis=1)
    return float((t.data * d).sum())


def _slots(mesh: tuple[int, int], per_tile: int, n: int) -> np.ndarray:
    """(n, 3) = (x, y, sub) of the first n slots of a mesh, row-major (y, then x, then core in tile)."""
    k = np.arange(n)
    tile, sub = np.divmod(k, per_tile)
    y, x = np.divmod(tile, mesh[0])
    return np.stack([x, y, sub], axis=1)


def _compact_mesh(mesh: tuple[int, int], n: int) -> tuple[int, int]:
    """The most square sub-grid of `mesh` with at least n positions (chips used by a small network)."""
    best = mesh
    for w in range(1, mesh[0] + 1):
        h = math.ceil(n / w)
        if h <= mesh[1] and w * h >= n and (max(w, h), w * h) < (max(best), best[0] * best[1]):
            best = (w, h)
    return best


def _bisect(w: np.ndarray, items: np.ndarray, n_first: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `items` into exactly n_first and the rest, cutting little weight (METIS, then greedy fix-up)."""
    k = items.size
    if n_first <= 0 or n_first >= k:
        return (items, items[:0]) if n_first >= k else (items[:0], items)
    sub = sp.csr_matrix(w[np.ix_(items, items)])
    sub.setdiag(0)
    sub.eliminate_zeros()
    side = np.zeros(k, dtype=bool)
    if sub.nnz:
        ew = np.maximum(np.rint(sub.data * (16.0 / sub.data.mean())), 1).astype(np.int64)
        frac = n_first / k
        _, parts = pymetis.part_graph(
            2,
            pymetis.CSRAdjacency(sub.indptr.astype(np.int64), sub.indices.astype(np.int64)),
            eweights=ew,
            tpwgts=[frac, 1 - frac],
            options=pymetis.Options(seed=seed),
        )
        side = np.asarray(parts) == 1
    else:
        side[n_first:] = True
    dense = sub.toarray()
    while (~side).sum() != n_first:  # move the item that loses least from the too-big side
        too_big = ~side if (~side).sum() > n_first else side
        gain = dense[:, ~too_big].sum(axis=1) - dense[:, too_big].sum(axis=1)
        gain[~too_big] = -np.inf
        i = int(np.argmax(gain))
        side[i] = not side[i]
    return items[~side], items[side]


def _embed(w: np.ndarray, slots: np.ndarray, seed: int, swaps: int = 400) -> np.ndarray:
    """Slot index for each of w.shape[0] items, minimizing Σ w_ij × hops: recursive bisection, then swaps."""
    k = w.shape[0]
    w = w + w.T
    pos = np.empty(k, dtype=np.int64)

    def rec(items: np.ndarray, slot_ids: np.ndarray) -> None:
        if items.size == 0:
            return
        if items.size == 1 or slot_ids.size == 1:
            pos[items] = slot_ids[: items.size]
            return
        xy = slots[slot_ids, :2]
        axis = int(np.ptp(xy[:, 0]) < np.ptp(xy[:, 1]))
        if np.ptp(xy[:, axis]) == 0:  # all in one tile: any order
            pos[items] = slot_ids[: items.size]
            return
        order = slot_ids[np.lexsort((slots[slot_ids, 2], xy[:, 1 - axis], xy[:, axis]))]
        half = order.size // 2
        s1, s2 = order[:half], order[half:]
        n1 = min(s1.size, max(items.size - s2.size, round(items.size * s1.size / order.size)))
        a, b = _bisect(w, items, n1, seed)
        rec(a, s1)
        rec(b, s2)

    rec(np.arange(k), np.arange(slots.shape[0]))
    # pairwise swaps (empty slots take part as zero-weight items)
    s = slots.shape[0]
    full = np.zeros((s, s))
    full[:k, :k] = w
    free = np.setdiff1d(np.arange(s), pos)
    p = np.concatenate([pos, free])
    dist = np.abs(slots[:, None, 0] - slots[None, :, 0]) + np.abs(slots[:, None, 1] - slots[None, :, 1])
    for _ in range(swaps):
        f = full @ dist[p]  # f[i, slot] = cost of item i at slot given the others
        g = f[:, p]
        diag = np.diag(g)
        delta = g - diag[:, None] + g.T - diag[None, :] + 2 * full * dist[np.ix_(p, p)]
        a, b = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if delta[a, b] > -1e-9:
            break
        p[a], p[b] = p[b], p[a]
    return p[:k]


def _chips(t: np.ndarray, n_chips: int, per_chip: int, seed: int) -> np.ndarray:
    """Core → chip with at most `per_chip` cores each, cutting little traffic (METIS, then moves)."""
    n = t.shape[0]
    if n_chips == 1:
        return np.zeros(n, np.int64)
    sym = sp.csr_matrix(t + t.T)
    sym.setdiag(0)
    sym.eliminate_zeros()
    if sym.nnz:
        ew = np.maximum(np.rint(sym.data * (16.0 / sym.data.mean())), 1).astype(np.int64)
        _, parts = pymetis.part_graph(
            n_chips,
            pymetis.CSRAdjacency(sym.indptr.astype(np.int64), sym.indices.astype(np.int64)),
            eweights=ew,
            options=pymetis.Options(seed=seed, ufactor=1),
        )
        chip = np.asarray(parts, dtype=np.int64)
    else:
        chip = np.arange(n) // per_chip
    w = t + t.T
    while True:  # move least-attached cores out of over-full chips into chips with room
        count = np.bincount(chip, minlength=n_chips)
        over = np.flatnonzero(count > per_chip)
        if not over.size:
            return chip
        c = int(over[0])
        members = np.flatnonzero(chip == c)
        onehot = np.eye(n_chips)[chip]
        affinity = w[members] @ onehot  # members × chips
        room = count < per_chip
        affinity[:, ~room] = -np.inf
        gain = affinity.max(axis=1) - affinity[:, c] if room.any() else None
        if gain is None:
            raise ResourceError(f"{n} cores do not fit {n_chips} chips", limit="cores_per_chip", value=n)
        i = int(np.argmax(gain))
        chip[members[i]] = int(np.argmax(affinity[i]))


def place(
    partition: Partition,
    graph: sp.spmatrix,
    profile: HardwareProfile | str = "loihi1",
    rates: np.ndarray | None = None,
    method: str = "metis",
    seed: int = 0,
) -> Placement:
    """Place a partition's cores on chips and mesh positions, minimizing hop-weighted traffic.

    `method="metis"`: METIS chip grouping, recursive bisection onto the mesh, pairwise swaps.
    `method="sequential"`: the naive baseline, core c on chip c // cores_per_chip at the next free slot
    (row-major), chips row-major on the system mesh. Raises `ResourceError` if the system has too few chips.
    """
    profile = load_profile(profile)
    n_cores = partition.n_cores
    per_chip = profile.cores_per_chip
    n_chips = max(1, math.ceil(n_cores / per_chip))
    if n_chips > profile.chips_per_system:
        raise ResourceError(
            f"{n_cores} cores need {n_chips} {profile.name} chips but the system has {profile.chips_per_system}",
            limit="chips_per_system",
            value=n_chips,
        )
    system = _compact_mesh(profile.system_mesh, n_chips)
    chip_slots = _slots(system, 1, n_chips)[:, :2]
    core_slots = _slots(profile.chip_mesh, profile.cores_per_tile, per_chip)
    if method == "sequential":
        chip_of = np.arange(n_cores) // per_chip
        where = core_slots[np.arange(n_cores) % per_chip]
        return Placement(chip_of, where[:, :2], where[:, 2], chip_slots, profile.chip_mesh, method)
    if method != "metis":
        raise ValueError(f"method must be 'metis' or 'sequential', got {method!r}")
    t = core_traffic(partition, graph, rates).toarray()
    chip_of = _chips(t, n_chips, per_chip, seed)
    onehot = np.eye(n_chips)[chip_of]
    chip_t = onehot.T @ t @ onehot
    np.fill_diagonal(chip_t, 0)
    chip_xy = chip_slots[_embed(chip_t, np.c_[chip_slots, np.zeros(n_chips, int)], seed)]
    where = np.zeros((n_cores, 3), dtype=np.int64)
    for c in range(n_chips):
        members = np.flatnonzero(chip_of == c)
        where[members] = core_slots[_embed(t[np.ix_(members, members)], core_slots, seed)]
    return Placement(chip_of, where[:, :2], where[:, 2], chip_xy, profile.chip_mesh, method)
