"""Partition pass: assign neurons to neuromorphic cores so every core fits and inter-core traffic is low.

Input is a connectivity graph: a post × pre scipy CSR whose entries are synapse counts (`synapse_graph`
turns a weight matrix into counts; `graph_from_fixed_point` sums a `FixedPointNetwork`'s blocks). Per core
the pass respects the profile's limits on neurons, synaptic memory (nengo-loihi's estimate,
`synapse_memory_bits`), input axons (distinct presynaptic neurons or external inputs with a target on the
core) and output axons (distinct (neuron, destination core) pairs). The objective is the firing-rate-weighted
number of spike messages to other cores, counted once per distinct destination core because a spike is
replicated inside the destination core (hypergraph "connectivity − 1").

Everything is vectorized over synapses with scipy.sparse; Python loops run over cores, never neurons.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pymetis
import scipy.sparse as sp

from wormchip.errors import ResourceError
from wormchip.mappers.hardware import HardwareProfile, load_profile

LIMITS = ("neurons", "memory_bits", "input_axons", "output_axons")
REPAIR_FILL = 0.995  # an over-full core sheds load down to this fraction of its binding limit
STRAGGLER_SHED = 0.1  # from repair round 3 on, an over-full core sheds ≥ 0.1 × (round − 1)
METIS_UFACTOR = 10  # METIS load imbalance tolerance, 1/1000 (10: 1.01)
MERGE_BELOW = 0.9  # cores above this load are not merge candidates (nothing else fits beside them)
METHODS = ("metis", "contiguous", "best")
REAIM_ROUNDS = 3  # METIS re-runs at k = measured need / AIM_FILL (graphs ≤ REWEIGHT_MAX_EDGES synapses)
REAIM_ROUNDS_LARGE = 1  # METIS re-runs on larger graphs
REWEIGHT_MAX_EDGES = 20_000_000
AIM_FILL = 0.995  # mean load of the binding limit that METIS's re-runs aim at
BITS_TABLE = 1 << 16  # `synapse_memory_bits` looks counts below this up in a table
MIN_BITS_TABLE = 8192  # `min_source_bits` solves its DP exactly up to this many synapses per source
AIM_FIRST_EDGES = 4_000_000  # sample size of `_aim`'s first METIS run, which only measures memory shares
METIS_MAX_EDGES = 12_000_000  # above this many synapses METIS sees a random edge sample (see `_metis_parts`)


# ---------------------------------------------------------------------------------------------- graph input
def synapse_graph(weights: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    """Post × pre synapse counts (int32) from a weight matrix: one synapse per nonzero weight."""
    w = sp.csr_matrix(weights)
    w.eliminate_zeros()
    return sp.csr_matrix((np.ones(w.nnz, np.int32), w.indices.copy(), w.indptr.copy()), shape=w.shape)


def graph_from_fixed_point(net) -> sp.csr_matrix:
    """Recurrent synapse counts of a `FixedPointNetwork`: nonzeros summed over `weights`, `gap_weights`,
    `graded_weights` and `conductance_weights`, plus the synapses of plastic (and reward) blocks.

    Each block is its own Lava Dense, so a pair connected in two blocks holds two synapses. Gap-junction
    blocks store their diagonal too (the −Σg self term), which occupies synaptic memory like any synapse.
    """
    n = net.n_neurons
    total = sp.csr_matrix((n, n), dtype=np.int32)
    for block in (*net.weights, *net.gap_weights, *net.graded_weights, *net.conductance_weights):
        total = total + synapse_graph(block.weights)
    for plastic in net.plastic:  # a LearningDense stores its present synapses (tag ≠ 0), learned or not
        total = total + synapse_graph(plastic.tag != 0)
    for reward in net.reward_plastic:  # three-factor blocks: present where tag_2 (the mask) ≠ 0
        total = total + synapse_graph(reward.mask != 0)
    return sp.csr_matrix(total, dtype=np.int32)


def inputs_from_fixed_point(net) -> sp.csr_matrix:
    """External-input synapse counts (n_neurons × n_inputs) of a `FixedPointNetwork`'s input blocks."""
    total = sp.csr_matrix((net.n_neurons, net.n_inputs), dtype=np.int32)
    for block in net.input_weights:
        total = total + synapse_graph(block.weights)
    return sp.csr_matrix(total, dtype=np.int32)


def _as_counts(graph: sp.spmatrix | np.ndarray, name: str, square: bool) -> sp.csr_matrix:
    g = sp.csr_matrix(graph)
    if square and g.shape[0] != g.shape[1]:
        raise ValueError(f"{name} must be square (post × pre over the same neurons), got shape {g.shape}")
    data = g.data
    if data.size and (data.min() < 0 or np.any(data != np.round(data))):
        raise ValueError(
            f"{name} entries must be non-negative integer synapse counts; use synapse_graph(weights)"
        )
    if g.dtype != np.int32:
        g = g.astype(np.int32)
    g.eliminate_zeros()
    return g


# ---------------------------------------------------------------------------------------- memory estimate
def synapse_memory_bits(n_synapses: np.ndarray | int, profile: HardwareProfile) -> np.ndarray:
    """Synaptic memory bits of input axons carrying `n_synapses` synapses each (nengo-loihi's estimate).

    As `SynapseConfig.bits_per_axon` in nengo-loihi 1.1, with sparse synapses (compression 0): an axon's
    synapses are stored in groups of at most `synapses_per_group` (64); a group of m synapses takes
    m × (weight + delay + tag + index bits) + header (4 format + 6 count bits), rounded up to whole
    64-bit words. Loihi 1: m × 18 + 10 bits, so 1 synapse → 64 bits, 64 synapses → 1,216 bits.
    Counts below `BITS_TABLE` are looked up in a table (one gather instead of six array operations).
    """
    n = np.asarray(n_synapses)
    key = (profile.bits_per_synapse, profile.axon_header_bits, profile.synapses_per_group)
    if n.size and n.dtype.kind in "iu" and 0 <= n.min() and n.max() < BITS_TABLE:
        return _bits_table(*key, profile.memory_word_bits)[n]
    return _bits_formula(n.astype(np.int64), *key, profile.memory_word_bits)


