"""Emit: a `FixedPointNetwork` plus a core assignment → a `LavaPlan`, the Lava process graph as plain data.

One LIF (or `GapLIF`) process per core; one Dense per weight block (recurrent, gap, input) and per (source
core, destination core) pair with a nonzero weight. Pure NumPy/SciPy, no Lava import:
`wormchip.backends.lava_runner.LavaGraph` builds the processes from the plan.

Two Lava details keep a split graph bit-exact with one Dense per block (the emulator's semantics):
- Truncation. Lava derives the sign mode per Dense matrix, and a sub-block of a mixed block can be single-sign
  (then −256 would clip to −255 and the truncation shift would change). So sub-blocks carry the whole block's
  *effective* weights (`WeightBlock.effective_weights()`) and the whole block's sign mode, which Lava is told
  explicitly; clipping and truncation are idempotent, so Lava's own pass over a sub-block is a no-op.
- Exponent rounding. Dense shifts by `weight_exp` after summing, and for `weight_exp < 0`
  `(a + b) >> k ≠ (a >> k) + (b >> k)`. Where a block with a negative exponent reaches one destination core
  from several source cores, those Dense send unshifted sums (`relay=True`, exponent 0) into one relay per
  (block, destination core), which sums them in int32 and shifts once. (`weight_exp ≥ 0` is a left shift,
  exact modulo 2³² like the int32 channels, so no relay is needed.)

Plastic blocks (`PlasticBlock`, stdp) split the same way, one `LearningDense` per (block, source core,
destination core) with present synapses (`PlasticSubBlock`), pre spikes from the source core and post
(back-propagated) spikes from the destination core. Every piece keeps the block's `rng_seed`: Lava draws one
trace-decay random number per step and trace stream (not one per neuron) and one weight-rounding number per
step for the whole matrix (`ConnVarRandom`, always seed 2), so each piece's traces and roundings are the
unsplit block's, entry for entry, and the split learns exactly as one block (the emulator's semantics).
Three-factor blocks (`RewardPlasticBlock`, reward_stdp) split the same way (`RewardSubBlock`, presence = the
tag_2 mask); each (block, destination core) also gets one trace process fed by that core's spikes, whose y1
and D go to every piece of the block on that core (its state is per post neuron and draws no random numbers,
so splitting it by destination core is exact too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from wormchip.mappers.fixed_point import BiasChange, FixedPointNetwork, PlasticBlock, SignMode, WeightBlock

# `FixedPointNetwork` fields: weights, gap_weights, graded_weights, input_weights, conductance_weights
KINDS = ("recurrent", "gap", "graded", "input", "conductance")
GRADED_KINDS = ("gap", "graded")  # graded-message Dense (v, activation) into GapLIF's gap_in
INPUT_CORE = -1  # `SubBlock.src_core` of input blocks: the spike source, not a core
# Per-neuron `FixedPointNetwork` arrays each core's LIF process gets a slice of (`CorePlan` fields).
PER_NEURON = (
    "du", "dv", "vth", "bias_mant", "bias_exp", "refractory", "v_reset",
    "dw", "adapt_b", "w_shift", "graded_mu", "graded_slope_mant", "graded_slope_shift", "v_op",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class CorePlan:
    """One core's LIF process: its neurons (sorted global indices) and their parameter slices (`dw`, `adapt_b`,
    `w_shift`: `GapLIF`'s adaptation register; `graded_*`: its graded activation; `v_op`: its conductance
    register's operating point; None means zeros)."""

    core: int
    neurons: np.ndarray
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    refractory: np.ndarray
    v_reset: np.ndarray
    bias_schedule: tuple[BiasChange, ...]
    dw: np.ndarray | None = None
    adapt_b: np.ndarray | None = None
    w_shift: np.ndarray | None = None
    graded_mu: np.ndarray | None = None
    graded_slope_mant: np.ndarray | None = None
    graded_slope_shift: np.ndarray | None = None
    v_op: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in (
            "dw", "adapt_b", "w_shift", "graded_mu", "graded_slope_mant", "graded_slope_shift", "v_op"
        ):  # fmt: skip
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(self.neurons.size, dtype=np.int64))

    @property
    def size(self) -> int:
        return int(self.neurons.size)


