"""Fidelity of the Loihi compilation: Brian2 (float) vs the fixed-point emulator on the same IR network.

`fidelity(circuit_or_network)` runs Brian2 and the bit-exact emulator (`run_emulator`, identical to Lava's
fixed-point run, so its figures are Lava's; `lava=True` checks that on the run itself) and reports per-neuron
spike-count correlation, the fraction of spikes matched within ±1 step and the total spikes of each side.

Time steps line up by construction (docs/compiler.md, "Fidelity: Brian2 vs Lava"): Brian2 integrates v
over step k and records a spike at k·dt; the emulator's step k computes the same v and reports its spike at
k·dt. A spike at step k reaches the target's current at step k + 1 on both sides (Brian2 adds the weight
in the "synapses" slot after the threshold of step k; Lava's Dense delivers it to u at step k + 1), so
there is no systematic one-step offset to compensate; `offset_steps` reports the median residual.

`attribute` finds which quantized parameter class moves the spikes (the float lowered network with one class
at its represented value, `represented`); `sensitivity` is the float-vs-float ceiling (Brian2 against Brian2
with its weights perturbed by 1e-5 relative, `perturbed`). `winner` reads a decision circuit's outcome (which
command or motor read-out fires most) and `first_divergence` locates where two runs part, so that a low
±1-step figure can be traced to the event that starts it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from wormchip import ir
from wormchip.analysis import metrics
from wormchip.result import Result

if TYPE_CHECKING:
    from wormchip.mappers.fixed_point import FixedPointNetwork
    from wormchip.mappers.lower import LoweredNetwork
    from wormchip.mappers.quantize import QuantizationReport

CORRELATION_GOAL = 0.99  # issue 4 acceptance on CUBA-LIF circuits
WITHIN_1STEP_GOAL = 0.95


@dataclass
class FidelityReport:
    """Brian2 vs emulator (= Lava) on one network; fractions are pooled over neurons.

    `within_1step`: fraction of Brian2's spikes with an emulator spike of the same neuron within ±1 step
    (`within_1step_emulator`: the reverse); `exact_step`: the same within 0 steps; `offset_steps`: median
    signed offset (emulator − Brian2) of each Brian2 spike's nearest emulator spike, within ±5 steps.
    `conductance_based`: whether the network has conductance neurons or synapses (`GapLIF`'s g register).
    `lava_identical`: None when Lava was not run, else whether Lava's spikes, u and v equal the emulator's.
    """

    network: str
    duration_s: float
    dt: float
    n_neurons: int
    spikes_brian2: int
    spikes_emulator: int
    count_correlation: float
    within_1step: float
    within_1step_emulator: float
    exact_step: float
    offset_steps: float
    conductance_based: bool
    headroom: str
    approximations: list[str]
    per_neuron: pd.DataFrame = field(repr=False)
    lava_identical: bool | None = None
    lava_steps: int = 0
    results: dict[str, Result] = field(default_factory=dict, repr=False)

    def meets_goal(self, correlation: float = CORRELATION_GOAL, within: float = WITHIN_1STEP_GOAL) -> bool:
        """Issue 4's acceptance: count correlation ≥ 0.99 and ≥ 95 % of spikes within ±1 step."""
        return self.count_correlation >= correlation and self.within_1step >= within

    def row(self) -> dict:
        """The summary as a flat dict (one table row)."""
        return {
            "network": self.network,
            "kind": "conductance" if self.conductance_based else "CUBA",
            "duration_s": self.duration_s,
            "neurons": self.n_neurons,
            "spikes_brian2": self.spikes_brian2,
            "spikes_emulator": self.spikes_emulator,
            "count_corr": self.count_correlation,
            "within_1step": self.within_1step,
            "exact_step": self.exact_step,
            "offset_steps": self.offset_steps,
            "lava_identical": self.lava_identical,
        }


def spike_steps(result: Result, name: str, dt: float) -> np.ndarray:
    """Integer step indices of one neuron's spikes (spike times are k·dt on both backends)."""
    return np.rint(np.asarray(result.spike_times.get(name, ()), dtype=float) / dt).astype(np.int64)


def compare_steps(a: Result, b: Result, names: list[str], dt: float) -> tuple[pd.DataFrame, dict]:
    """Per-neuron counts and ±1-step matches of runs `a` (reference) and `b`, plus pooled figures."""
    rows, offsets = [], []
    hits = {"a1": 0, "b1": 0, "a0": 0}
    for name in names:
        sa, sb = spike_steps(a, name, dt), spike_steps(b, name, dt)
        h1 = metrics.coincident_count(sa, sb, 1)
        hits["a1"] += h1
        hits["b1"] += metrics.coincident_count(sb, sa, 1)
        hits["a0"] += metrics.coincident_count(sa, sb, 0)
        if len(sa) and len(sb):
            nearest = sb[np.clip(np.searchsorted(sb, sa), 0, len(sb) - 1)]
            before = sb[np.clip(np.searchsorted(sb, sa) - 1, 0, len(sb) - 1)]
            d = np.where(np.abs(nearest - sa) <= np.abs(before - sa), nearest - sa, before - sa)
            offsets.extend(d[np.abs(d) <= 5].tolist())
        rows.append(
            {"count_a": len(sa), "count_b": len(sb), "within_1step": h1 / len(sa) if len(sa) else math.nan}
        )
    table = pd.DataFrame(rows, index=pd.Index(names, name="neuron"))
    total_a, total_b = int(table["count_a"].sum()), int(table["count_b"].sum())
    summary = {
        "total_a": total_a,
        "total_b": total_b,
        "count_correlation": metrics.count_correlation(table["count_a"], table["count_b"]),
        "within_1step": hits["a1"] / total_a if total_a else math.nan,
        "within_1step_b": hits["b1"] / total_b if total_b else math.nan,
        "exact_step": hits["a0"] / total_a if total_a else math.nan,
        "offset_steps": float(np.median(offsets)) if offsets else math.nan,
    }
    return table, summary


def _unmatched(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The sorted steps `x` with no step of `y` (sorted) within ±1."""
    if not len(y):
        return x
    i = np.searchsorted(y, x)
    left, right = y[np.maximum(i - 1, 0)], y[np.minimum(i, len(y) - 1)]
    return x[np.minimum(np.abs(x - left), np.abs(x - right)) > 1]


def first_divergence(a: Result, b: Result, names: list[str], dt: float) -> tuple[int, str] | None:
    """(step, neuron) of the earliest spike, in either run, without a spike of the same neuron within ±1 step
    in the other run; None when every spike has one. Every spike `compare_steps` leaves unmatched is at or
    after this step."""
    first: tuple[int, str] | None = None
    for name in names:
        sa, sb = spike_steps(a, name, dt), spike_steps(b, name, dt)
        for alone in (_unmatched(sa, sb), _unmatched(sb, sa)):
            if len(alone) and (first is None or alone[0] < first[0]):
                first = (int(alone[0]), name)
    return first


def winner(
    result: Result, candidates: Mapping[str, Sequence[str]], start: float = 0.0, stop: float | None = None
) -> str | None:
    """The decision of a decision circuit: which read-out of `candidates` (label → its neurons, e.g. "AVA" →
    AVAL, AVAR) fires most spikes in [start, stop) seconds, its neurons summed; None on a tie (all silent too).
    """
    counts = result.spike_counts(start, stop)
    totals = {label: sum(counts.get(n, 0) for n in neurons) for label, neurons in candidates.items()}
    best = max(totals.values())
    tops = [label for label, n in totals.items() if n == best]
    return tops[0] if len(tops) == 1 else None


def _network(circuit_or_network: str | ir.Network, duration: float | None) -> ir.Network:
    if isinstance(circuit_or_network, str):
        from wormchip.circuits.build import build
        from wormchip.circuits.loader import load_spec

        network = build(load_spec(circuit_or_network))
    else:
        network = circuit_or_network
    if duration is not None:
        network = dataclasses.replace(network, duration=float(duration))
    return network


def fidelity(
    circuit_or_network: str | ir.Network,
    duration: float | None = None,
    *,
    target: str | None = None,
    headroom: str = "calibrated",
    lava: bool = False,
    lava_steps: int | None = None,
    brian2_result: Result | None = None,
    max_bias_changes: int | None = None,
) -> FidelityReport:
    """Run `circuit_or_network` (a library circuit name or an IR network) in Brian2 and in the emulator.

    `duration` overrides the network's (seconds); `target`: Brian2 code-generation target (None: the
    network's, "auto" picks the target estimated to finish first). `headroom`: "calibrated" quantizes with
    `calibrated_headroom` (v's range measured in a float run of the lowered network) or "default" with
    `quantize`'s defaults. `lava=True` also runs Lava for `lava_steps` steps (default all) and records
    whether spikes, u and v equal the emulator's. `brian2_result`: reuse a Brian2 run of the same network.
    `max_bias_changes`: passed to `lower` (None: its default, which averages fast-changing currents).
    Raises `UnsupportedFeature` if the network does not lower.
    """
    from wormchip.backends.brian2_backend import run_brian2
    from wormchip.backends.emulator import run_emulator
    from wormchip.mappers.lower import lower
    from wormchip.mappers.quantize import calibrated_headroom, quantize

    if headroom not in ("calibrated", "default"):
        raise ValueError(f"headroom = {headroom!r}; choose 'calibrated' or 'default'")
    network = _network(circuit_or_network, duration)
    lowered = (
        lower(network) if max_bias_changes is None else lower(network, max_bias_changes=max_bias_changes)
    )
    kwargs = {"v_headroom": calibrated_headroom(lowered)} if headroom == "calibrated" else {}
    fixed, _report = quantize(lowered, **kwargs)
    emu = run_emulator(fixed, lowered.steps, record=())
    b2 = brian2_result if brian2_result is not None else run_brian2(network, target=target)
    names = list(network.names)
    table, s = compare_steps(b2, emu, names, network.dt)
    table = table.rename(columns={"count_a": "count_brian2", "count_b": "count_emulator"})
    lava_identical = None
    n_lava = 0
    results = {"brian2": b2, "emulator": emu}
    if lava:
        from wormchip.backends.lava_runner import run_lava

        n_lava = lowered.steps if lava_steps is None else min(lava_steps, lowered.steps)
        lava_run = run_lava(fixed, n_lava)
        emu_uv = run_emulator(fixed, n_lava)
        lava_identical = all(
            np.array_equal(lava_run.spike_times[n], emu_uv.spike_times[n]) for n in fixed.neuron_names
        ) and all(np.array_equal(lava_run.traces[x].values, emu_uv.traces[x].values) for x in ("u", "v"))
        results["lava"] = lava_run
    conductance = any(b.model == "conductance_lif" for b in network.blocks) or any(
        p.synapse in ("exp_conductance", "graded_sigmoid") for p in network.projections
    )
    return FidelityReport(
        network=network.name,
        duration_s=network.duration,
        dt=network.dt,
        n_neurons=network.size,
        spikes_brian2=s["total_a"],
        spikes_emulator=s["total_b"],
        count_correlation=s["count_correlation"],
        within_1step=s["within_1step"],
        within_1step_emulator=s["within_1step_b"],
        exact_step=s["exact_step"],
        offset_steps=s["offset_steps"],
        conductance_based=conductance,
        headroom=headroom,
        approximations=[a.feature for a in lowered.approximations],
        per_neuron=table,
        lava_identical=lava_identical,
        lava_steps=n_lava,
        results=results,
    )


# --- where the divergence comes from ------------------------------------------------------------------------------

ATTRIBUTION_CLASSES = (
    "decay_u",
    "decay_v",
    "v_th",
    "v_reset",
    "bias",
    "weights",
    "input_weights",
    "gap",
    "v_clip",
    "adaptation",
)


def represented(
    lowered: LoweredNetwork, fixed: FixedPointNetwork, report: QuantizationReport, classes: tuple[str, ...]
) -> tuple[LoweredNetwork, np.ndarray | None]:
    """`lowered` with the float values `fixed` represents for the parameter `classes` only (the rest exact).

    Returns (LoweredNetwork, v_limit or None) for `simulate_lowered`. Classes (`ATTRIBUTION_CLASSES`):
    "decay_u" is (du + 1)/4096 with `quantize`'s compensation of the weights (×d_u'/d_u); "weights" and
    "input_weights" the integer blocks' values without that compensation (their own rounding only);
    "decay_v" v's whole self-decay (dv and the graded diagonal); "gap" the represented couplings g_ij, with
    the total self-decay kept; "v_clip" v clipped at ±(2²³ − 1) units (the headroom); "bias" includes the
    schedule; "adaptation" w's decay dw/2²⁴ and increment adapt_b·2^−w_shift (with `quantize`'s compensation
    ×d_w'/d_w). The integer state arithmetic (truncated decays, `v >> gap_shift` messages) is not modelled:
    the emulator adds it.
    """
    from wormchip.mappers.fixed_point import V_RESET_LIMIT, W_DECAY_BITS
    from wormchip.mappers.quantize import U_SHIFT, _represented

    classes = set(classes)
    unknown = classes - set(ATTRIBUTION_CLASSES)
    if unknown:
        raise ValueError(f"unknown parameter classes {sorted(unknown)}; choose from {ATTRIBUTION_CLASSES}")
    s = report.v_scale
    eff_u = np.minimum(fixed.du + 1, 4096) / 4096
    with np.errstate(divide="ignore", invalid="ignore"):
        ru = np.where(lowered.decay_u > 0, eff_u / lowered.decay_u, 1.0)
    gap_sum = np.asarray(lowered.gap.sum(axis=1)).ravel()
    rep_gap = sp.diags(s) @ _represented(fixed.gap_weights, lowered.gap.shape, fixed.gap_shift, False)
    rep_gap = (rep_gap @ sp.diags(1 / s)).tocsr()
    rep_diag = rep_gap.diagonal() if fixed.gap_weights else np.zeros(len(s))
    off = (rep_gap - sp.diags(rep_diag)).tocsr() if "gap" in classes else lowered.gap
    total_decay = fixed.dv / 4096 - rep_diag if "decay_v" in classes else lowered.decay_v + gap_sum
    changes: dict = {"gap": off, "decay_v": total_decay - np.asarray(off.sum(axis=1)).ravel()}
    unit_w = sp.diags(s * 2**U_SHIFT)
    ru_rows = sp.diags(ru if "decay_u" in classes else np.ones(len(s)))

    def weights_as(key: str, exact: sp.csr_matrix, blocks: tuple) -> sp.csr_matrix:
        if key in classes:
            return (ru_rows @ sp.diags(1 / ru) @ unit_w @ _represented(blocks, exact.shape)).tocsr()
        return (ru_rows @ exact).tocsr()

    by_delay = [
        (d, weights_as("weights", w, tuple(b for b in fixed.weights if b.delay == d)))
        for d, w in lowered.weights_by_delay()
    ]
    changes["weights"] = by_delay[0][1]
    changes["delayed_weights"] = tuple(by_delay[1:])
    changes["input_weights"] = weights_as("input_weights", lowered.input_weights, fixed.input_weights)
    if "decay_u" in classes:
        changes["decay_u"] = eff_u
    if "v_th" in classes:
        changes["v_th"] = fixed.vth * 2.0**U_SHIFT * s
    if "v_reset" in classes:
        changes["v_reset"] = fixed.v_reset * s
    if "bias" in classes:
        changes["bias"] = (fixed.bias_mant << fixed.bias_exp) * s
        changes["bias_schedule"] = tuple(
            (c.step, (c.bias_mant << c.bias_exp) * s) for c in fixed.bias_schedule
        )
    if "adaptation" in classes:
        changes["decay_w"] = fixed.dw / 2**W_DECAY_BITS
        changes["adapt_b"] = fixed.adapt_b * 2.0**-fixed.w_shift * s
    v_limit = V_RESET_LIMIT * s if "v_clip" in classes else None
    return dataclasses.replace(lowered, **changes), v_limit


def attribute(
    circuit_or_network: str | ir.Network,
    duration: float | None = None,
    *,
    target: str | None = None,
    headroom: str = "calibrated",
    brian2_result: Result | None = None,
    classes: tuple[str, ...] = ATTRIBUTION_CLASSES,
) -> pd.DataFrame:
    """Which quantization moves the spikes: Brian2 vs the float lowered network with ONE parameter class
    quantized at a time (`represented`), then all of them, then the emulator (which adds the integer
    state arithmetic). Rows: "float" (nothing quantized), each of `classes` (default every class; () keeps
    the three stages lowering, parameters, integer arithmetic: 3 runs instead of 13), "all parameters",
    "emulator"; columns: within_1step, exact_step, count_corr, spikes (Brian2's in `attrs["spikes_brian2"]`).
    """
    from wormchip.backends.brian2_backend import run_brian2
    from wormchip.backends.emulator import result_from_raster, run_emulator
    from wormchip.mappers.lower import lower, simulate_lowered
    from wormchip.mappers.quantize import calibrated_headroom, quantize

    network = _network(circuit_or_network, duration)
    lowered = lower(network)
    kwargs = {"v_headroom": calibrated_headroom(lowered)} if headroom == "calibrated" else {}
    fixed, report = quantize(lowered, **kwargs)
    b2 = brian2_result if brian2_result is not None else run_brian2(network, target=target)
    names = list(network.names)
    rows = {}
    variants = [
        ("float", ()),
        *((c, (c,)) for c in classes),
        ("all parameters", ATTRIBUTION_CLASSES),
    ]
    for label, quantized in variants:
        if label == "adaptation" and not fixed.has_adaptation:  # nothing to quantize: the float row
            rows[label] = rows["float"]
            continue
        net, v_limit = represented(lowered, fixed, report, quantized)
        _, raster = simulate_lowered(net, v_limit=v_limit)
        _, s = compare_steps(b2, result_from_raster(fixed, raster, {}, {}), names, network.dt)
        rows[label] = s
    _, rows["emulator"] = compare_steps(b2, run_emulator(fixed, lowered.steps, record=()), names, network.dt)
    table = pd.DataFrame(
        {
            k: {
                "within_1step": s["within_1step"],
                "exact_step": s["exact_step"],
                "count_corr": s["count_correlation"],
                "spikes": s["total_b"],
            }
            for k, s in rows.items()
        }
    ).T
    table.index.name = "quantized"
    table.attrs["spikes_brian2"] = rows["float"]["total_a"]
    return table


def perturbed(network: ir.Network, eps: float = 1e-5, seed: int = 0) -> ir.Network:
    """`network` with every synaptic, gap-junction and input weight multiplied by 1 ± `eps` (random signs)."""
    rng = np.random.default_rng(seed)

    def jitter(w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=float)
        return w * (1 + eps * rng.choice([-1.0, 1.0], size=w.shape))

    return dataclasses.replace(
        network,
        projections=tuple(dataclasses.replace(p, weight=jitter(p.weight)) for p in network.projections),
        spike_inputs=tuple(dataclasses.replace(s, weight=jitter(s.weight)) for s in network.spike_inputs),
    )


def sensitivity(
    circuit_or_network: str | ir.Network,
    duration: float | None = None,
    *,
    eps: float = 1e-5,
    seed: int = 0,
    target: str | None = None,
    brian2_result: Result | None = None,
) -> dict:
    """Float-vs-float ceiling: Brian2 vs Brian2 on the network with its weights perturbed by `eps` relative
    (`perturbed`). A circuit whose spikes move under a 1e-5 perturbation cannot be matched spike for spike
    by any fixed-point implementation; returns `compare_steps`' summary (within_1step, count_correlation, …).
    """
    from wormchip.backends.brian2_backend import run_brian2

    network = _network(circuit_or_network, duration)
    b2 = brian2_result if brian2_result is not None else run_brian2(network, target=target)
    other = run_brian2(perturbed(network, eps, seed), target=target)
    return compare_steps(b2, other, list(network.names), network.dt)[1]
