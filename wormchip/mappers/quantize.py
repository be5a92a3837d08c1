"""Compiler pass "quantize": `LoweredNetwork` (floats) → `FixedPointNetwork` (Loihi integers) + error report.

Our method (`quantize`), register by register (Lava 0.10 fixed-point LIF/Dense; docs/lava.md):
- decays: `du = round(4096·d_u) − 1` (the chip adds 1), `dv = round(4096·d_v)`: the effective fractions are
  (du + 1)/4096 and dv/4096, so this is the nearest representable value (nengo-loihi uses 4095·d).
- voltage scale per neuron (v is independent per neuron, and weight rows can carry any per-row scale): as
  fine as possible (a_in is an integer shifted << 6 into u, so spike weights resolve 64 units of v per step:
  the finer the voltage unit, the more bits a weight keeps), limited by the headroom v needs below rest (`v_headroom`·v_th before v clips at ±2²³),
  by the bias register (13-bit mantissa << 7) and by the largest weight (255 << 7, << 6 into u).
- weights: per sign, separate blocks (so Lava's mixed-sign mode never drops a bit), the first with the
  exponent that puts its largest weight near 255 (never below 0: see `_split_blocks`), the next holding
  each weight's residual at a finer exponent (up to `max_blocks_per_sign` blocks per sign).
- refractory delay (steps, ≤ 63) and reset voltage `v_reset` (in the neuron's v units) for `GapLIF`.
- adaptation (adaptive_lif, `GapLIF`'s w register): `dw = round(2²⁴·d_w)` (24-bit fraction), the increment
  `adapt_b` in v units with `w_shift` fractional bits, as many as keep w's largest value (spiking every
  refractory period) within int32 with a factor 2 to spare; compensated by d_w'/d_w like the weights.
- gap junctions: off-diagonal g_ij (excitatory blocks) and the diagonal −Σg (inhibitory block), with the
  voltage message shift `gap_shift` chosen as small as the exponents allow, and large enough that the graded
  Dense's int32 sum cannot overflow.

`quantize_nengo_loihi` is the baseline: nengo-loihi 1.1's `discretize_compartment` / `discretize_weights`
(`nengo_loihi/builder/discretize.py`): one voltage scale for the block, `w_scale = 255/max|w|`, weight exponents
0, −1, … −7 tried until vth and bias fit, mixed-sign weights (one shift bit), decays from 4095·d.

Every value that cannot be represented raises `QuantizationError` naming the neuron, parameter and value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from wormchip.errors import QuantizationError
from wormchip.mappers.fixed_point import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    CONDUCTANCE_SHIFT_MAX,
    DECAY_MAX,
    DW_MAX,
    GAP_SHIFT_MAX,
    GRADED_HALF,
    GRADED_MU_LIMIT,
    GRADED_SLOPE_MANT_MAX,
    GRADED_SLOPE_SHIFT_MAX,
    REFRACTORY_MAX,
    V_OP_LIMIT,
    V_RESET_LIMIT,
    VTH_MAX,
    W_DECAY_BITS,
    W_SHIFT_MAX,
    WEIGHT_EXP_MAX,
    WEIGHT_EXP_MIN,
    BiasChange,
    FixedPointNetwork,
    WeightBlock,
)
from wormchip.mappers.lower import LoweredNetwork
from wormchip.mappers.reward_stdp import RATE_MAX_HZ as REWARD_RATE_MAX_HZ
from wormchip.mappers.reward_stdp import network_reward_blocks
from wormchip.mappers.stdp import RATE_MAX_HZ, align_scales, plastic_blocks
from wormchip.pages import small_pages

V_BITS = 23  # |v| < 2²³
BIAS_MAX = BIAS_MANT_MAX * 2**BIAS_EXP_MAX  # 4095 << 7
U_SHIFT = 6  # a_in << 6 into u; vth << 6
WEIGHT_UNIT_MAX = 255 * 2**WEIGHT_EXP_MAX  # largest single-sign weight in a_in units
INT32_MAX = 2**31 - 1
GAP_RESOLUTION_EXP = -20  # refined decays: the gap blocks resolve 2^-20 of v per step (a decay to 0.02 %)
W_BOUND = 2**30  # the adaptation register's largest value: half of int32, for rounding and the estimate
G_TOP = 2**15 - 1  # the largest conductance per spike in register units (an exponent-7 block's 255 · 2⁷)


@dataclass(frozen=True)
class ParamError:
    """Relative errors |represented − float| / |float| of one parameter over its nonzero values."""

    max: float
    rms: float
    n: int

    @staticmethod
    def of(exact: np.ndarray, represented: np.ndarray) -> ParamError:
        exact, represented = np.asarray(exact, float), np.asarray(represented, float)
        keep = exact != 0
        if not keep.any():
            return ParamError(0.0, 0.0, 0)
        if not keep.all():
            exact, represented = exact[keep], represented[keep]
        rel = np.subtract(represented, exact)  # |r − e| / |e| as |(r − e) / e|: the same float, in place
        np.divide(rel, exact, out=rel)
        np.abs(rel, out=rel)
        largest = float(rel.max())
        return ParamError(largest, float(np.sqrt(np.mean(np.square(rel, out=rel)))), len(rel))


@dataclass(frozen=True)
class QuantizationReport:
    """Per-parameter relative errors and the scales chosen (`v_scale[i]`: volts per unit of v)."""

    method: str
    errors: dict[str, ParamError]
    v_scale: np.ndarray
    weight_exps: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    metadata_diag: np.ndarray | None = field(default=None, repr=False)  # represented gap-block diagonal

    def table(self) -> str:
        """Markdown table: parameter, n, max and RMS relative error."""
        rows = [f"| {self.method} | n | max rel. error | RMS rel. error |", "|---|---|---|---|"]
        for name, e in self.errors.items():
            rows.append(f"| {name} | {e.n} | {e.max:.3g} | {e.rms:.3g} |")
        return "\n".join(rows)


# --- shared pieces ----------------------------------------------------------------------------------------------


def _decays(lowered: LoweredNetwork, offset: int, unity: int) -> tuple[np.ndarray, np.ndarray]:
    """(du, dv) as `round(unity·d) − offset` and `round(unity·d)`, clipped to 12 bits."""
    du = np.clip(np.round(unity * lowered.decay_u) - offset, 0, DECAY_MAX).astype(np.int64)
    dv = np.clip(np.round(unity * lowered.decay_v), 0, DECAY_MAX).astype(np.int64)
    return du, dv


def bias_mant_exp(name: str, bias_units: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mantissa/exponent with the smallest exponent that fits (the most precision), as nengo-loihi does."""
    mag = np.abs(bias_units)
    exp = np.ceil(np.log2(np.maximum(mag / BIAS_MANT_MAX, 1.0))).astype(np.int64)
    mant = np.round(bias_units / 2.0**exp)
    over = np.abs(mant) > BIAS_MANT_MAX  # rounding up past the mantissa: one more exponent
    exp = np.where(over, exp + 1, exp)
    mant = np.round(bias_units / 2.0**exp).astype(np.int64)
    bad = np.flatnonzero(exp > BIAS_EXP_MAX)
    if bad.size:
        i = int(bad[0])
        raise QuantizationError(
            f"{name} of neuron {names[i]} = {bias_units[i]:.4g} units exceeds the bias register "
            f"({BIAS_MANT_MAX} << {BIAS_EXP_MAX}); the voltage scale is too fine for it"
        )
    return mant, exp