@dataclass(frozen=True, eq=False)
class SubBlock:
    """One Dense: block `block` of `kind` restricted to dst_core's rows × src_core's columns.

    `weights` are effective (post-truncation) weights, `sign_mode` the whole block's (tell Lava explicitly).
    With `relay`, the Dense uses exponent 0 and a relay per (kind, block, dst_core) applies `weight_exp`.
    `delay` > 0 (the block's, in steps): a Lava `DelayDense` instead of a Dense; every sub-block of a block
    shares it, so a relay still sums outputs that left their cores at the same step.
    """

    kind: str
    block: int
    src_core: int
    dst_core: int
    weights: sp.csr_matrix
    weight_exp: int
    num_weight_bits: int
    sign_mode: SignMode
    relay: bool = False
    delay: int = 0

    @property
    def dense_weight_exp(self) -> int:
        """The exponent the Dense itself applies (0 when a relay shifts instead)."""
        return 0 if self.relay else self.weight_exp


@dataclass(frozen=True, eq=False)
class PlasticSubBlock:
    """One `LearningDense`: plastic block `block` restricted to dst_core's rows × src_core's columns.

    `rows`, `cols`: global neuron indices; `weights`, `tag`: the block's dense slices. `rule` is the whole
    block (rule, traces, `rng_seed`, sign, exponent). With `relay`, the LearningDense uses exponent 0 and the
    relay of ("plastic", block, dst_core) applies `weight_exp` (as for a `SubBlock`)."""

    block: int
    src_core: int
    dst_core: int
    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    tag: np.ndarray
    rule: PlasticBlock
    relay: bool = False

    kind = "plastic"

    @property
    def weight_exp(self) -> int:
        return self.rule.weight_exp

    @property
    def dense_weight_exp(self) -> int:
        """The exponent the LearningDense itself applies (0 when a relay shifts instead)."""
        return 0 if self.relay else self.rule.weight_exp


class RewardSubBlock(PlasticSubBlock):
    """One three-factor `LearningDense` piece: `rule` is the whole `RewardPlasticBlock`, `tag` its tag_2
    (presence mask) slice; y1 and D come from the trace process of (block, dst_core)."""

    kind = "reward"


@dataclass(frozen=True, eq=False)
class LavaPlan:
    """The Lava process graph of a `FixedPointNetwork` on cores, as data (see the module docstring)."""

    n_neurons: int
    n_inputs: int
    cores: tuple[CorePlan, ...]
    sub_blocks: tuple[SubBlock, ...]
    gap_lif: bool
    gap_shift: int
    plastic: tuple[PlasticSubBlock, ...] = ()
    conductance_shift: int = 0
    reward: tuple[RewardSubBlock, ...] = ()

    def relays(self) -> dict[tuple[str, int, int], int]:
        """(kind, block, dst_core) → right shift, for every relay the graph needs."""
        return {
            (s.kind, s.block, s.dst_core): -s.weight_exp
            for s in (*self.sub_blocks, *self.plastic, *self.reward)
            if s.relay
        }

    def reward_traces(self) -> list[tuple[int, int]]:
        """(reward block, destination core) of every trace process, in plan order."""
        return list(dict.fromkeys((s.block, s.dst_core) for s in self.reward))

    @property
    def n_processes(self) -> int:
        """LIF + Dense + LearningDense + trace + relay processes (the graph adds a spike source and recorders)."""
        return (
            len(self.cores)
            + len(self.sub_blocks)
            + len(self.plastic)
            + len(self.reward)
            + len(self.reward_traces())
            + len(self.relays())
        )


def truncate(weights: sp.spmatrix, mode: SignMode, num_weight_bits: int) -> sp.csr_matrix:
    """Lava's clip + truncation of a Dense with an explicit sign mode (`lava_dense_weights` with `mode` given)."""
    w = sp.csr_matrix(weights, dtype=np.int64, copy=True)
    data = -w.data if mode is SignMode.INHIBITORY else w.data
    mixed = int(mode is SignMode.MIXED)
    t = 8 - num_weight_bits + mixed
    data = (np.clip(data, -256 * mixed, 255) >> t) << t
    w.data = -data if mode is SignMode.INHIBITORY else data
    w.eliminate_zeros()
    return w