def _bits_formula(n: np.ndarray, per_synapse: int, header: int, group: int, word: int) -> np.ndarray:
    full, rest = np.divmod(n, group)
    full_bits = -(-(group * per_synapse + header) // word) * word
    return full * full_bits + np.where(rest > 0, -(-(rest * per_synapse + header) // word) * word, 0)


@functools.lru_cache(maxsize=8)
def _bits_table(per_synapse: int, header: int, group: int, word: int) -> np.ndarray:
    table = _bits_formula(np.arange(BITS_TABLE, dtype=np.int64), per_synapse, header, group, word)
    table.flags.writeable = False
    return table


def _row_bits(m: sp.csr_matrix, profile: HardwareProfile) -> np.ndarray:
    """Per row of a count matrix, Σ `synapse_memory_bits` of its entries. Most entries are 1, so only the
    others are looked up (one pass over the data instead of a 100 M-long gather and bincount)."""
    one = int(synapse_memory_bits(1, profile))
    bits = np.diff(m.indptr).astype(np.int64) * one
    other = np.flatnonzero(m.data != 1)
    if other.size:
        rows = np.searchsorted(m.indptr, other, side="right") - 1
        extra = synapse_memory_bits(m.data[other], profile) - one
        bits += np.bincount(rows, weights=extra, minlength=m.shape[0]).astype(np.int64)
    return bits


def _row_totals(m: sp.csr_matrix) -> np.ndarray:
    """Per row of a count matrix, Σ counts (entries of 1 counted from indptr alone)."""
    total = np.diff(m.indptr).astype(np.int64)
    other = np.flatnonzero(m.data != 1)
    if other.size:
        rows = np.searchsorted(m.indptr, other, side="right") - 1
        total += np.bincount(rows, weights=m.data[other] - 1, minlength=m.shape[0]).astype(np.int64)
    return total


def _column_totals(m: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Per column of a count matrix: (Σ counts, number of nonzeros), from one pass over the indices."""
    nnz = np.bincount(m.indices, minlength=m.shape[1])
    total = nnz.astype(np.int64)
    other = np.flatnonzero(m.data != 1)
    if other.size:
        total += np.bincount(m.indices[other], weights=m.data[other] - 1, minlength=m.shape[1]).astype(
            np.int64
        )
    return total, nnz


# ------------------------------------------------------------------------------------------- core usage
@dataclass(frozen=True, eq=False)
class CoreUsage:
    """Resources used on each core (arrays of length n_cores, int64)."""

    neurons: np.ndarray
    synapses: np.ndarray
    memory_bits: np.ndarray
    input_axons: np.ndarray
    output_axons: np.ndarray

    def caps(self, profile: HardwareProfile) -> dict[str, int]:
        """The per-core limit for each entry of `LIMITS`."""
        return {
            "neurons": profile.neurons_per_core,
            "memory_bits": profile.synaptic_memory_bits_per_core,
            "input_axons": profile.input_axons_per_core,
            "output_axons": profile.output_axons_per_core,
        }

    def load(self, profile: HardwareProfile) -> np.ndarray:
        """Per core, the largest fraction of any limit used (> 1 means the core does not fit)."""
        return np.max([getattr(self, k) / cap for k, cap in self.caps(profile).items()], axis=0)

    def violations(self, profile: HardwareProfile) -> list[tuple[int, str, int, int]]:
        """(core, limit, value, cap) for every exceeded limit."""
        out = []
        for k, cap in self.caps(profile).items():
            for c in np.flatnonzero(getattr(self, k) > cap):
                out.append((int(c), k, int(getattr(self, k)[c]), cap))
        return out


def axon_matrix(graph: sp.csr_matrix, core_of: np.ndarray, n_cores: int) -> sp.csr_matrix:
    """Core × source matrix: entry (c, j) = synapses from source j (neuron or input) onto neurons of core c.

    Each nonzero is one input axon of core c (and, for a neuron source, one output axon of its core).
    """
    n = graph.shape[0]
    onehot = sp.csr_matrix((np.ones(n, np.int32), (core_of, np.arange(n))), shape=(n_cores, n))
    m = (onehot @ graph).tocsr()
    m.eliminate_zeros()
    return m


def _row_of(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0], dtype=np.int32), np.diff(m.indptr))


def core_usage(
    graph: sp.csr_matrix,
    core_of: np.ndarray,
    n_cores: int,
    profile: HardwareProfile,
    external: sp.csr_matrix | None = None,
    axons: sp.csr_matrix | None = None,
) -> CoreUsage:
    """Exact per-core usage of a partition (memory per nengo-loihi's estimate, one axon per distinct source)."""
    m = axon_matrix(graph, core_of, n_cores) if axons is None else axons
    rows = _row_of(m)
    synapses = np.bincount(rows, weights=m.data, minlength=n_cores)
    memory = np.bincount(rows, weights=synapse_memory_bits(m.data, profile), minlength=n_cores)
    inputs = np.diff(m.indptr).astype(np.int64)
    if external is not None and external.shape[1]:
        e = axon_matrix(external, core_of, n_cores) if external.shape[0] == graph.shape[0] else None
        if e is None:
            raise ValueError(
                f"external has {external.shape[0]} rows, expected {graph.shape[0]} (one per neuron)"
            )
        erows = _row_of(e)
        synapses = synapses + np.bincount(erows, weights=e.data, minlength=n_cores)
        memory = memory + np.bincount(erows, weights=synapse_memory_bits(e.data, profile), minlength=n_cores)
        inputs = inputs + np.diff(e.indptr)
    return CoreUsage(
        neurons=np.bincount(core_of, minlength=n_cores).astype(np.int64),
        synapses=synapses.astype(np.int64),
        memory_bits=memory.astype(np.int64),
        input_axons=inputs,
        output_axons=np.bincount(core_of[m.indices], minlength=n_cores).astype(np.int64),
    )


def _rates(rates: np.ndarray | None, n: int) -> np.ndarray:
    if rates is None:
        return np.ones(n)
    r = np.asarray(rates, dtype=float)
    if r.shape != (n,) or not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"rates must be {n} finite non-negative firing rates (one per neuron)")
    return r


def inter_core_traffic(
    graph: sp.csr_matrix,
    core_of: np.ndarray,
    rates: np.ndarray | None = None,
    axons: sp.csr_matrix | None = None,
) -> float:
    """Σ over neurons of rate × (number of distinct cores, other than its own, holding its targets).

    This is hypergraph "connectivity − 1" (the neuron's own core is always in its hyperedge): a spike is
    sent once per destination core and replicated to every target inside it.
    """
    graph = _as_counts(graph, "graph", square=True)
    core_of = np.asarray(core_of)
    r = _rates(rates, graph.shape[0])
    m = axon_matrix(graph, core_of, int(core_of.max()) + 1) if axons is None else axons
    remote = _row_of(m) != core_of[m.indices]
    return float(r[m.indices[remote]].sum())


# -------------------------------------------------------------------------------------------- partition
@dataclass(frozen=True, eq=False)
class Partition:
    """Neurons → cores. `core_of[i]` is neuron i's core (0 … n_cores − 1); `usage` is exact per-core use.

    `traffic` is the rate-weighted inter-core traffic (spike messages per unit time, per distinct destination
    core); `lower_bound` the resource lower bound on the number of cores (`resource_lower_bound`);
    `legacy_bound` the pre-issue-14 figure (`legacy_lower_bound`, not a valid bound), for comparison.
    """

    core_of: np.ndarray
    n_cores: int
    usage: CoreUsage
    traffic: float
    lower_bound: int
    method: str
    profile_name: str
    legacy_bound: int = 0

    def neurons_of(self, core: int) -> np.ndarray:
        """Indices of the neurons on `core`."""
        return np.flatnonzero(self.core_of == core)


def min_source_bits(n_synapses: np.ndarray, profile: HardwareProfile) -> np.ndarray:
    """Fewest synaptic memory bits any partition can spend on a source with `n_synapses` synapses.

    A source's synapses on one core form one input axon stored as `synapse_memory_bits` (full groups plus a
    remainder group); on different cores they form different axons. A piece of m > group-size synapses
    costs exactly its full groups plus its remainder, so the cheapest split uses pieces of at most one group
    each: min over multisets of sizes s ∈ [1, group] summing to n of Σ group_bits(s) (an unbounded
    change-making DP). This can be below `synapse_memory_bits(n)`: on Loihi 1 65 synapses cost 1,280 bits
    as one axon but 1,152 + 64 as 63 + 2 on two cores. Beyond `MIN_BITS_TABLE` synapses the bound is
    n × the cheapest bits per synapse of any group size (every piece costs at least that).
    """
    n = np.asarray(n_synapses, dtype=np.int64)
    g = profile.synapses_per_group
    sizes = np.arange(1, g + 1)
    group = synapse_memory_bits(sizes, profile).astype(np.int64)
    rate = float(np.min(group / sizes))
    top = int(min(n.max(initial=0), MIN_BITS_TABLE))
    best = np.zeros(top + 1, np.int64)
    for d in range(1, top + 1):
        k = min(g, d)
        best[d] = np.min(best[d - k : d][::-1] + group[:k])
    return np.where(n <= top, best[np.minimum(n, top)], np.ceil(n * rate - 1e-9).astype(np.int64))


def legacy_lower_bound(
    graph: sp.csr_matrix, profile: HardwareProfile, external: sp.csr_matrix | None = None
) -> int:
    """The bound used before issue 14: neurons, memory and axons over per-core limits, with each source's
    synapses priced as one axon (`synapse_memory_bits` of its total).

    Not a valid lower bound in general: splitting a source over cores can need fewer bits (see
    `min_source_bits`), so a partition can use fewer cores. Kept to compare with earlier figures.
    """
    return _bounds(_as_counts(graph, "graph", square=True), external, profile)[1]


def resource_lower_bound(
    graph: sp.csr_matrix, profile: HardwareProfile, external: sp.csr_matrix | None = None
) -> int:
    """Fewest cores any partition can use (a proof is in docs/compiler.md, "Lower bound").

    The largest of: neurons / neurons_per_core; Σ over sources of the fewest bits its synapses can take
    (`_source_needs`: split into cheapest pieces, at least one piece per neurons_per_core targets) /
    memory per core; the axons every source needs / input axons per core (external sources included);
    recurrent sources' axons / output axons per core.
    """
    return _bounds(_as_counts(graph, "graph", square=True), external, profile)[0]


def _source_needs(g: sp.csr_matrix, profile: HardwareProfile) -> tuple[int, int, int, int]:
    """Over the sources (columns) of `g`: (bits and axons every partition must spend, bits and sources
    of the legacy bound).

    A source with t distinct targets needs ≥ ceil(t / neurons_per_core) axons (cores holding targets);
    each axon costs ≥ one one-synapse group, and all its synapses ≥ `min_source_bits`.
    """
    per_src, targets = _column_totals(g)
    axons = -(-targets // profile.neurons_per_core)
    one = int(synapse_memory_bits(1, profile))
    mem = np.maximum(min_source_bits(per_src, profile), axons * one)
    legacy = synapse_memory_bits(per_src, profile)
    return int(mem.sum()), int(axons.sum()), int(legacy.sum()), int(np.count_nonzero(per_src))


def _bounds(g: sp.csr_matrix, external: sp.csr_matrix | None, profile: HardwareProfile) -> tuple[int, int]:
    """(`resource_lower_bound`, `legacy_lower_bound`) from one pass over each graph's sources."""
    mem, out, old_mem, old_out = _source_needs(g, profile)
    n_in, old_in = out, old_out
    if external is not None and external.shape[1]:
        e_mem, e_in, e_old_mem, e_old_in = _source_needs(_as_counts(external, "external", False), profile)
        mem, n_in, old_mem, old_in = mem + e_mem, n_in + e_in, old_mem + e_old_mem, old_in + e_old_in
    per_core = (
        profile.synaptic_memory_bits_per_core,
        profile.input_axons_per_core,
        profile.output_axons_per_core,
    )
    neurons = math.ceil(g.shape[0] / profile.neurons_per_core)

    def bound(*need: int) -> int:
        return max(1, neurons, *(math.ceil(x / cap) for x, cap in zip(need, per_core)))

    return bound(mem, n_in, out), bound(old_mem, old_in, old_out)


def _label(i: int, names: Sequence[str] | None) -> str:
    """Neuron i as the user knows it: its name when the caller gave names, else its index."""
    return str(i) if names is None else names[i]


def _check_fits_alone(
    graph: sp.csr_matrix,
    external: sp.csr_matrix | None,
    profile: HardwareProfile,
    names: Sequence[str] | None = None,
) -> None:
    """Raise ResourceError if some neuron cannot fit even alone on a core: then no partition exists."""
    fan_in = np.diff(graph.indptr).astype(np.int64)
    mem = _row_bits(graph, profile)
    if external is not None and external.shape[1]:
        fan_in = fan_in + np.diff(external.indptr)
        mem = mem + _row_bits(external, profile)
    targets = np.bincount(graph.indices, minlength=graph.shape[0])
    min_out = -(-targets // profile.neurons_per_core)
    for limit, need, cap, what in (
        ("input_axons", fan_in, profile.input_axons_per_core, "distinct presynaptic sources"),
        ("memory_bits", mem, profile.synaptic_memory_bits_per_core, "synaptic memory bits for its fan-in"),
        ("output_axons", min_out, profile.output_axons_per_core, "destination cores at least"),
    ):
        bad = np.flatnonzero(need > cap)
        if bad.size:
            worst = int(bad[np.argmax(need[bad])])
            shown = ", ".join(_label(int(i), names) for i in bad[:10])
            raise ResourceError(
                f"{bad.size} neuron(s) cannot fit on any {profile.name} core: neuron {_label(worst, names)} "
                f"needs {int(need[worst])} {what} but {limit} per core is {cap} (neurons: {shown}"
                f"{' …' if bad.size > 10 else ''})",
                limit=limit,
                value=int(need[worst]),
                neurons=bad.tolist(),
            )


def symmetric_edge_weights(
    graph: sp.csr_matrix, rates: np.ndarray, fan_out: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """The undirected graph METIS partitions: edge j→i weighs rate_j × synapses / fan-out_j, symmetrised,
    no self-loops, as int64 edge weights ≥ 1 with mean ~16 (aligned with `sym.data`)."""
    w = graph.astype(np.float32)
    w.data *= (rates / fan_out)[w.indices].astype(np.float32)
    sym = (w + w.T).tocsr()
    sym.data[_row_of(sym) == sym.indices] = 0  # no self-loops (cheaper than setdiag on ~1,000 small graphs)
    sym.eliminate_zeros()
    scale = 16.0 / sym.data.mean() if sym.nnz else 1.0
    return sym, np.maximum(np.rint(sym.data * scale), 1).astype(np.int64)


def _metis_parts(
    graph: sp.csr_matrix,
    n_parts: int,
    rates: np.ndarray,
    vweights: np.ndarray,
    seed: int,
    tpwgts: list[float] | None = None,
    ufactor: int = METIS_UFACTOR,
    max_edges: int | None = None,
) -> np.ndarray:
    """METIS k-way partition of the symmetrized synapse graph (pymetis).

    Edge j→i weighs rate_j × synapses / fan-out_j: a neuron whose targets all sit on one other core then
    costs about one message, as in the connectivity objective, not one per synapse. Above
    `METIS_MAX_EDGES` synapses METIS sees a uniform random sample of them (same expected cut proportions;
    it keeps METIS's time and memory bounded); the repair and all reported numbers use the full graph.
    `tpwgts` gives each part's share of the vertex weight (default equal); `max_edges` overrides the sample
    size.
    """
    n = graph.shape[0]
    if n_parts <= 1:
        return np.zeros(n, np.int64)
    g = graph
    limit = METIS_MAX_EDGES if max_edges is None else max_edges
    if g.nnz > limit:
        keep = np.random.default_rng(seed).random(g.nnz, dtype=np.float32) < limit / g.nnz
        rows = _row_of(g)[keep]
        g = sp.csr_matrix((g.data[keep], (rows, g.indices[keep])), shape=g.shape)
    fan_out = np.maximum(_column_totals(graph)[0], 1).astype(float)
    sym, ew = symmetric_edge_weights(g, rates, fan_out)
    opts = pymetis.Options(seed=seed, ufactor=ufactor)
    adjacency = pymetis.CSRAdjacency(sym.indptr.astype(np.int64), sym.indices.astype(np.int64))
    _, parts = pymetis.part_graph(
        n_parts, adjacency, vweights=vweights, eweights=ew, tpwgts=tpwgts, options=opts
    )
    return np.asarray(parts, dtype=np.int64)


def _memory_share(graph: sp.csr_matrix, core_of: np.ndarray, profile: HardwareProfile) -> np.ndarray:
    """Per neuron, its share of its core's synaptic memory: each axon's bits split over its synapses.

    The core × source counts come from one sparse product (`axon_matrix`); then, one core at a time, its
    row is scattered into a source-indexed scratch array and gathered at its members' fan-in synapses
    (no per-synapse binary search or sort).
    """
    n_cores = int(core_of.max()) + 1
    m = axon_matrix(graph, core_of, n_cores)
    order = np.argsort(core_of, kind="stable")
    bounds = np.searchsorted(core_of[order], np.arange(n_cores + 1))
    share = np.zeros(graph.shape[0])
    scratch = np.zeros(graph.shape[1], np.int64)
    for c in range(n_cores):
        members = order[bounds[c] : bounds[c + 1]]
        src = m.indices[m.indptr[c] : m.indptr[c + 1]]
        scratch[src] = m.data[m.indptr[c] : m.indptr[c + 1]]
        sub = graph[members]
        cnt = scratch[sub.indices]
        per_syn = synapse_memory_bits(cnt, profile) / cnt * sub.data
        share[members] = np.bincount(_row_of(sub), weights=per_syn, minlength=members.size)
    return np.rint(share).astype(np.int64)


def _core_shares(
    graph: sp.csr_matrix,
    external: sp.csr_matrix | None,
    members: np.ndarray,
    m_row: tuple[np.ndarray, np.ndarray],
    e_row: tuple[np.ndarray, np.ndarray] | None,
    out_per_neuron: np.ndarray,
    limit: str,
    profile: HardwareProfile,
) -> np.ndarray:
    """Per member of one core, its share (int ≥ 1) of the core's use of `limit`.

    Memory: each axon's bits split over its synapses; input axons: each axon split over its synapses;
    output axons: the neuron's own count; neurons: 1. Used as vertex weights when shedding load.
    """
    if limit == "neurons":
        return np.ones(members.size, np.int64)
    if limit == "output_axons":
        return np.maximum(out_per_neuron[members], 1).astype(np.int64)
    share = np.zeros(members.size)
    for g, row in ((graph, m_row), (external, e_row)):
        if g is None or row is None or not g.shape[1]:
            continue
        sub = g[members]
        idx, cnt = row
        pos = np.searchsorted(idx, sub.indices)
        total = cnt[pos].astype(float)
        per_syn = synapse_memory_bits(cnt[pos], profile) / total if limit == "memory_bits" else 1.0 / total
        share += np.bincount(_row_of(sub), weights=per_syn * sub.data, minlength=members.size)
    scale = 1.0 if limit == "memory_bits" else 1000.0
    return np.maximum(np.rint(share * scale), 1).astype(np.int64)


def _rows(m: sp.csr_matrix) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row of a CSR with sorted indices, its (indices, data) arrays."""
    m.sort_indices()
    return [
        (m.indices[m.indptr[c] : m.indptr[c + 1]], m.data[m.indptr[c] : m.indptr[c + 1]].astype(np.int64))
        for c in range(m.shape[0])
    ]


Row = tuple[np.ndarray, np.ndarray]  # one row of an axon matrix: (sorted sources, synapse counts)


def _axons_from_rows(rows: Sequence[Row], n_sources: int) -> sp.csr_matrix:
    """The axon matrix (core × source) whose rows are `rows`, as `axon_matrix` gives it up to index order
    (sorted here): the passes that track exact rows hand them on instead of recomputing the product."""
    indptr = np.r_[0, np.cumsum([r[0].size for r in rows])].astype(np.int64)
    indices = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int32)
    data = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0, np.int64)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_sources))


class _CoreRows:
    """The axon matrix kept as one row per core (sorted sources, synapse counts), with exact usage.

    Moving neurons recomputes only the rows of the cores that changed (`update`), not the whole
    core × source product; `span[j]` counts the cores holding source j's targets (its output axons).
    """

    def __init__(
        self,
        graph: sp.csr_matrix,
        external: sp.csr_matrix | None,
        core_of: np.ndarray,
        profile: HardwareProfile,
    ) -> None:
        self.g, self.profile = graph, profile
        self.e = None if external is None or not external.shape[1] else external
        n_cores = int(core_of.max()) + 1
        m = axon_matrix(graph, core_of, n_cores)
        self.span = np.bincount(m.indices, minlength=graph.shape[0]).astype(np.int64)
        self.rows = _rows(m)
        del m
        self.erows = None if self.e is None else _rows(axon_matrix(self.e, core_of, n_cores))
        self.syn = np.zeros(0, np.int64)
        self.mem = np.zeros(0, np.int64)
        self.inp = np.zeros(0, np.int64)
        self._grow(n_cores)
        for c in range(n_cores):
            self._measure(c)

    def _grow(self, n_cores: int) -> None:
        extra = n_cores - self.syn.size
        if extra > 0:
            self.syn, self.mem, self.inp = (
                np.r_[a, np.zeros(extra, np.int64)] for a in (self.syn, self.mem, self.inp)
            )
            empty = (np.zeros(0, np.int32), np.zeros(0, np.int64))
            self.rows += [empty] * (n_cores - len(self.rows))
            if self.erows is not None:
                self.erows += [empty] * (n_cores - len(self.erows))

    def _measure(self, c: int) -> None:
        rows = [self.rows[c]] + ([] if self.erows is None else [self.erows[c]])
        self.syn[c] = sum(int(r[1].sum()) for r in rows)
        self.mem[c] = sum(int(synapse_memory_bits(r[1], self.profile).sum()) for r in rows)
        self.inp[c] = sum(r[0].size for r in rows)

    def update(self, moved: list[tuple[int, np.ndarray]]) -> None:
        """Cores whose members changed, each with its new members: recompute their rows and usage."""
        self._grow(max(c for c, _ in moved) + 1)
        for c, members in moved:
            self.span[self.rows[c][0]] -= 1
            self.rows[c] = _source_row(self.g, members)
            self.span[self.rows[c][0]] += 1
            if self.erows is not None:
                self.erows[c] = _source_row(self.e, members)
            self._measure(c)

    def usage(self, core_of: np.ndarray) -> CoreUsage:
        n_cores = self.syn.size
        return CoreUsage(
            neurons=np.bincount(core_of, minlength=n_cores).astype(np.int64),
            synapses=self.syn.copy(),
            memory_bits=self.mem.copy(),
            input_axons=self.inp.copy(),
            output_axons=np.bincount(core_of, weights=self.span, minlength=n_cores).astype(np.int64),
        )


def _repair(
    graph: sp.csr_matrix,
    external: sp.csr_matrix | None,
    core_of: np.ndarray,
    profile: HardwareProfile,
    rates: np.ndarray,
    seed: int = 0,
    max_rounds: int = 40,
    fill: float = REPAIR_FILL,
    names: Sequence[str] | None = None,
) -> tuple[np.ndarray, _CoreRows]:
    """Shed the excess of over-full cores until every core fits; each shed piece is a coherent new core.

    A core whose largest load (fraction of its binding limit) is L > 1 is bisected by METIS on its own
    subgraph into parts of 1 − s and s of its binding resource, s = 1 − `fill` / L; the s part becomes a
    new core. Vertex weights are each neuron's share of the binding resource (`_core_shares`). Shedding
    only the excess leaves full cores plus small pieces, which `_merge_cores` then packs together; splitting
    a core in halves instead left half-full cores. Splitting changes other cores' output axons, so it repeats.
    Only the split cores' axon rows are recomputed each round (`_CoreRows`, returned with the cores).
    """
    core_of = np.unique(core_of, return_inverse=True)[1].astype(np.int64)
    state = _CoreRows(graph, external, core_of, profile)
    for round_index in range(max_rounds):
        n_cores = int(core_of.max()) + 1
        usage = state.usage(core_of)
        load = usage.load(profile)
        over = np.flatnonzero(load > 1)
        if not over.size:
            return core_of, state
        by_core = np.argsort(core_of, kind="stable")
        bounds = np.searchsorted(core_of[by_core], np.arange(n_cores + 1))
        moved: list[tuple[int, np.ndarray]] = []
        for c in over:
            members = by_core[bounds[c] : bounds[c + 1]]
            if members.size == 1:
                raise ResourceError(
                    f"neuron {_label(int(members[0]), names)} does not fit alone on a {profile.name} core "
                    f"(load {load[c]:.2f})",
                    limit="core",
                    value=float(load[c]),
                    neurons=[int(members[0])],
                )
            # Stragglers (cores still over after two rounds: shedding changed other cores' axons) shed more
            # each round, up to halving; the merge pass packs the pieces again. Without this, a few cores
            # 2–5 % over took ~40 rounds at 1 M neurons, each a full pass over the synapses.
            escalate = STRAGGLER_SHED * max(0, round_index - 1)
            shed = min(0.5, max(1.0 - fill / load[c], 1.5 / members.size, escalate))
            parts = _shed_parts(graph, external, state, usage, int(c), members, shed, rates, seed)
            core_of[members[parts == 1]] = n_cores + len(moved) // 2
            moved += [(int(c), members[parts == 0]), (n_cores + len(moved) // 2, members[parts == 1])]
        state.update(moved)
    raise ResourceError(
        f"partition repair did not converge in {max_rounds} rounds on {profile.name}",
        limit="repair",
        value=max_rounds,
    )


def _shed_parts(
    graph: sp.csr_matrix,
    external: sp.csr_matrix | None,
    state: _CoreRows,
    usage: CoreUsage,
    c: int,
    members: np.ndarray,
    shed: float,
    rates: np.ndarray,
    seed: int,
) -> np.ndarray:
    """METIS bisection of core c's members into shares 1 − `shed` (0) and `shed` (1) of its binding limit."""
    caps = usage.caps(state.profile)
    limit = max(caps, key=lambda k: getattr(usage, k)[c] / caps[k])
    e_row = None if state.erows is None else state.erows[c]
    vw = _core_shares(graph, external, members, state.rows[c], e_row, state.span, limit, state.profile)
    sub = graph[members][:, members]
    parts = _metis_parts(sub, 2, rates[members], vw, seed, tpwgts=[1.0 - shed, shed], ufactor=1)
    if parts.min() == parts.max():  # METIS kept them together (e.g. no edges): shed by index
        parts = (np.arange(members.size) >= members.size * (1 - shed)).astype(np.int64)
    return parts


def _merge_cores(
    graph: sp.csr_matrix,
    external: sp.csr_matrix | None,
    core_of: np.ndarray,
    profile: HardwareProfile,
    rates: np.ndarray,
    candidates: int = 12,
    rows: tuple[list[Row], list[Row] | None] | None = None,
) -> tuple[np.ndarray, CoreUsage, sp.csr_matrix]:
    """Merge pairs of cores whose combined exact usage fits, most mutual traffic first.

    Returns the relabelled cores, the tracked usage (exact except output axons, which are upper bounds) and
    the axon matrix of the result (from the merged rows, which are exact). `rows`: the exact (graph,
    external) rows of the axon matrices of `core_of`, if a previous pass tracked them (one per core, every
    core non-empty); otherwise they are computed.

    Emptiest cores first, each tries up to `candidates` partners: those it exchanges the most traffic with,
    then the emptiest. The merged usage is exact: neurons add; per source the synapse counts on the two
    cores add before the memory estimate (`synapse_memory_bits`); input axons are the union of sources;
    output axons are out_a + out_b minus the neurons of a ∪ b that reach both. Other cores only lose output
    axons (a neuron reaching both a and b now needs one), so their tracked counts stay upper bounds.
    """
    n = graph.shape[0]
    core_of = np.unique(core_of, return_inverse=True)[1].astype(np.int64)
    n_cores = int(core_of.max()) + 1
    has_external = external is not None and external.shape[1] > 0
    if rows is not None and len(rows[0]) == n_cores and (rows[1] is not None) == has_external:
        rows, erows = list(rows[0]), None if rows[1] is None else list(rows[1])
        m = _axons_from_rows(rows, graph.shape[1])
    else:
        m = axon_matrix(graph, core_of, n_cores)
        rows = _rows(m)
        erows = _rows(axon_matrix(external, core_of, n_cores)) if has_external else None
    usage = core_usage(graph, core_of, n_cores, profile, external, axons=m)
    if n_cores < 2:
        return core_of, usage, m
    caps = usage.caps(profile)
    neurons = usage.neurons.copy()
    mem = usage.memory_bits.astype(np.int64).copy()
    inp = usage.input_axons.copy()
    out = usage.output_axons.copy()
    # symmetric core × core traffic for partner choice
    t = m.copy()
    t.data = rates[t.indices].astype(float)
    src = sp.csr_matrix((np.ones(n), (np.arange(n), core_of)), shape=(n, n_cores))
    traffic = (t @ src).tolil()
    traffic = (traffic + traffic.T).tolil()
    label = np.arange(n_cores)  # current core of each original core

    def load(c: int) -> float:
        return max(
            neurons[c] / caps["neurons"],
            mem[c] / caps["memory_bits"],
            inp[c] / caps["input_axons"],
            out[c] / caps["output_axons"],
        )

    def union(ra: tuple[np.ndarray, np.ndarray], rb: tuple[np.ndarray, np.ndarray]):
        idx, inv = np.unique(np.concatenate([ra[0], rb[0]]), return_inverse=True)
        return idx, np.bincount(inv, weights=np.concatenate([ra[1], rb[1]])).astype(np.int64)

    alive = np.ones(n_cores, bool)
    loads = np.array([load(c) for c in range(n_cores)])

    def partner(a: int) -> tuple | None:
        """The first of a's candidate partners that fits with it, with the merged usage; else None."""
        nbr = np.asarray(traffic.rows[a], int)
        by_traffic = nbr[np.argsort(-np.asarray(traffic.data[a], float), kind="stable")].tolist()
        emptiest = np.argsort(loads, kind="stable")[: candidates + 1].tolist()
        tried = 0
        for b in dict.fromkeys(by_traffic[:candidates] + emptiest):
            # merging saves a few % at most (shared headers and axons), so loads summing far above 1 fail
            if (
                b == a
                or not alive[b]
                or neurons[a] + neurons[b] > caps["neurons"]
                or loads[a] + loads[b] > 1.15
            ):
                continue
            if tried >= 2 * candidates:
                return None
            tried += 1
            idx, cnt = union(rows[a], rows[b])
            n_in = idx.size
            bits = int(synapse_memory_bits(cnt, profile).sum())
            ext_row = None
            if erows is not None:
                ext_row = union(erows[a], erows[b])
                n_in += ext_row[0].size
                bits += int(synapse_memory_bits(ext_row[1], profile).sum())
            common = np.intersect1d(rows[a][0], rows[b][0], assume_unique=True)
            n_out = out[a] + out[b] - int(np.isin(label[core_of[common]], (a, b)).sum())
            if bits <= caps["memory_bits"] and n_in <= caps["input_axons"] and n_out <= caps["output_axons"]:
                return b, (idx, cnt), ext_row, bits, n_in, n_out
        return None

    for a in np.argsort(loads, kind="stable"):
        while alive[a] and loads[a] <= MERGE_BELOW:  # keep absorbing partners while a has room
            found = partner(a)
            if found is None:
                break
            b, rows[a], ext_row, mem[a], inp[a], out[a] = found
            if erows is not None:
                erows[a] = ext_row
            neurons[a] += neurons[b]
            alive[b] = False
            loads[a], loads[b] = load(a), np.inf
            label[label == b] = a
            for k, v in zip(traffic.rows[b], traffic.data[b]):
                if k != a:
                    traffic[a, k] = traffic[a, k] + v
                    traffic[k, a] = traffic[k, a] + v
    keep = np.flatnonzero(alive)
    tracked = CoreUsage(
        neurons=neurons[keep],
        synapses=np.array([rows[c][1].sum() + (0 if erows is None else erows[c][1].sum()) for c in keep]),
        memory_bits=mem[keep],
        input_axons=inp[keep],
        output_axons=out[keep],
    )
    axons = _axons_from_rows([rows[c] for c in keep], graph.shape[1])
    return np.searchsorted(keep, label[core_of]).astype(np.int64), tracked, axons


def _union_rows(
    ra: tuple[np.ndarray, np.ndarray], rb: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Sum two (sorted sources, synapse counts) rows of an axon matrix into one."""
    idx, inv = np.unique(np.concatenate([ra[0], rb[0]]), return_inverse=True)
    return idx, np.bincount(inv, weights=np.concatenate([ra[1], rb[1]])).astype(np.int64)


def _source_row(g: sp.csr_matrix, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted sources, synapse counts) of the fan-in of `members`: their row of an axon matrix."""
    sub = g[members]
    idx, inv = np.unique(sub.indices, return_inverse=True)
    return idx, np.bincount(inv, weights=sub.data, minlength=idx.size).astype(np.int64)


class _Dissolver:
    """Dissolve under-full cores: move all of a core's neurons into other cores that have room, or none.

    Tracked per core: neurons, memory and input axons exactly (rows of the axon matrix are unioned as in
    `_merge_cores`), output axons as upper bounds. Per neuron, `span` bounds its destination cores: a moved
    neuron's targets on the dissolved core may each land on a new core (+ its synapses there), and a
    source gaining an axon on a core gains ≤ 1 destination. So every accepted move keeps all cores valid.
    """

    def __init__(self, state: _CoreRows, core_of: np.ndarray) -> None:
        """Start from `_repair`'s exact rows (taken over, not copied) for the partition `core_of`."""
        self.g, self.e, self.profile = state.g, state.e, state.profile
        self.core_of = core_of.copy()
        use = state.usage(self.core_of)
        n_cores = use.neurons.size
        self.caps = use.caps(self.profile)
        self.rows, self.erows, self.span = state.rows, state.erows, state.span
        self.neurons, self.mem = use.neurons, use.memory_bits
        self.inp, self.out = use.input_axons, use.output_axons
        order = np.argsort(self.core_of, kind="stable")
        bounds = np.searchsorted(self.core_of[order], np.arange(n_cores + 1))
        self.members = [order[bounds[c] : bounds[c + 1]] for c in range(n_cores)]
        self.alive = np.ones(n_cores, bool)
        self.journal: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def load(self) -> np.ndarray:
        """Per core, the largest fraction of any limit (tracked; dead cores +inf)."""
        c = self.caps
        load = np.max(
            [
                self.neurons / c["neurons"],
                self.mem / c["memory_bits"],
                self.inp / c["input_axons"],
                self.out / c["output_axons"],
            ],
            axis=0,
        )
        return np.where(self.alive, load, np.inf)

    def _move(self, c: int, s: np.ndarray, to_d: np.ndarray, commit: bool) -> bool:
        """Whether neurons `s` (synapses `to_d` each onto their dissolving core) fit on core `c`; if
        `commit`, move them."""
        add = _source_row(self.g, s)
        idx, cnt = _union_rows(self.rows[c], add)
        bits, n_in = int(synapse_memory_bits(cnt, self.profile).sum()), idx.size
        ext_row = None
        if self.e is not None:
            ext_row = _union_rows(self.erows[c], _source_row(self.e, s))
            bits += int(synapse_memory_bits(ext_row[1], self.profile).sum())
            n_in += ext_row[0].size
        new_src = np.setdiff1d(add[0], self.rows[c][0], assume_unique=True)
        gain = np.bincount(self.core_of[new_src], minlength=self.out.size)
        gain[c] += int(self.span[s].sum() + to_d.sum())
        caps = self.caps
        if (
            self.neurons[c] + s.size > caps["neurons"]
            or bits > caps["memory_bits"]
            or n_in > caps["input_axons"]
            or ((self.out + gain)[gain > 0] > caps["output_axons"]).any()
        ):
            return False
        if commit:
            self.rows[c], self.mem[c], self.inp[c] = (idx, cnt), bits, n_in
            if ext_row is not None:
                self.erows[c] = ext_row
            self.neurons[c] += s.size
            self.out += gain
            self.journal.append((s, self.core_of[s].copy(), to_d, new_src))  # per-neuron undo
            self.span[s] += to_d
            self.span[new_src] += 1
            self.core_of[s] = c
            self.members[c] = np.concatenate([self.members[c], s])
        return True

    def _to_d(self, d: int, neurons: np.ndarray) -> np.ndarray:
        """Per neuron, its synapses onto core d (row d of the axon matrix)."""
        idx, cnt = self.rows[d]
        if not idx.size:
            return np.zeros(neurons.size, np.int64)
        pos = np.minimum(np.searchsorted(idx, neurons), idx.size - 1)
        return np.where(idx[pos] == neurons, cnt[pos], 0).astype(np.int64)

    def _place(self, d: int, c: int, left: np.ndarray) -> np.ndarray:
        """Move the largest prefix of `left` (most attached to core c first) that fits on c; return the rest."""
        rows = self.g[left]
        on_c = self.core_of[rows.indices] == c
        attach = np.bincount(_row_of(rows)[on_c], weights=rows.data[on_c], minlength=left.size)
        left = left[np.argsort(-attach, kind="stable")]
        load = self.load()
        t = left.size if (1.0 - load[c]) >= load[d] else max(1, int(left.size * (1.0 - load[c]) / load[d]))
        while t:
            if self._move(c, left[:t], self._to_d(d, left[:t]), commit=True):
                return left[t:]
            t = int(t * 0.6)
        return left

    def _save(self) -> tuple:
        """Per-core state copied (small); per-neuron arrays are restored from `journal` instead."""
        self.journal = []
        lists = (list(self.rows), None if self.erows is None else list(self.erows), list(self.members))
        return (self.out.copy(), self.neurons.copy(), self.mem.copy(), self.inp.copy(), *lists)

    def _restore(self, saved: tuple) -> None:
        for s, cores, to_d, new_src in reversed(self.journal):
            self.core_of[s] = cores
            self.span[s] -= to_d
            self.span[new_src] -= 1
        self.journal = []
        (self.out, self.neurons, self.mem, self.inp, self.rows, self.erows, self.members) = saved

    def dissolve(self, d: int, candidates: int = 8) -> bool:
        """Move every neuron of core d elsewhere (most-attached cores first) and kill d; or change nothing."""
        left = self.members[d]
        affinity = np.bincount(self.core_of[self.g[left].indices], minlength=self.alive.size).astype(float)
        affinity[d] = -1.0
        affinity[~self.alive] = -1.0
        nearest = np.argsort(-affinity, kind="stable")[:candidates].tolist()
        emptiest = np.argsort(self.load(), kind="stable")[: candidates // 2 + 1].tolist()
        saved = self._save()
        for c in dict.fromkeys(nearest + emptiest):
            if c == d or not self.alive[c] or affinity[c] < 0:
                continue
            left = self._place(d, c, left)
            if not left.size:
                self.alive[d], self.members[d] = False, left
                self.neurons[d] = self.mem[d] = self.inp[d] = self.out[d] = 0
                return True
        self._restore(saved)
        return False

    def run(self, below: float = 0.9, patience: int = 6) -> np.ndarray:
        """Dissolve cores with load ≤ `below`, emptiest first, until `patience` attempts in a row fail;
        return the relabelled cores."""
        fails = 0
        for d in np.argsort(self.load(), kind="stable"):
            if fails >= patience:
                break
            if self.load()[d] > below:  # filled meanwhile (or dead)
                continue
            fails = 0 if self.dissolve(int(d)) else fails + 1
        keep = np.flatnonzero(self.alive)
        return np.searchsorted(keep, self.core_of).astype(np.int64)

    def kept_rows(self) -> tuple[list[Row], list[Row] | None]:
        """The exact axon-matrix rows (graph, external) of the cores `run` kept, in its labels' order."""
        keep = np.flatnonzero(self.alive).tolist()
        return [self.rows[c] for c in keep], None if self.erows is None else [self.erows[c] for c in keep]


class _ContiguousSplits:
    """Exact per-core usage of the equal contiguous split into any k cores, in O(synapses) per k.

    One CSC copy of the graph (each source's targets sorted by index) is made once. For a split k,
    core(i) = i·k // n is monotone in i, so the (source, core) pairs of a source are the runs of equal
    cores along its sorted targets: a run start is an input axon, the run's synapse sum sizes its memory,
    and the number of runs of source j is its output axons. Work is chunked to bound memory.
    """

    CHUNK = 8_000_000  # synapses per chunk

    def __init__(
        self, graph: sp.csr_matrix, external: sp.csr_matrix | None, profile: HardwareProfile
    ) -> None:
        self.n = graph.shape[0]
        self.profile = profile
        self.sources: list[tuple[sp.csc_matrix, bool]] = []
        for g, recurrent in ((graph, True), (external, False)):
            if g is not None and g.shape[1] and g.nnz:
                csc = g.tocsc()
                csc.sort_indices()
                self.sources.append((csc, recurrent))
        most = max([int(csc.sum(axis=0).max()) for csc, _ in self.sources], default=0)
        self.bits = synapse_memory_bits(np.arange(most + 1), profile)  # memory by synapse count, looked up

    def core_of(self, k: int) -> np.ndarray:
        return (np.arange(self.n, dtype=np.int64) * k // self.n).astype(np.int32)

    def usage(self, k: int) -> CoreUsage:
        """Exact `CoreUsage` of the split into k equal contiguous ranges (same numbers as `core_usage`)."""
        tbl = self.core_of(k)
        syn = np.zeros(k)
        mem = np.zeros(k)
        inp = np.zeros(k, np.int64)
        out = np.zeros(k, np.int64)
        for csc, recurrent in self.sources:
            ptr = csc.indptr
            n_src = csc.shape[1]
            j0 = 0
            while j0 < n_src:
                j1 = int(np.searchsorted(ptr, ptr[j0] + self.CHUNK, side="right")) - 1
                j1 = min(n_src, max(j1, j0 + 1))
                a, b = int(ptr[j0]), int(ptr[j1])
                if b > a:
                    c = tbl[csc.indices[a:b]]
                    new = np.empty(b - a, bool)
                    new[0] = True
                    np.not_equal(c[1:], c[:-1], out=new[1:])
                    heads = ptr[j0:j1] - a
                    new[heads[heads < b - a]] = True  # each source starts a new run
                    starts = np.flatnonzero(new)
                    cnt = np.add.reduceat(csc.data[a:b], starts)
                    cc = c[starts]
                    syn += np.bincount(cc, weights=cnt, minlength=k)
                    mem += np.bincount(cc, weights=self.bits[cnt], minlength=k)
                    inp += np.bincount(cc, minlength=k)
                    if recurrent:
                        runs = np.diff(np.searchsorted(starts, ptr[j0 : j1 + 1] - a))
                        out += np.bincount(tbl[j0:j1], weights=runs, minlength=k).astype(np.int64)
                j0 = j1
        return CoreUsage(
            neurons=np.bincount(tbl, minlength=k).astype(np.int64),
            synapses=syn.astype(np.int64),
            memory_bits=mem.astype(np.int64),
            input_axons=inp,
            output_axons=out,
        )


def _contiguous(
    graph: sp.csr_matrix, external: sp.csr_matrix | None, profile: HardwareProfile, lower: int
) -> np.ndarray:
    """nengo-loihi-style baseline: the fewest equal contiguous index ranges such that every core fits.

    Searches k upward from `lower` by jumps of the max load (load falls roughly as 1/k), then narrows the
    last failing / first fitting pair by interpolation on log load, falling back to bisection. Load is not
    monotone in k, so this finds a small fitting k, not always the least. Each k costs one pass over the
    synapses (`_ContiguousSplits`).
    """
    n = graph.shape[0]
    splits = _ContiguousSplits(graph, external, profile)

    def load(k: int) -> float:
        return float(splits.usage(k).load(profile).max())

    lo, hi = lower - 1, lower  # lo fails (or is below the bound), hi is being tried
    l_lo, l_hi = math.inf, load(hi)
    while l_hi > 1:
        if hi == n:
            raise ResourceError(f"contiguous split cannot fit {profile.name}", limit="core", value=n)
        lo, l_lo = hi, l_hi
        hi = min(n, max(hi + 1, math.ceil(hi * l_hi * 1.02)))
        l_hi = load(hi)
    halve = False
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if not halve and math.isfinite(l_lo) and l_lo > l_hi > 0:
            slope = math.log(l_lo / l_hi) / math.log(hi / lo)  # load ∝ k^-slope between lo and hi
            guess = math.ceil(lo * l_lo ** (1.0 / slope)) if slope > 0 else mid
            mid = min(hi - 1, max(lo + 1, guess))
        width = hi - lo
        l_mid = load(mid)
        if l_mid <= 1:
            hi, l_hi = mid, l_mid
        else:
            lo, l_lo = mid, l_mid
        halve = hi - lo > width // 2  # interpolation did not halve the interval: bisect next
    return splits.core_of(hi).astype(np.int64)


def _better(a: Partition, b: Partition) -> Partition:
    """The better of two valid partitions: fewer cores first, then lower traffic (ties keep `a`)."""
    return a if (a.n_cores, a.traffic) <= (b.n_cores, b.traffic) else b


def _finish(
    g: sp.csr_matrix,
    ext: sp.csr_matrix | None,
    core_of: np.ndarray,
    r: np.ndarray,
    profile: HardwareProfile,
    lower: tuple[int, int],
    method: str,
    axons: sp.csr_matrix | None = None,
) -> Partition:
    """The `Partition` of `core_of` with its exact usage and traffic (`axons`: its axon matrix, if known)."""
    n_cores = int(core_of.max()) + 1 if core_of.size else 0
    m = axon_matrix(g, core_of, n_cores) if axons is None else axons
    usage = core_usage(g, core_of, n_cores, profile, ext, axons=m)
    return Partition(
        core_of=core_of,
        n_cores=n_cores,
        usage=usage,
        traffic=inter_core_traffic(g, core_of, r, axons=m),
        lower_bound=lower[0],
        method=method,
        profile_name=profile.name,
        legacy_bound=lower[1],
    )


def _metis(
    g: sp.csr_matrix,
    ext: sp.csr_matrix | None,
    profile: HardwareProfile,
    r: np.ndarray,
    lower: int,
    seed: int,
    names: Sequence[str] | None = None,
    dissolve: bool = True,
) -> tuple[np.ndarray, sp.csr_matrix]:
    """METIS k-way re-aimed by measured need and memory shares (`_aim`); then `_repair`, `_Dissolver`
    (the shed pieces into cores with room) and `_merge_cores`. Returns the cores and their axon matrix
    (built from the exact rows these passes track, not recomputed)."""
    parts = _aim(g, ext, profile, r, lower, seed)
    core_of, state = _repair(g, ext, parts, profile, r, seed, names=names)
    rows = state.rows, state.erows
    if dissolve and core_of.max() > 0:
        dissolver = _Dissolver(state, core_of)
        core_of = dissolver.run()
        rows = dissolver.kept_rows()
    del state
    core_of, _, axons = _merge_cores(g, ext, core_of, profile, r, rows=rows)
    return core_of, axons


def _aim(
    g: sp.csr_matrix,
    ext: sp.csr_matrix | None,
    profile: HardwareProfile,
    r: np.ndarray,
    lower: int,
    seed: int,
) -> np.ndarray:
    """METIS k-way at k = `lower`, then re-run at k = total need / `AIM_FILL` until k settles.

    Split fan-outs cost memory headers and axons that the bound cannot see. When memory binds, each re-run
    weighs every neuron by its measured share of its core's memory (headers included, `_memory_share`)
    and takes k from their total; otherwise k follows the measured total of the binding limit.
    """
    n = g.shape[0]
    fan_in_mem = _row_totals(g) * profile.bits_per_synapse
    memory_bound = fan_in_mem.sum() / profile.synaptic_memory_bits_per_core > n / profile.neurons_per_core
    vweights = (
        (fan_in_mem + profile.bits_per_synapse).astype(np.int64) if memory_bound else np.ones(n, np.int64)
    )
    n_parts = min(n, lower)
    rounds = REAIM_ROUNDS if g.nnz <= REWEIGHT_MAX_EDGES else REAIM_ROUNDS_LARGE
    # on large graphs the first run only measures memory shares for the re-run: a smaller sample will do
    first = AIM_FIRST_EDGES if rounds and memory_bound else None
    parts = _metis_parts(g, n_parts, r, vweights, seed, max_edges=first)
    for _ in range(rounds):
        if memory_bound:
            vweights = np.maximum(_memory_share(g, parts, profile), 1)
            mem = (
                np.bincount(parts, weights=vweights, minlength=n_parts)
                / profile.synaptic_memory_bits_per_core
            )
            need = max(mem.sum(), n / profile.neurons_per_core)
            fits = mem.max() <= 1 and np.bincount(parts).max() <= profile.neurons_per_core
        else:
            use = core_usage(g, parts, n_parts, profile, ext)
            need = max(float(getattr(use, k).sum()) / cap for k, cap in use.caps(profile).items())
            fits = use.load(profile).max() <= 1
        k = min(n, math.ceil(need / AIM_FILL))
        if fits or k <= n_parts:  # valid already (more cores cannot help), or settled (never shrink k:
            break  # on axon-bound graphs the need moves with k and k oscillated)
        n_parts = k
        parts = _metis_parts(g, n_parts, r, vweights, seed)
    return parts


def partition(
    graph: sp.spmatrix,
    profile: HardwareProfile | str = "loihi1",
    rates: np.ndarray | None = None,
    method: str = "metis",
    seed: int = 0,
    external: sp.spmatrix | None = None,
    names: Sequence[str] | None = None,
) -> Partition:
    """Assign neurons to cores so that every core fits the profile's limits, minimizing inter-core traffic.

    `graph`: post × pre synapse counts; `rates`: per-neuron firing rates weighting the traffic (default
    uniform); `external`: n_neurons × n_inputs synapse counts from external inputs (they use input axons
    and memory); `names`: neuron names for error messages (default: indices). Methods:

    - `"metis"`: METIS k-way with k = the resource lower bound, re-aimed by the mean load if a core
      overflows; then `_repair` sheds each over-full core's excess and `_merge_cores` packs under-full
      cores together.
    - `"contiguous"`: the nengo-loihi-style baseline, the fewest equal contiguous index ranges that fit.
    - `"best"`: both, returning the better (fewer cores, then lower traffic); so it is never worse than the
      baseline. `Partition.method` names the winner.

    Raises `ResourceError` if some neuron cannot fit on any core.
    """
    profile = load_profile(profile)
    g = _as_counts(graph, "graph", square=True)
    ext = None if external is None else _as_counts(external, "external", square=False)
    if ext is not None and ext.shape[0] != g.shape[0]:
        raise ValueError(f"external has {ext.shape[0]} rows, expected {g.shape[0]} (one per neuron)")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}")
    n = g.shape[0]
    r = _rates(rates, n)
    if names is not None and len(names) != g.shape[0]:
        raise ValueError(f"names has {len(names)} entries, expected {g.shape[0]} (one per neuron)")
    _check_fits_alone(g, ext, profile, names)
    lower = _bounds(g, ext, profile)
    start = max(lower)  # where the k searches start (a heuristic; `lower[0]` is the valid bound)
    if method == "contiguous":
        return _finish(g, ext, _contiguous(g, ext, profile, start), r, profile, lower, "contiguous")
    core_of, axons = _metis(g, ext, profile, r, start, seed, names)
    best = _finish(g, ext, core_of, r, profile, lower, "metis", axons)
    if (best.usage.load(profile) > 1).any():  # never seen: the dissolve pass's tracking is conservative
        core_of, axons = _metis(g, ext, profile, r, start, seed, names, dissolve=False)
        best = _finish(g, ext, core_of, r, profile, lower, "metis", axons)
    if method == "best":
        try:
            base = _finish(g, ext, _contiguous(g, ext, profile, start), r, profile, lower, "contiguous")
        except ResourceError:  # no equal contiguous split fits (e.g. a hub overflows every range)
            return best
        best = _better(best, base)
    return best