def _w_decay(lowered: LoweredNetwork) -> np.ndarray:
    """dw = round(2²⁴·d_w): the adaptation register's decay, the nearest 24-bit fraction."""
    return np.clip(np.round(2**W_DECAY_BITS * lowered.decay_w), 0, DW_MAX).astype(np.int64)


def _adaptation(lowered: LoweredNetwork, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dw, adapt_b, w_shift) of `GapLIF`'s w register at voltage scale `s` (see `FixedPointNetwork`).

    w_shift is the most fractional bits (≤ W_SHIFT_MAX) that keep |w| ≤ 2³⁰ when the neuron fires every
    refractory period (w right after a spike: |b|/(1 − (1 − d_w')^R)); adapt_b = round(b·2^w_shift) in v units.
    """
    dw = _w_decay(lowered)
    b_units = lowered.adapt_b / s  # v units per step
    active = b_units != 0
    eff = dw / 2**W_DECAY_BITS
    period = np.maximum(lowered.refractory, 1)  # shortest interval between two spikes, in steps
    with np.errstate(divide="ignore", invalid="ignore"):
        per_period = -np.expm1(period * np.log1p(-np.minimum(eff, 1 - 2.0**-52)))  # w's decay in R steps
        bound = np.where(active, np.abs(b_units) / per_period, 0.0)
    for i in np.flatnonzero(active & ~(bound <= W_BOUND)):
        reason = (
            f"its decay d_w = {lowered.decay_w[i]:.3g} per step rounds to 0 in 24 bits (τ_w too long)"
            if dw[i] == 0
            else f"w would reach {bound[i]:.4g} v units, beyond the int32 register"
        )
        raise QuantizationError(
            f"adaptation of neuron {lowered.names[i]} (b = {lowered.adapt_b[i]:.4g} V per step) cannot be "
            f"represented: {reason}"
        )
    with np.errstate(divide="ignore"):
        shift = np.floor(np.log2(W_BOUND / np.where(active, bound, 1.0)))
    w_shift = np.where(active, np.clip(shift, 0, W_SHIFT_MAX), 0).astype(np.int64)
    adapt_b = np.round(b_units * 2.0**w_shift).astype(np.int64)
    return dw, adapt_b, w_shift


def _sorted_csr(w: sp.spmatrix) -> sp.csr_matrix | None:
    """`w` as CSR with sorted column indices, or None if it holds duplicate entries.

    A matrix rebuilt from COO triplets is canonicalised (sorted, duplicates summed); for a matrix without
    duplicates that is just the sort, so blocks can share its layout instead of sorting each one again."""
    w = w.tocsr()
    if not w.has_canonical_format:
        w = w.copy()
        w.sort_indices()
        if not w.has_canonical_format:  # a fresh copy: checked anew, for duplicates now
            return None
    return w


def _scale_rows(w: sp.spmatrix, factor: np.ndarray) -> sp.csr_matrix:
    """`diag(factor) @ w` with w's sorted layout (each entry factor_i·w_ij, the product's one term)."""
    layout = _sorted_csr(w)
    if layout is None:
        return (sp.diags(factor) @ w).tocsr()
    rows = np.repeat(np.arange(w.shape[0]), np.diff(layout.indptr))
    return _with_layout(layout, layout.data * factor[rows])


def _with_layout(w: sp.csr_matrix, data: np.ndarray, keep: np.ndarray | None = None) -> sp.csr_matrix:
    """A CSR matrix of `w`'s shape and sparsity (restricted to the entries where `keep`) holding `data`:
    equal to rebuilding it from COO triplets, without the sort."""
    if keep is None:
        return sp.csr_matrix((data, w.indices.copy(), w.indptr.copy()), shape=w.shape)
    kept = np.flatnonzero(keep)
    return sp.csr_matrix((data, w.indices[kept], np.searchsorted(kept, w.indptr)), shape=w.shape)


def _split_blocks(
    w: sp.csr_matrix, max_blocks: int, bits: int = 8, min_exp: int = 0, max_exp: int = WEIGHT_EXP_MAX
) -> list[tuple[sp.csr_matrix, int]]:
    """Single-sign float matrix (in a_in units) → [(integer matrix, weight_exp)], coarse to fine.

    Residual splitting: the first block takes each weight's magnitude rounded *down* at the exponent that
    puts the largest weight near 255; the next block takes what is left (same sign) at its own exponent, and
    the last one rounds. Two blocks give each weight about 16 significant bits, or as many as `min_exp`
    allows. Spike weights use exponents ≥ 0: Lava shifts the *sum* right and a_in is an integer, so a single
    spike through `W >> k` delivers floor(W/2^k), no finer than W rounded at exponent 0 and biased downwards.
    """
    out: list[tuple[sp.csr_matrix, int]] = []
    layout = _sorted_csr(w)
    rest = w.tocoo() if layout is None else layout
    sign = _sign_of(rest.data)
    mag = np.abs(rest.data)
    residual = None  # scratch for each block's part of the magnitudes
    top = 2**bits - 1
    for k in range(max_blocks):
        largest = mag.max() if mag.size else 0.0
        if largest == 0:  # (NaN goes on, to the error log2 raises)
            break
        exp = int(np.clip(math.ceil(math.log2(largest / top)), min_exp, max_exp))
        last = k == max_blocks - 1 or exp == min_exp
        ints = mag / 2.0**exp
        (np.round if last else np.floor)(ints, out=ints)
        np.clip(ints, 0, top, out=ints)
        if not last:  # what the next blocks must still represent
            residual = np.multiply(ints, 2.0**exp, out=residual)
            mag -= residual
        if isinstance(sign, np.ndarray):
            ints *= sign
        elif sign < 0:
            np.negative(ints, out=ints)
        if layout is None:
            out.append((sp.csr_matrix((ints, (rest.row, rest.col)), shape=w.shape), exp))
        else:
            out.append((_with_layout(layout, ints), exp))
        if last:
            break
    return out


def _sign_of(values: np.ndarray) -> float | np.ndarray:
    """+1.0 or −1.0 where every value has that sign or is 0 (a single-sign part), else np.sign(values)."""
    if not values.size or values.min() >= 0:
        return 1.0
    if values.max() <= 0:
        return -1.0
    return np.sign(values)


def _sign_parts(w: sp.spmatrix) -> list[sp.csr_matrix]:
    """The positive and the negative entries of `w`, each as a CSR matrix of w's shape."""
    layout = _sorted_csr(w)
    if layout is None:  # duplicates: each sign's are summed apart, as the COO rebuild does
        coo = w.tocoo()
        return [
            sp.csr_matrix((coo.data[sel], (coo.row[sel], coo.col[sel])), shape=w.shape)
            for sel in (coo.data > 0, coo.data < 0)
        ]
    positive, negative = layout.data > 0, layout.data < 0
    if positive.all() or negative.all():  # one sign: that part shares w's layout, the other is empty
        empty = sp.csr_matrix(w.shape, dtype=layout.dtype)
        return [layout, empty] if positive.all() else [empty, layout]
    return [_with_layout(layout, layout.data[sel], sel) for sel in (positive, negative)]


def _blocks(w_units: sp.csr_matrix, max_blocks_per_sign: int, delay: int = 0) -> list[WeightBlock]:
    """Excitatory and inhibitory blocks (each possibly split by magnitude) of a float matrix in a_in units,
    all with the synaptic `delay` (steps)."""
    blocks = []
    for part in _sign_parts(w_units):
        for ints, exp in _split_blocks(part, max_blocks_per_sign):
            ints.eliminate_zeros()
            if ints.nnz:
                blocks.append(WeightBlock(ints.astype(np.int64), weight_exp=exp, delay=delay))
    return blocks


def _represented(
    blocks: tuple[WeightBlock, ...], shape: tuple[int, int], extra_shift: int = 0, single_spike: bool = True
) -> sp.csr_matrix:
    """Σ effective (Lava-processed) integer weights · 2^(exp − extra_shift), as a float matrix.

    `single_spike`: what one spike delivers, floor(W · 2^exp) for exp < 0 (Dense shifts the integer sum).
    Graded gap messages are large sums, so there the nominal value is used.
    """
    total = None
    for b in blocks:
        term = b.effective_weights().astype(float)  # a copy: scaled in place
        term.data *= 2.0**b.weight_exp
        if single_spike and b.weight_exp < 0:
            np.floor(term.data, out=term.data)
        if extra_shift:
            term.data *= 2.0**-extra_shift
        if total is None:  # the first term as a sum from an empty matrix: without the entries that are 0
            term.eliminate_zeros()
            total = term
        else:
            total = total + term
    return sp.csr_matrix(shape) if total is None else total


def _at(matrix: sp.spmatrix, row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """`matrix[row[k], col[k]]` as a 1-D float array (empty for no indices)."""
    if len(row) == 0:
        return np.zeros(0)
    return np.asarray(matrix.tocsr()[row, col], dtype=float).ravel()


def _weight_values(exact: sp.spmatrix, represented: sp.spmatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`exact`'s stored values, `represented`'s values at the same entries (0 where it has none) and each entry's
    row. `represented` is a temporary: where both are canonical CSR with one layout (no weight quantized to
    zero), its values are sorted and read in place instead of looked up entry by entry."""
    if sp.isspmatrix_csr(exact) and sp.isspmatrix_csr(represented) and exact.nnz == represented.nnz:
        if not represented.has_sorted_indices:  # a product's rows come out unsorted
            represented.sort_indices()
        if _same_layout(exact, represented):
            return exact.data, represented.data, np.repeat(np.arange(exact.shape[0]), np.diff(exact.indptr))
    exact = exact.tocoo()
    return exact.data, _at(represented, exact.row, exact.col), exact.row


def _weight_error(exact: sp.spmatrix, represented: sp.spmatrix) -> ParamError:
    """Relative error over the nonzero exact weights (a weight quantized to zero counts as error 1)."""
    exact_values, values, _ = _weight_values(exact, represented)
    return ParamError.of(exact_values, values)


def _same_layout(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    """Whether two canonical CSR matrices store the same entries in the same places."""
    return (
        a.shape == b.shape
        and a.nnz == b.nnz
        and a.has_canonical_format
        and b.has_canonical_format
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
    )


def _gap_blocks(
    gap_units: sp.csr_matrix,
    diag_units: np.ndarray,
    max_blocks_per_sign: int,
    resolution_exp: int | None = None,
) -> tuple[tuple[WeightBlock, ...], int]:
    """Gap blocks (off-diagonal ≥ 0, diagonal ≤ 0) and the message shift m, in units where the block's
    output `(G @ (v >> m)) << e` should equal gap_units @ v: so G·2^(e − m) ≈ value.

    Each sign is split by residuals (`_split_blocks`). m is the smallest shift that leaves room (exponents
    ≥ −7) for each sign's first block and resolves 2^resolution_exp (default: 8 bits below the first blocks)
    (refined decays: the diagonal holds −Σ_j g_ij minus the dv residual, < 2^-12, which needs that).
    Keeping −Σ_j g_ij on the diagonal makes the message's truncation cancel between a neuron and its
    neighbours: the input is Σ_j g_ij·(msg_j − msg_i), unbiased when their voltages are close.
    """
    full = (gap_units + sp.diags(diag_units)).tocsr()
    full.eliminate_zeros()
    if full.nnz == 0:
        return (), 0
    w = full.tocoo()
    signs = []
    for sel in (w.data > 0, w.data < 0):
        if sel.any():
            part = sp.csr_matrix((w.data[sel], (w.row[sel], w.col[sel])), shape=w.shape)
            e_first = math.ceil(math.log2(float(np.abs(part.data).max()) / 255))
            signs.append((part, max_blocks_per_sign, e_first))
    # Room for each sign's first block and for the finest resolution wanted: `resolution_exp`, or a second
    # block 8 bits finer than the first ones (16-bit couplings).
    first = min(e_total for _, _, e_total in signs)
    finest = first - 8 if resolution_exp is None else resolution_exp
    m = min(max(0, WEIGHT_EXP_MIN - first, WEIGHT_EXP_MIN - finest), GAP_SHIFT_MAX)
    while True:
        blocks = []
        for part, n_blocks, _ in signs:
            for ints, e_total in _split_blocks(
                part, n_blocks, min_exp=WEIGHT_EXP_MIN - m, max_exp=WEIGHT_EXP_MAX - m
            ):
                ints.eliminate_zeros()
                if ints.nnz:
                    blocks.append(WeightBlock(ints.astype(np.int64), weight_exp=e_total + m))
        # Graded Dense sums G·msg in int32: keep Σ_j |G_ij| · 2^(23 − m) below 2^31.
        worst = max(
            (float(abs(b.effective_weights()).sum(axis=1).max()) * 2.0 ** (V_BITS - m) for b in blocks),
            default=0.0,
        )
        if worst < INT32_MAX or m >= GAP_SHIFT_MAX:
            break
        m += 1
    return tuple(blocks), m


@dataclass(frozen=True)
class _Graded:
    """Quantized graded sigmoid synapses: blocks, the senders' message registers and their errors."""

    blocks: tuple[WeightBlock, ...]
    mu: np.ndarray
    slope_mant: np.ndarray
    slope_shift: np.ndarray
    errors: dict[str, ParamError]


def _graded(lowered: LoweredNetwork, s: np.ndarray, max_blocks_per_sign: int) -> _Graded:
    """Graded synapses at voltage scale `s`: the hard sigmoid's midpoint and slope per sender in v units,
    and the couplings in (units of v_i per step) per message unit, split by sign and residual like weights.

    The message is m = 2H·h = H + (H/2)·slope·(v − μ) with H = `GRADED_HALF`; its slope per v unit,
    c = (H/2)·slope·s, is `mant · 2^−shift` with a 16-bit mantissa. Graded Dense sums G·m in int32, so
    Σ_j |G_ij|·2^GRADED_BITS must stay below 2³¹ (a `QuantizationError` otherwise).
    """
    n = lowered.n_neurons
    zeros = np.zeros(n, dtype=np.int64)
    if not lowered.graded.nnz:
        return _Graded((), zeros, zeros, zeros, {})
    names = lowered.names
    senders = np.unique(lowered.graded.tocoo().col)
    mu = zeros.copy()
    mant, shift = zeros.copy(), zeros.copy()
    mu_units = lowered.graded_mu[senders] / s[senders]
    for k, value in zip(senders, mu_units):
        if abs(value) > GRADED_MU_LIMIT:
            raise QuantizationError(
                f"graded sigmoid midpoint of neuron {names[k]} (μ − E_L = {lowered.graded_mu[k] * 1e3:.4g} mV) "
                f"is {value:.4g} v units, outside ±{GRADED_MU_LIMIT}"
            )
    mu[senders] = np.round(mu_units).astype(np.int64)
    c = GRADED_HALF / 2 * lowered.graded_slope[senders] * s[senders]
    with np.errstate(divide="ignore"):
        bits = np.floor(np.log2(GRADED_SLOPE_MANT_MAX / np.where(c > 0, c, 1.0)))
    shift[senders] = np.clip(bits, 0, GRADED_SLOPE_SHIFT_MAX).astype(np.int64)
    mant[senders] = np.clip(np.round(c * 2.0 ** shift[senders]), 0, GRADED_SLOPE_MANT_MAX).astype(np.int64)
    per_message = (sp.diags(1 / s) @ lowered.graded / (2 * GRADED_HALF)).tocoo()
    blocks = []
    for sel in (per_message.data > 0, per_message.data < 0):
        part = sp.csr_matrix(
            (per_message.data[sel], (per_message.row[sel], per_message.col[sel])), shape=(n, n)
        )
        for ints, exp in _split_blocks(part, max_blocks_per_sign, min_exp=WEIGHT_EXP_MIN):
            ints.eliminate_zeros()
            if ints.nnz:
                blocks.append(WeightBlock(ints.astype(np.int64), weight_exp=exp))
    for b in blocks:
        worst = float(abs(b.effective_weights()).sum(axis=1).max()) * 2 * GRADED_HALF
        if worst >= INT32_MAX:
            raise QuantizationError(
                f"graded synapses into one neuron sum to {worst:.3g} per step at full activation, past the "
                "graded Dense's int32 range: too many or too strong graded inputs for the voltage scale"
            )
    rep = sp.diags(s) @ _represented(tuple(blocks), (n, n), 0, False) * (2 * GRADED_HALF)
    errors = {
        "graded": _weight_error(lowered.graded, rep.tocsr()),
        "graded_slope": ParamError.of(c, mant[senders] / 2.0 ** shift[senders]),
        "graded_mu": ParamError.of(lowered.graded_mu[senders], mu[senders] * s[senders]),
    }
    return _Graded(tuple(blocks), mu, mant, shift, errors)


@dataclass(frozen=True)
class _Conductance:
    """Quantized conductance synapses (`GapLIF`'s g register): blocks, shift, v_op and their errors."""

    blocks: tuple[WeightBlock, ...] = ()
    shift: int = 0
    v_op: np.ndarray | int = 0
    errors: dict = field(default_factory=dict)


def _conductance(lowered: LoweredNetwork, s: np.ndarray, max_blocks_per_sign: int) -> _Conductance:
    """g register units: conductance per step · 2^shift, with shift putting the largest per-spike conductance
    at `G_TOP` (two residual blocks: about 15 significant bits), lowered until the register's steady state
    with every presynaptic neuron firing every step stays below 2³⁰. v_op in v units (rounded)."""
    cond = lowered.conductance.tocsr()
    if not cond.nnz:
        return _Conductance()
    names = lowered.names
    shift = int(np.clip(math.floor(math.log2(G_TOP / float(cond.data.max()))), 0, CONDUCTANCE_SHIFT_MAX))
    row_sum = np.asarray(cond.sum(axis=1)).ravel() / np.maximum(lowered.decay_u, 1 / 4096)
    while shift > 0 and float(row_sum.max()) * 2.0**shift >= 2**30:
        shift -= 1
    blocks = tuple(_blocks((cond * 2.0**shift).tocsr(), max_blocks_per_sign))
    v_op = np.round(lowered.v_op / s).astype(np.int64)
    for i in np.flatnonzero(np.abs(v_op) > V_OP_LIMIT):
        raise QuantizationError(
            f"operating point of neuron {names[i]} ({lowered.v_op[i] * 1e3:.4g} mV above rest) is {v_op[i]} v "
            f"units at voltage scale {s[i]:.3g} V/unit, outside ±{V_OP_LIMIT}"
        )
    represented = _represented(blocks, cond.shape) * 2.0**-shift
    errors = {
        "conductance": _weight_error(cond, represented),
        "v_op": ParamError.of(lowered.v_op, v_op * s),
    }
    return _Conductance(blocks, shift, v_op, errors)


def _gap_in_units(lowered: LoweredNetwork, s: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Off-diagonal coupling in (units of v_i) per (unit of v_j), and the diagonal −Σ_j g_ij."""
    gap = lowered.gap.tocoo()
    off = sp.csr_matrix((gap.data * s[gap.col] / s[gap.row], (gap.row, gap.col)), shape=gap.shape)
    diag = -np.asarray(lowered.gap.sum(axis=1)).ravel()
    return off, diag


def _assemble(
    lowered: LoweredNetwork,
    method: str,
    s: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    weights: tuple[WeightBlock, ...],
    input_weights: tuple[WeightBlock, ...],
    max_blocks_per_sign: int,
    residual: np.ndarray | None = None,
    plastic: tuple = (),
    reward_plastic: tuple = (),
) -> tuple[FixedPointNetwork, QuantizationReport]:
    """Threshold, biases and gap blocks at voltage scale `s`; build the network and measure every error.

    `residual`: with refined decays, `dv` is the leak's decay rounded down and the residual d_v − dv/4096
    joins −Σ_j gap_ij on the diagonal of the graded self-connection."""
    names = lowered.names
    vth_units = lowered.v_th / s / 2**U_SHIFT
    vth = np.round(vth_units).astype(np.int64)
    for i in np.flatnonzero((vth < 1) | (vth > VTH_MAX)):
        raise QuantizationError(
            f"threshold of neuron {names[i]} (v_th − E_L = {lowered.v_th[i] * 1e3:.4g} mV) is {vth_units[i]:.4g} "
            f"in vth units, outside [1, {VTH_MAX}] at voltage scale {s[i]:.3g} V/unit: its bias or weights "
            "are too large relative to its threshold to fit the 17-bit threshold register"
        )
    bias_mant, bias_exp = bias_mant_exp("bias", lowered.bias / s, names)
    schedule = []
    biases_exact, biases_rep = [lowered.bias], [(bias_mant << bias_exp) * s]
    for step, b in lowered.bias_schedule:
        mant, exp = bias_mant_exp(f"bias from step {step}", b / s, names)
        schedule.append(BiasChange(step, mant, exp))
        biases_exact.append(b)
        biases_rep.append((mant << exp) * s)
    for i in np.flatnonzero(lowered.refractory > REFRACTORY_MAX):
        raise QuantizationError(
            f"refractory period of neuron {names[i]} is {lowered.refractory[i]} steps of {lowered.dt * 1e3:g} ms, "
            f"more than the {REFRACTORY_MAX}-step refractory delay register"
        )
    v_reset = np.round(lowered.v_reset / s).astype(np.int64)
    for i in np.flatnonzero(np.abs(v_reset) > V_RESET_LIMIT):
        raise QuantizationError(
            f"reset of neuron {names[i]} (v_reset − E_L = {lowered.v_reset[i] * 1e3:.4g} mV) is {v_reset[i]} "
            f"v units at voltage scale {s[i]:.3g} V/unit, outside ±{V_RESET_LIMIT}"
        )
    dw, adapt_b, w_shift = _adaptation(lowered, s)
    gap_blocks: tuple[WeightBlock, ...] = ()
    gap_shift = 0
    if lowered.gap.nnz or residual is not None:
        off, diag = _gap_in_units(lowered, s)
        if residual is not None:
            gap_blocks, gap_shift = _gap_blocks(
                off, diag - residual, max_blocks_per_sign + 1, resolution_exp=GAP_RESOLUTION_EXP
            )
        else:
            gap_blocks, gap_shift = _gap_blocks(off, diag, max_blocks_per_sign + 1)
    graded = _graded(lowered, s, max_blocks_per_sign)
    conductance = _conductance(lowered, s, max_blocks_per_sign)
    net = FixedPointNetwork(
        neuron_names=names,
        du=du,
        dv=dv,
        vth=vth,
        bias_mant=bias_mant,
        bias_exp=bias_exp,
        weights=weights,
        input_spikes=lowered.input_spikes,
        input_weights=input_weights,
        dt=lowered.dt,
        bias_schedule=tuple(schedule),
        gap_weights=gap_blocks,
        gap_shift=gap_shift,
        refractory=np.where(lowered.refractory > 1, lowered.refractory, 0),
        v_reset=v_reset,
        dw=dw,
        adapt_b=adapt_b,
        w_shift=w_shift,
        graded_weights=graded.blocks,
        graded_mu=graded.mu,
        graded_slope_mant=graded.slope_mant,
        graded_slope_shift=graded.slope_shift,
        plastic=plastic,
        reward_plastic=reward_plastic,
        conductance_weights=conductance.blocks,
        v_op=conductance.v_op,
        conductance_shift=conductance.shift,
    )
    # The gap blocks as represented, in (V of neuron i) per (V of neuron j); the diagonal is part of v's decay.
    rep_gap = sp.diags(s) @ _represented(gap_blocks, lowered.gap.shape, gap_shift, False) @ sp.diags(1 / s)
    rep_diag = rep_gap.diagonal() if gap_blocks else np.zeros(len(names))
    exact_total = lowered.decay_v + np.asarray(lowered.gap.sum(axis=1)).ravel()
    all_weights = lowered.all_weights  # every delay: the blocks of all delays sum to it
    errors = {
        "decay_u": ParamError.of(lowered.decay_u, np.minimum(du + 1, 4096) / 4096),
        "decay_v": ParamError.of(exact_total, dv / 4096 - rep_diag),
        "vth": ParamError.of(lowered.v_th, vth * 2**U_SHIFT * s),
        "v_reset": ParamError.of(lowered.v_reset, v_reset * s),
        "bias": ParamError.of(np.concatenate(biases_exact), np.concatenate(biases_rep)),
    }
    notes = []
    for key, exact, blocks in (
        ("weights", all_weights, weights),
        ("input_weights", lowered.input_weights, input_weights),
    ):
        exact_values, values, rows = _weight_values(exact, _represented(blocks, exact.shape))
        lost = int(np.count_nonzero((values == 0) & (exact_values != 0)))
        if lost:
            notes.append(f"{lost} {key.replace('_', ' ')} quantized to zero")
        values *= (s * 2**U_SHIFT)[rows]  # a_in units → volts per step, per row
        errors[key] = ParamError.of(exact_values, values)
    if lowered.gap.nnz:  # the couplings g_ij (off the diagonal)
        errors["gap"] = _weight_error(lowered.gap, (rep_gap - sp.diags(rep_diag)).tocsr())
    if lowered.graded.nnz:
        errors.update(graded.errors)
    errors.update(conductance.errors)
    adaptive = adapt_b != 0
    if adaptive.any():  # w's decay (24-bit) and its increment per spike (against the compensated target)
        errors["decay_w"] = ParamError.of(lowered.decay_w[adaptive], dw[adaptive] / 2**W_DECAY_BITS)
        errors["adapt_b"] = ParamError.of(lowered.adapt_b, adapt_b * 2.0**-w_shift * s)
    report = QuantizationReport(
        method=method,
        errors=errors,
        v_scale=s,
        weight_exps={
            "weights": [b.weight_exp for b in weights],
            "input_weights": [b.weight_exp for b in input_weights],
            "gap_weights": [b.weight_exp for b in gap_blocks],
            "conductance_weights": [b.weight_exp for b in conductance.blocks],
        },
        notes=notes + ([f"gap_shift {gap_shift}"] if gap_blocks else []),
        metadata_diag=rep_diag,
    )
    return net, report


# --- our method -------------------------------------------------------------------------------------------------


def compensate_decays(
    lowered: LoweredNetwork, du: np.ndarray, dv: np.ndarray | None, dw: np.ndarray | None = None
) -> LoweredNetwork:
    """Scale each neuron's inputs so the quantized decays keep its DC gains exact.

    With decays d_u, d_v a constant bias b settles v at b/d_v, and one spike of weight w moves v by w/(d_u·d_v)
    in total. Rounding dv to 12 bits changes d_v by up to 2 % at dt = 0.1 ms, τ = 20 ms; multiplying bias and
    gap inputs by d_v'/d_v and weights by d_u'·d_v'/(d_u·d_v) (primes: quantized) restores both gains.
    `dv=None`: v's decay is represented exactly (refined decays), so only u's rounding is compensated.
    `dw` (24-bit, `_w_decay`): the adaptation increment is scaled by d_w'·d_v'/(d_w·d_v), so a steady firing
    rate gives the exact mean adaptation current; None leaves it (and d_w) as it is.
    """
    eff_u = np.minimum(du + 1, 4096) / 4096
    eff_v = lowered.decay_v if dv is None else dv / 4096
    with np.errstate(divide="ignore", invalid="ignore"):
        rv = np.where(lowered.decay_v > 0, eff_v / lowered.decay_v, 1.0)
        ru = np.where(lowered.decay_u > 0, eff_u / lowered.decay_u, 1.0)
        eff_w = lowered.decay_w if dw is None else dw / 2**W_DECAY_BITS
        # A decay that rounds to 0 is left uncompensated: `_adaptation` then refuses it.
        rw = np.where((lowered.decay_w > 0) & (eff_w > 0), eff_w / lowered.decay_w, 1.0)
    uv = ru * rv
    plastic = tuple(
        replace(pp, w0=pp.w0 * uv[pp.post], w_max=pp.w_max * uv[pp.post]) for pp in lowered.plastic
    )
    return replace(
        lowered,
        plastic=plastic,
        adapt_b=lowered.adapt_b * rw * rv,
        bias=lowered.bias * rv,
        bias_schedule=tuple((step, b * rv) for step, b in lowered.bias_schedule),
        weights=_scaled_inputs(lowered.weights, uv),
        delayed_weights=tuple((d, _scaled_inputs(w, uv)) for d, w in lowered.delayed_weights),
        input_weights=_scaled_inputs(lowered.input_weights, uv),
        gap=(sp.diags(rv) @ lowered.gap).tocsr(),  # (its rows' order sets the sums of the error report)
        graded=(sp.diags(rv) @ lowered.graded).tocsr(),
        conductance=(sp.diags(uv) @ lowered.conductance).tocsr(),
    )


def _row_abs_max(w: sp.spmatrix) -> np.ndarray:
    """max_j |w_ij| per row (0 for an empty row), from the row maxima and minima: no |w| copy of the matrix."""
    return np.maximum(
        np.asarray(w.max(axis=1).todense()).ravel(), -np.asarray(w.min(axis=1).todense()).ravel()
    )


def _scaled_inputs(w: sp.spmatrix, factor: np.ndarray) -> sp.csr_matrix:
    """`diag(factor) @ w` as scipy's product gives it (products of exactly 0 dropped), on w's sorted layout
    where it has one: no product's unsorted rows to sort again."""
    scaled = _scale_rows(w, factor)
    if not scaled.data.all():
        scaled.eliminate_zeros()
    return scaled


@small_pages
def quantize(
    lowered: LoweredNetwork,
    *,
    v_headroom: float | np.ndarray = 1.0,
    max_blocks_per_sign: int = 2,
    compensate: bool = True,
    refine_decays: bool = True,
    stdp_rate_max_hz: float = RATE_MAX_HZ,
    reward_rate_max_hz: float = REWARD_RATE_MAX_HZ,
    reward_d_max: float | None = None,
) -> tuple[FixedPointNetwork, QuantizationReport]:
    """Quantize `lowered` (see the module docstring); returns the network and its error report.

    `v_headroom` (scalar or per neuron; `calibrated_headroom` measures one): v must reach `−v_headroom·v_th`
    (below rest) before clipping, which sets the finest voltage
    scale (1: v spans ±v_th, the registers' own range, as nengo-loihi; 2 lets v reach −2·v_th for one bit less); `max_blocks_per_sign`: weight blocks per sign (magnitude classes with their own exponent);
    `compensate`: scale inputs so the decays' rounding leaves DC gains exact (`compensate_decays`). The
    report's bias/weight errors are then against the compensated targets, and "dc_gain" against the float.
    `refine_decays`: `dv = floor(4096·d_v)` and the residual d_v − dv/4096 (< 1/4096) goes onto the diagonal
    of the graded self-connection that gap junctions use (`GapLIF`), resolved to 2^-20: the 12-bit dv alone
    is 2 % off at dt = 0.1 ms, τ = 20 ms, which shifts spike times by several steps over a few hundred.
    Every network then runs in `GapLIF` with at least one graded Dense.
    `stdp_rate_max_hz`: plastic (stdp) projections become `PlasticBlock`s (`wormchip.mappers.stdp`); their
    trace impulses are chosen so that periodic firing at this rate does not saturate the 7-bit traces.
    `reward_rate_max_hz`, `reward_d_max`: reward_stdp projections become `RewardPlasticBlock`s
    (`wormchip.mappers.reward_stdp.network_reward_blocks`; d_max is the D that saturates y2, by default the
    largest the rule's reward pulses reach).
    """
    v_headroom = np.broadcast_to(np.asarray(v_headroom, dtype=float), (lowered.n_neurons,))
    if np.any(v_headroom < 1):
        raise ValueError(
            f"v_headroom = {float(v_headroom.min())} must be ≥ 1 (v must at least reach the threshold)"
        )
    names = lowered.names
    du, dv = _decays(lowered, offset=1, unity=4096)
    residual = None
    if refine_decays:
        dv = np.clip(np.floor(4096 * lowered.decay_v), 0, DECAY_MAX).astype(np.int64)
        residual = lowered.decay_v - dv / 4096
    original = lowered
    if compensate:
        lowered = compensate_decays(lowered, du, None if refine_decays else dv, _w_decay(lowered))
    for i in np.flatnonzero(lowered.v_th <= 0):
        raise QuantizationError(
            f"threshold of neuron {names[i]} is {lowered.v_th[i] * 1e3:g} mV above rest; it must be > 0"
        )
    vth_target = np.floor((2**V_BITS - 1) / v_headroom / 2**U_SHIFT)
    s = lowered.v_th / (2**U_SHIFT * vth_target)
    biases = np.abs(np.stack([lowered.bias, *(b for _, b in lowered.bias_schedule)]))
    s = np.maximum(s, biases.max(axis=0) / BIAS_MAX)
    s = np.maximum(s, np.abs(lowered.v_reset) / V_RESET_LIMIT)  # v_reset must fit v's register
    for w in (*(w for _, w in lowered.weights_by_delay()), lowered.input_weights):
        row_max = _row_abs_max(w) if w.shape[1] else np.zeros(len(s))
        s = np.maximum(s, row_max / (2**U_SHIFT * WEIGHT_UNIT_MAX))
    plastic_exps: list[int] = []
    if lowered.plastic:  # each plastic block's w_max ↔ 255 LSB (coarsens s of plastic post neurons)
        s, plastic_exps = align_scales(lowered, s)
    inv = 1 / (s * 2**U_SHIFT)
    weights = tuple(
        block
        for d, w in lowered.weights_by_delay()
        for block in _blocks(_scale_rows(w, inv), max_blocks_per_sign, delay=d)
    )
    input_weights = tuple(_blocks(_scale_rows(lowered.input_weights, inv), max_blocks_per_sign))
    plastic, plastic_errors, plastic_notes = (
        plastic_blocks(lowered, s, plastic_exps, stdp_rate_max_hz) if lowered.plastic else ((), {}, [])
    )
    reward_plastic, reward_errors, reward_notes = (
        network_reward_blocks(lowered, s, plastic_exps, reward_rate_max_hz, reward_d_max)
        if any(p.rule == "reward_stdp" for p in lowered.plastic)
        else ((), {}, [])
    )
    net, report = _assemble(
        lowered,
        "ours",
        s,
        du,
        dv,
        weights,
        input_weights,
        max_blocks_per_sign,
        residual=residual,
        plastic=plastic,
        reward_plastic=reward_plastic,
    )
    report.errors["dc_gain"] = _dc_gain_error(original, net, s, report)
    for key, value in plastic_errors.items():
        report.errors[key] = ParamError(value, value, sum(len(b.syn_post) for b in plastic))
    report.notes.extend(plastic_notes)
    for key, value in reward_errors.items():
        report.errors[key] = ParamError(value, value, sum(len(b.syn_post) for b in reward_plastic))
    report.notes.extend(reward_notes)
    return net, report


def _dc_gain_error(
    lowered: LoweredNetwork, net: FixedPointNetwork, s: np.ndarray, report: QuantizationReport
) -> ParamError:
    """Relative error of each biased neuron's settled voltage b/D (float) vs the fixed-point one, with D
    the whole self-decay (leak and gap junctions) and its neighbours at rest."""
    exact_d = lowered.decay_v + np.asarray(lowered.gap.sum(axis=1)).ravel()
    keep = (lowered.bias != 0) & (exact_d > 0)
    rep_bias = (net.bias_mant << net.bias_exp) * s
    exact = lowered.bias[keep] / exact_d[keep]
    rep_diag = report.metadata_diag if report.metadata_diag is not None else np.zeros(len(s))
    with np.errstate(divide="ignore"):
        rep = rep_bias[keep] / (net.dv[keep] / 4096 - rep_diag[keep])
    return ParamError.of(exact, rep)


#: Lowest v per neuron of recent calibration runs, by `LoweredNetwork.fingerprint()`: the float run costs
#: more than the compile passes together, and `run_circuit(on="emulator")` would repeat it before every run.
_LOWEST_V: dict[str, np.ndarray] = {}
CALIBRATION_CACHE_SIZE = 16


@small_pages
def calibrated_headroom(lowered: LoweredNetwork, margin: float = 1.25) -> np.ndarray:
    """Per-neuron `v_headroom` from a float run of `lowered` (`simulate_lowered`): margin × the lowest v
    reached, in units of v_th, at least 1.

    A current-based LIF under strong inhibition goes far below rest (klinotaxis' ASEL: 3.7·v_th), and v
    clipped at −v_th then recovers early. Measuring the range costs one float run (cached in memory per
    network, the last `CALIBRATION_CACHE_SIZE`); the precision cost is log2(headroom) bits of v.
    """
    from wormchip.mappers.lower import lowest_v

    key = lowered.fingerprint()
    lowest = _LOWEST_V.get(key)
    if lowest is None:
        lowest = lowest_v(lowered)
        lowest.setflags(write=False)
        if len(_LOWEST_V) >= CALIBRATION_CACHE_SIZE:
            del _LOWEST_V[next(iter(_LOWEST_V))]
        _LOWEST_V[key] = lowest
    return np.maximum(1.0, margin * (-lowest / lowered.v_th))


# --- nengo-loihi baseline ---------------------------------------------------------------------------------------


def _nengo_weights(w_units: sp.csr_matrix, exp: int, delay: int = 0) -> WeightBlock:
    """nengo-loihi's `discretize_weights`: mixed blocks use one shift bit (round(w/2)·2, |w| ≤ 254)."""
    w = w_units.tocsr().copy()
    mixed = (w.data > 0).any() and (w.data < 0).any()
    shift = 1 if mixed else 0
    top = 2 ** (8 - shift) - 1
    w.data = np.clip(np.round(w.data / 2**shift), -top, top) * 2**shift
    w.eliminate_zeros()
    return WeightBlock(w.astype(np.int64), weight_exp=exp, delay=delay)


def quantize_nengo_loihi(lowered: LoweredNetwork) -> tuple[FixedPointNetwork, QuantizationReport]:
    """nengo-loihi 1.1's discretization of the whole network as one block (the baseline to beat).

    One voltage scale: w_scale = 255/max|w| over recurrent and input weights, weight exponent 0, −1, … −7
    until vth ≤ (2¹⁷ − 1)·2⁶ and |bias| ≤ 4095·2⁷; decay_u = round(4095·d − 1), decay_v = round(4095·d).
    The input block's exponent is lowered by floor(log2(w_max/w_max_input)) as `discretize_synapse` does.
    Gap junctions (which nengo-loihi lacks) are quantized as in `quantize`, at this scale.
    """
    n = lowered.n_neurons
    if lowered.plastic:
        raise QuantizationError("the nengo-loihi baseline has no plastic synapses; use `quantize`")
    du, dv = _decays(lowered, offset=1, unity=4095)
    all_weights = lowered.all_weights
    w_rec = float(abs(all_weights).max()) if all_weights.nnz else 0.0
    w_in = float(abs(lowered.input_weights).max()) if lowered.input_weights.nnz else 0.0
    w_max = max(w_rec, w_in)
    biases = np.abs(np.stack([lowered.bias, *(b for _, b in lowered.bias_schedule)])).max(axis=0)
    if w_max > 1e-30:
        for exp in range(0, -8, -1):
            v_scale = 255.0 / w_max * 2.0**U_SHIFT * 2.0**exp  # units of v per volt
            if (np.round(lowered.v_th * v_scale) <= VTH_MAX * 2**U_SHIFT).all() and (
                np.round(biases * v_scale) <= BIAS_MAX
            ).all():
                break
        else:
            raise QuantizationError(
                "nengo-loihi discretization: no weight exponent in 0…−7 fits every threshold and bias"
            )
    else:
        exp = 0
        v_scale = (2**21 - 1) / (float(lowered.v_th.max()) + 1e-30)  # nengo-loihi: vth_max = 2^Q_BITS − 1
    s = np.full(n, 1.0 / v_scale)

    def block(w: sp.csr_matrix, w_max_i: float, delay: int = 0) -> tuple[WeightBlock, ...]:
        if w.nnz == 0:
            return ()
        dw = int(math.floor(math.log2(w_max / w_max_i)))
        e2 = max(exp - dw, WEIGHT_EXP_MIN)
        units = w * v_scale / 2**U_SHIFT / 2.0**e2
        return (_nengo_weights(units, e2, delay),)

    weights = tuple(b for d, w in lowered.weights_by_delay() for b in block(w, w_rec, d))
    input_weights = block(lowered.input_weights, w_in)
    net, report = _assemble(lowered, "nengo-loihi", s, du, dv, weights, input_weights, max_blocks_per_sign=1)
    report.errors["dc_gain"] = _dc_gain_error(lowered, net, s, report)
    return net, report