def blocks_of(net: FixedPointNetwork, kind: str) -> tuple[WeightBlock, ...]:
    """The network's weight blocks of one `KINDS` entry."""
    return {
        "recurrent": net.weights,
        "gap": net.gap_weights,
        "graded": net.graded_weights,
        "input": net.input_weights,
        "conductance": net.conductance_weights,
    }[kind]


def _core_of(net: FixedPointNetwork, core_of: np.ndarray | None) -> np.ndarray:
    n = net.n_neurons
    if core_of is None:
        return np.zeros(n, dtype=np.int64)
    arr = np.asarray(core_of)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise ValueError(f"core_of must be {n} integers (one core per neuron), got {arr.dtype} {arr.shape}")
    if n and arr.min() < 0:
        raise ValueError(f"core_of has a negative core {int(arr.min())}")
    return arr.astype(np.int64)


def emit(net: FixedPointNetwork, core_of: np.ndarray | None = None) -> LavaPlan:
    """Plan one LIF process per core and one Dense per (block, source core, destination core) with weights.

    `core_of[i]` is neuron i's core (`Partition.core_of`); None puts every neuron on one core (core 0).
    Cores are the distinct values of `core_of`, in increasing order.
    """
    owner = _core_of(net, core_of)
    cores = []
    for c in np.unique(owner):
        idx = np.flatnonzero(owner == c)
        cores.append(
            CorePlan(
                core=int(c),
                neurons=idx,
                **{name: getattr(net, name)[idx] for name in PER_NEURON},
                bias_schedule=tuple(
                    BiasChange(ch.step, ch.bias_mant[idx], ch.bias_exp[idx]) for ch in net.bias_schedule
                ),
            )
        )
    sub_blocks: list[SubBlock] = []
    for kind in KINDS:
        for b, block in enumerate(blocks_of(net, kind)):
            eff = block.effective_weights()
            mode = block.sign_mode
            for dst in cores:
                rows = eff[dst.neurons]
                sources = (
                    [(INPUT_CORE, rows)]
                    if kind == "input"
                    else [(src.core, rows[:, src.neurons]) for src in cores]
                )
                parts = [(s, w.tocsr()) for s, w in sources if w.count_nonzero()]
                relay = block.weight_exp < 0 and len(parts) > 1
                for src_core, w in parts:
                    w.eliminate_zeros()
                    sub_blocks.append(
                        SubBlock(
                            kind,
                            b,
                            src_core,
                            dst.core,
                            w,
                            block.weight_exp,
                            block.num_weight_bits,
                            mode,
                            relay,
                            block.delay,
                        )
                    )
    return LavaPlan(
        n_neurons=net.n_neurons,
        n_inputs=net.n_inputs,
        cores=tuple(cores),
        sub_blocks=tuple(sub_blocks),
        gap_lif=net.needs_gap_lif,
        gap_shift=net.gap_shift,
        plastic=plastic_sub_blocks(net.plastic, [b.tag for b in net.plastic], cores, PlasticSubBlock),
        conductance_shift=net.conductance_shift,
        reward=plastic_sub_blocks(
            net.reward_plastic, [b.mask for b in net.reward_plastic], cores, RewardSubBlock
        ),
    )


def plastic_sub_blocks(
    blocks: tuple, presence: list[np.ndarray], cores: list[CorePlan], cls: type[PlasticSubBlock]
) -> tuple[PlasticSubBlock, ...]:
    """One `cls` piece per learning block and (source core, destination core) with present synapses
    (`presence`: each block's tag_1 for stdp, tag_2 for reward_stdp)."""
    out = []
    for b, (block, tag) in enumerate(zip(blocks, presence)):
        for dst in cores:
            parts = [
                (src, np.ix_(dst.neurons, src.neurons))
                for src in cores
                if tag[np.ix_(dst.neurons, src.neurons)].any()
            ]
            relay = block.weight_exp < 0 and len(parts) > 1
            for src, ix in parts:
                out.append(
                    cls(
                        b,
                        src.core,
                        dst.core,
                        dst.neurons,
                        src.neurons,
                        block.weights[ix],
                        tag[ix],
                        block,
                        relay,
                    )
                )
    return tuple(out)
