"""Biology vs model: compare simulated perturbations of a circuit with the C. elegans signal-propagation atlas.

Data: Randi F, Sharma AK, Dvali S, Leifer AM (2023) "Neural signal propagation atlas of Caenorhabditis
elegans", Nature 623:406–414, doi:10.1038/s41586-023-06683-4. The matrices come from `data/funatlas.h5` of
the `wormneuroatlas` package (Leifer lab, GPLv3), read here with h5py only (its `NeuroAtlas` class is never
imported: it makes a web call). Each neuron j was stimulated optogenetically while calcium (GCaMP) was
imaged in the others; `dFF[i, j]` is responding neuron i's ΔF/F averaged over a post-stimulus window and
trials, `q[i, j]` its false-discovery-corrected q value. Wild type ("wt") and unc-31 mutants ("unc31",
defective in dense-core-vesicle, i.e. neuropeptide, release) are stored separately.

The model side (`atlas_compare`): stimulate every atlas-stimulated neuron of a circuit with a current pulse
(`wormchip.analysis.perturbation`, all stimulations batched), take each neuron's change in a calcium proxy,
and score agreement on exactly the measured pairs (sign agreement, Spearman ρ, ROC AUC of |response| for
the q < 0.05 pairs) against degree-preserving shuffles of the wiring (`wormchip.analysis.shuffle`).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import h5py
import numpy as np
from scipy import stats

from wormchip import ir
from wormchip.analysis.perturbation import PerturbationProtocol, perturb
from wormchip.analysis.shuffle import shuffle_network
from wormchip.errors import WormchipError

ATLAS_CITATION = (
    "Randi F, Sharma AK, Dvali S, Leifer AM (2023) Neural signal propagation atlas of Caenorhabditis "
    "elegans. Nature 623:406-414, doi:10.1038/s41586-023-06683-4; data: wormneuroatlas package "
    "(Leifer lab), data/funatlas.h5"
)
STRAINS = ("wt", "unc31")
#: Atlas labels without a one-to-one wormchip (Cook 2019) neuron. AWC ON/OFF identity is chosen stochastically
#: per animal (left or right), so neither label maps to AWCL or AWCR. All other labels match exactly
#: (the atlas, like wormchip, writes VB1, not VB01).
UNMAPPED = {"AWCON": None, "AWCOF": None}
STATISTICS = ("sign_agreement", "sign_agreement_q05", "spearman_r", "auc")
MEASURE_UNITS = {"v_free": "mV", "v": "mV", "rate": "Hz"}
MEASURE_SCALE = {"v_free": 1e3, "v": 1e3, "rate": 1.0}
#: A simulated response counts as nonzero above this magnitude (SI: 1 µV for voltages, any change in rate).
NONZERO_TOL = {"v_free": 1e-6, "v": 1e-6, "rate": 0.0}


def atlas_path() -> Path:
    """Location of `funatlas.h5` inside the installed `wormneuroatlas` package (found without importing it)."""
    spec = importlib.util.find_spec("wormneuroatlas")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the wormneuroatlas package (data only) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "funatlas.h5"


@dataclass(frozen=True)
class Atlas:
    """One strain's signal-propagation atlas. Convention: `[i, j]` = responding neuron i, stimulated neuron j.

    `names` are the file's labels (order of the matrices); `canonical[k]` the wormchip neuron name or None
    (see `UNMAPPED`). `dff` (ΔF/F, dimensionless), `q` and `q_eq` are NaN where the pair was not measured;
    `measured` = finite ΔF/F and q (wt: 24,074 pairs; the file has one more finite q, URYDL ← ADER with a
    single trial and no ΔF/F, so 1,310 q < 0.05 entries but 1,309 measured pairs with q < 0.05);
    `occurrences[i, j]` counts trials where both neurons were observed.
    """

    strain: str
    names: tuple[str, ...]
    canonical: tuple[str | None, ...]
    dff: np.ndarray
    q: np.ndarray
    q_eq: np.ndarray
    occurrences: np.ndarray
    measured: np.ndarray
    compiled: str
    source: str
    citation: str = ATLAS_CITATION

    @property
    def stimulated(self) -> np.ndarray:
        """Indices j with at least one measured response (including j's own)."""
        return np.flatnonzero(self.measured.any(axis=0))

    def pairs(self, include_self: bool = False, mapped_only: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(responding i, stimulated j) index arrays of the measured pairs, row-major order."""
        mask = self.measured.copy()
        if not include_self:
            np.fill_diagonal(mask, False)
        if mapped_only:
            ok = np.array([c is not None for c in self.canonical])
            mask &= ok[:, None] & ok[None, :]
        return np.nonzero(mask)


@cache
def load_atlas(strain: str = "wt", path: str | None = None) -> Atlas:
    """Read one strain ("wt" or "unc31") of the Randi et al. (2023) atlas from funatlas.h5 (cached)."""
    if strain not in STRAINS:
        raise ValueError(f"strain must be one of {STRAINS}, not {strain!r}")
    file = Path(path) if path else atlas_path()
    with h5py.File(file, "r") as f:
        names = tuple(n.decode() for n in f["neuron_ids"][:])
        g = f[strain]
        dff, q, q_eq = g["dFF"][:], g["q"][:], g["q_eq"][:]
        occ = g["occ1"][:]
        compiled = f.attrs.get("time_compiled", b"").decode()
    measured = np.isfinite(dff) & np.isfinite(q)
    for a in (dff, q, q_eq, occ, measured):
        a.setflags(write=False)
    canonical = tuple(UNMAPPED.get(n, n) for n in names)
    return Atlas(strain, names, canonical, dff, q, q_eq, occ, measured, compiled, str(file))


# --- statistics ------------------------------------------------------------------------------------------------
def auc_score(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC of `score` for boolean `label` (Mann–Whitney U / (n₊n₋), ties count one half); NaN if a class is
    empty."""
    score = np.asarray(score, dtype=float)
    label = np.asarray(label, dtype=bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def sign_agreement(sim: np.ndarray, measured: np.ndarray, tol: float = 0.0) -> tuple[float, float, int]:
    """Fraction of pairs with the same sign, among pairs with |sim| > tol and measured ≠ 0; also the chance
    level p₊q₊ + p₋q₋ from the two sign frequencies on those pairs, and the number of pairs."""
    sim = np.asarray(sim, dtype=float)
    measured = np.asarray(measured, dtype=float)
    keep = (np.abs(sim) > tol) & (measured != 0)
    n = int(keep.sum())
    if not n:
        return float("nan"), float("nan"), 0
    s, m = sim[keep] > 0, measured[keep] > 0
    chance = s.mean() * m.mean() + (1 - s.mean()) * (1 - m.mean())
    return float((s == m).mean()), float(chance), n


def pair_statistics(
    sim: np.ndarray, dff: np.ndarray, q: np.ndarray, tol: float = 0.0, alpha: float = 0.05
) -> dict[str, float]:
    """All agreement statistics of simulated responses `sim` with measured `dff` (q values `q`) on the same
    pairs: sign agreement (all / q < alpha), its chance level, Spearman ρ, AUC of |sim| for q < alpha."""
    sim, dff, q = (np.asarray(a, dtype=float) for a in (sim, dff, q))
    sig = q < alpha
    agree, chance, n_sign = sign_agreement(sim, dff, tol)
    agree_q, chance_q, n_sign_q = sign_agreement(sim[sig], dff[sig], tol)
    if len(sim) > 1 and np.ptp(sim) > 0 and np.ptp(dff) > 0:
        rho = float(stats.spearmanr(sim, dff).statistic)
    else:
        rho = float("nan")
    return {
        "pairs": int(len(sim)),
        "significant_pairs": int(sig.sum()),
        "sign_agreement": agree,
        "sign_chance": chance,
        "sign_pairs": n_sign,
        "sign_agreement_q05": agree_q,
        "sign_chance_q05": chance_q,
        "sign_pairs_q05": n_sign_q,
        "spearman_r": rho,
        "auc": auc_score(np.abs(sim), sig),
    }


def empirical_p(real: float, null: np.ndarray) -> float:
    """One-sided p value that the real statistic exceeds the null: (1 + #{null ≥ real}) / (1 + n).

    Undefined (NaN, reported as None) without a null: with 0 shuffles the formula would say p = 1.
    """
    null = np.asarray(null, dtype=float)
    null = null[np.isfinite(null)]
    if not np.isfinite(real) or len(null) == 0:
        return float("nan")
    return float((1 + np.sum(null >= real)) / (1 + len(null)))


class AtlasCompareError(WormchipError, ValueError):
    """The atlas comparison cannot run on this circuit (no atlas pairs, or neuron models it cannot simulate)."""


# --- the experiment --------------------------------------------------------------------------------------------
@dataclass
class StrainComparison:
    """Agreement of the model with one strain's atlas: real statistics, shuffle nulls, p values, pair data."""

    strain: str
    stats: dict[str, float]
    null: dict[str, np.ndarray]
    null_p: dict[str, float]
    sim: np.ndarray  # simulated response per pair (SI)
    dff: np.ndarray
    q: np.ndarray
    pair_names: list[tuple[str, str]]  # (responding, stimulated)

    def to_dict(self) -> dict:
        return {
            **self.stats,
            "null_mean": {k: _nanmean(v) for k, v in self.null.items()},
            "null_sd": {k: _nanstd(v) for k, v in self.null.items()},
            "null_p": dict(self.null_p),
        }


@dataclass
class AtlasComparison:
    """Result of `atlas_compare`: per-strain comparisons, a wt-vs-unc-31 comparison on the pairs both measured,
    and run metadata. `to_dict()` is JSON-ready; its top level holds the primary strain's figures."""

    circuit: str
    strain: str
    measure: str
    shuffles: int
    seed: int
    protocol: PerturbationProtocol
    strains: dict[str, StrainComparison]
    common: dict
    timing: dict[str, float]
    citation: str = ATLAS_CITATION
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        main = self.strains[self.strain].to_dict()
        p = self.protocol
        return _strict(
            {
                "circuit": self.circuit,
                "strain": self.strain,
                "measure": self.measure,
                "measure_unit": MEASURE_UNITS[self.measure],
                "shuffles": self.shuffles,
                "seed": self.seed,
                **main,
                "strains": {s: c.to_dict() for s, c in self.strains.items()},
                "wt_vs_unc31": self.common,
                "protocol": {
                    "amplitude_nA": p.amplitude * 1e9,
                    "pulse_ms": p.pulse * 1e3,
                    "warmup_ms": p.warmup * 1e3,
                    "window_ms": p.window * 1e3,
                    "background": p.background,
                },
                "timing": dict(self.timing),
                "citation": self.citation,
            }
        )


def _strict(obj: object) -> object:
    """JSON-safe copy: NaN/inf → None, numpy scalars → Python numbers (so `json.dumps` output is strict)."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    return obj


def atlas_compare(
    circuit: str = "whole_worm",
    shuffles: int = 100,
    strain: str = "wt",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    measure: str = "v_free",
    protocol: PerturbationProtocol | None = None,
    network: ir.Network | None = None,
    swaps_per_edge: float = 10.0,
    alpha: float = 0.05,
    engine: str = "auto",
) -> AtlasComparison:
    """Simulate the atlas experiment on `circuit` and its `shuffles` degree-preserving rewirings; compare with
    both strains (`strain` is the one reported at the top level of `to_dict`).

    `progress(done, total)` is called after the real run (done = 1) and after each shuffle (total =
    shuffles + 1). `measure`: "v_free" (free membrane potential, default), "v" or "rate"; `network` overrides
    the circuit's built IR. Shuffle k uses `np.random.default_rng(SeedSequence(seed).spawn(...)[k])`.
    `engine`: the perturbation simulator's ("auto", "numba" or "numpy"; identical results).
    """
    if measure not in MEASURE_UNITS:
        raise ValueError(f"measure must be one of {sorted(MEASURE_UNITS)}, not {measure!r}")
    if strain not in STRAINS:
        raise ValueError(f"strain must be one of {STRAINS}, not {strain!r}")
    if shuffles < 0:
        raise ValueError(f"shuffles must be ≥ 0, not {shuffles}")
    t_start = time.perf_counter()
    protocol = protocol or PerturbationProtocol()
    if network is None:
        from wormchip.circuits.build import build
        from wormchip.circuits.loader import load_spec

        network = build(load_spec(circuit))
    lif_only = sorted({block.model for block in network.blocks} - {"lif"})
    index = network.index()
    atlases = {s: load_atlas(s) for s in STRAINS}
    # Pairs per strain (both neurons in the model, not the stimulated neuron itself) and the stimulated set.
    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    stim_names: set[str] = set()
    for s, atlas in atlases.items():
        ai, aj = atlas.pairs()
        names_i = [atlas.canonical[k] for k in ai]
        names_j = [atlas.canonical[k] for k in aj]
        keep = np.array([a in index and b in index for a, b in zip(names_i, names_j)], dtype=bool)
        ai, aj = ai[keep], aj[keep]
        mi = np.array([index[atlas.canonical[k]] for k in ai], dtype=np.int64)
        mj = np.array([index[atlas.canonical[k]] for k in aj], dtype=np.int64)
        pairs[s] = (ai, aj, mi, mj)
        stim_names |= {network.names[k] for k in mj}
    if len(pairs[strain][0]) == 0:
        raise AtlasCompareError(
            f"circuit {network.name or circuit!r} has no neuron pair measured in the atlas ({strain}): its "
            f"{network.size} neurons are not named as connectome neurons (e.g. AVAL, not AVA); "
            "try --circuit whole_worm"
        )
    if lif_only:
        raise AtlasCompareError(
            f"atlas comparison simulates current-based lif neurons only; circuit {network.name or circuit!r} "
            f"uses {', '.join(lif_only)}; try --circuit whole_worm"
        )
    stimulated = np.array(sorted(index[n] for n in stim_names), dtype=np.int64)
    column = np.full(network.size, -1, dtype=np.int64)
    column[stimulated] = np.arange(len(stimulated))
    tol = NONZERO_TOL[measure]
    common = _common_pairs(atlases, pairs)

    def score(response: np.ndarray) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        out = {}
        for s, (ai, aj, mi, mj) in pairs.items():
            a = atlases[s]
            out[s] = pair_statistics(response[mi, column[mj]], a.dff[ai, aj], a.q[ai, aj], tol, alpha)
        delta = {}
        if common is not None:
            mi, mj, per = common
            sim = response[mi, column[mj]]
            by = {s: pair_statistics(sim, d, q, tol, alpha) for s, (d, q) in per.items()}
            delta = {k: by["unc31"][k] - by["wt"][k] for k in STATISTICS}
            delta |= {f"{s}_{k}": by[s][k] for s in by for k in STATISTICS}
        return out, delta

    real = perturb(network, stimulated, protocol, engine=engine)
    sim_real = real.response[measure]
    real_stats, real_delta = score(sim_real)
    t_real = time.perf_counter() - t_start
    if progress is not None:
        progress(1, shuffles + 1)
    null: dict[str, dict[str, list[float]]] = {s: {k: [] for k in STATISTICS} for s in STRAINS}
    null_delta: dict[str, list[float]] = {k: [] for k in real_delta}
    t_shuffle = time.perf_counter()
    for k, child in enumerate(np.random.SeedSequence(seed).spawn(shuffles)):
        rng = np.random.default_rng(child)
        shuffled = shuffle_network(network, rng, swaps_per_edge)
        res = perturb(shuffled, stimulated, protocol, engine=engine)
        st, dl = score(res.response[measure])
        for s in STRAINS:
            for name in STATISTICS:
                null[s][name].append(st[s][name])
        for name in null_delta:
            null_delta[name].append(dl[name])
        if progress is not None:
            progress(k + 2, shuffles + 1)
    per_shuffle = (time.perf_counter() - t_shuffle) / max(shuffles, 1)
    comparisons = {}
    for s, (ai, aj, mi, mj) in pairs.items():
        a = atlases[s]
        nulls = {name: np.array(v) for name, v in null[s].items()}
        comparisons[s] = StrainComparison(
            s,
            real_stats[s],
            nulls,
            {name: empirical_p(real_stats[s][name], nulls[name]) for name in STATISTICS},
            sim_real[mi, column[mj]],
            a.dff[ai, aj],
            a.q[ai, aj],
            [(a.canonical[x], a.canonical[y]) for x, y in zip(ai, aj)],
        )
    common_out: dict = {}
    if common is not None:
        common_out = {
            "pairs": int(len(common[0])),
            "stats": real_delta,
            "null_mean": {k: _nanmean(np.array(v)) for k, v in null_delta.items()},
            # p for "unc-31 agrees better than wt by more than rewired connectomes do"
            "null_p": {k: empirical_p(real_delta[k], np.array(null_delta[k])) for k in STATISTICS},
        }
    return AtlasComparison(
        circuit=network.name or circuit,
        strain=strain,
        measure=measure,
        shuffles=shuffles,
        seed=seed,
        protocol=protocol,
        strains=comparisons,
        common=common_out,
        timing={
            "total_s": time.perf_counter() - t_start,
            "real_s": t_real,
            "per_shuffle_s": per_shuffle,
            "stimulated": int(len(stimulated)),
        },
        extra={"baseline": real.baseline, "names": real.names, "null_delta": null_delta},
    )


def _common_pairs(atlases: dict[str, Atlas], pairs: dict) -> tuple | None:
    """Model indices of pairs measured in every strain, with each strain's ΔF/F and q on them."""
    keys = {s: set(zip(p[2].tolist(), p[3].tolist())) for s, p in pairs.items()}
    shared = sorted(set.intersection(*keys.values()))
    if not shared:
        return None
    mi = np.array([i for i, _ in shared], dtype=np.int64)
    mj = np.array([j for _, j in shared], dtype=np.int64)
    per = {}
    for s, (ai, aj, pi, pj) in pairs.items():
        where = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(pi, pj))}
        idx = np.array([where[x] for x in shared], dtype=np.int64)
        per[s] = (atlases[s].dff[ai[idx], aj[idx]], atlases[s].q[ai[idx], aj[idx]])
    return mi, mj, per


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def _nanstd(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float)
    return float(np.nanstd(a)) if np.isfinite(a).any() else float("nan")


# --- figures ---------------------------------------------------------------------------------------------------
STAT_LABELS = {
    "sign_agreement": "sign agreement (fraction of pairs)",
    "sign_agreement_q05": "sign agreement, q < 0.05 pairs (fraction)",
    "spearman_r": "Spearman ρ (simulated vs ΔF/F)",
    "auc": "ROC AUC of |response| for q < 0.05",
}


def plot_null(comparison: AtlasComparison):
    """Histograms of each statistic over the shuffled connectomes (one row per strain), real value marked."""
    import matplotlib.pyplot as plt

    strains = list(comparison.strains)
    fig, axes = plt.subplots(len(strains), len(STATISTICS), figsize=(13, 3.0 * len(strains)), squeeze=False)
    for r, s in enumerate(strains):
        c = comparison.strains[s]
        for k, name in enumerate(STATISTICS):
            ax = axes[r, k]
            values = c.null[name][np.isfinite(c.null[name])]
            ax.hist(values, bins=20, color="0.7", edgecolor="0.4", label=f"{len(values)} shuffles")
            ax.axvline(c.stats[name], color="C3", lw=2, label=f"real {c.stats[name]:.3f}")
            if name.startswith("sign"):
                chance = c.stats["sign_chance" + name.removeprefix("sign_agreement")]
                ax.axvline(chance, color="k", ls=":", lw=1, label=f"chance {chance:.3f}")
            ax.set_xlabel(STAT_LABELS[name], fontsize=8)
            ax.set_ylabel("shuffles (count)")
            ax.set_title(f"{s}: p = {c.null_p[name]:.3g}", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(
        f"{comparison.circuit} vs Randi et al. 2023 atlas: degree-preserving null ({comparison.measure})",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_scatter(comparison: AtlasComparison):
    """Simulated response vs measured ΔF/F on the compared pairs, q < 0.05 pairs highlighted, per strain."""
    import matplotlib.pyplot as plt

    strains = list(comparison.strains)
    scale, unit = MEASURE_SCALE[comparison.measure], MEASURE_UNITS[comparison.measure]
    fig, axes = plt.subplots(1, len(strains), figsize=(5.5 * len(strains), 4.5), squeeze=False)
    for ax, s in zip(axes[0], strains):
        c = comparison.strains[s]
        sig = c.q < 0.05
        ax.scatter(c.sim[~sig] * scale, c.dff[~sig], s=3, color="0.6", alpha=0.4, label="q ≥ 0.05")
        ax.scatter(c.sim[sig] * scale, c.dff[sig], s=6, color="C3", alpha=0.8, label="q < 0.05")
        ax.set_xscale("symlog", linthresh=1e-3 if unit == "mV" else 1.0)
        ax.set_yscale("symlog", linthresh=0.1)
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_xlabel(f"simulated Δ{comparison.measure} ({unit}, symlog)")
        ax.set_ylabel("measured ΔF/F (dimensionless, symlog)")
        ax.set_title(
            f"{s}: {c.stats['pairs']} pairs, ρ = {c.stats['spearman_r']:.3f}, AUC = {c.stats['auc']:.3f}",
            fontsize=9,
        )
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
