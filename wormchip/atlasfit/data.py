"""Per-trial atlas responses, a robust outlier treatment, and the data's own split-half reproducibility.

Source: Randi et al. (2023), Nature 623:406–414 (doi:10.1038/s41586-023-06683-4); `funatlas.h5` of the
`wormneuroatlas` package (Leifer lab, GPLv3 data, read with h5py only). `<strain>/dFF_all[i, j]` holds the
per-trial ΔF/F of responding neuron i when neuron j was stimulated; `dFF[i, j]` is exactly their mean.

Outlier treatment: every trial value is winsorized at the strain's 0.5 % and 99.5 % quantiles of all trial
values of the compared pairs (wt: −0.215 and 0.707). Measured on wt: the half-vs-half r of pair means is
0.058 raw (one trial, M2L ← RIML at ΔF/F −105, dominates), 0.160 with per-half medians, 0.183 / 0.188 /
0.194 / 0.187 winsorized at 0.1 / 0.5 / 1 / 2.5 %. The middle setting is fixed here, not tuned per result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import h5py
import numpy as np

from wormchip.analysis.atlas import STRAINS, atlas_path, load_atlas
from wormchip.errors import WormchipError

WINSOR_QUANTILE = 0.005


class AtlasFitError(WormchipError, ValueError):
    """The atlas fit cannot run as asked (unknown strain, too many folds, a circuit without atlas neurons)."""


@dataclass(frozen=True)
class TrialData:
    """One strain's measured pairs in a circuit's neuron order: responding `resp[k]` ← stimulated `stim[k]`
    (indices into `names`), winsorized per-trial ΔF/F `trials[k]`, the atlas q value `q[k]`, and the
    winsorizing limits."""

    strain: str
    names: tuple[str, ...]
    resp: np.ndarray
    stim: np.ndarray
    trials: tuple[np.ndarray, ...]
    q: np.ndarray
    limits: tuple[float, float]

    @property
    def mean(self) -> np.ndarray:
        """Per-pair mean of the winsorized trials (the fitted target)."""
        return np.array([t.mean() for t in self.trials])

    @property
    def n_trials(self) -> np.ndarray:
        return np.array([len(t) for t in self.trials])

    @property
    def stimulated(self) -> np.ndarray:
        """Sorted indices (into `names`) of the neurons stimulated in at least one compared pair."""
        return np.unique(self.stim)


def winsorize(trials: Sequence[np.ndarray], quantile: float = WINSOR_QUANTILE) -> tuple[list, tuple]:
    """Clip every trial value to the [quantile, 1 − quantile] range of all values pooled; also the limits."""
    pooled = np.concatenate([np.asarray(t, dtype=float) for t in trials])
    lo, hi = (float(x) for x in np.quantile(pooled, [quantile, 1.0 - quantile]))
    return [np.clip(np.asarray(t, dtype=float), lo, hi) for t in trials], (lo, hi)


@cache
def load_trials(strain: str, names: tuple[str, ...]) -> TrialData:
    """The atlas pairs of `strain` whose two neurons are both in `names` (responding ≠ stimulated)."""
    if strain not in STRAINS:
        raise AtlasFitError(f"unknown strain {strain!r}; choose one of {', '.join(STRAINS)}")
    atlas = load_atlas(strain)
    index = {n: k for k, n in enumerate(names)}
    ai, aj = atlas.pairs()
    keep = np.array(
        [atlas.canonical[a] in index and atlas.canonical[b] in index for a, b in zip(ai, aj)], dtype=bool
    )
    ai, aj = ai[keep], aj[keep]
    if len(ai) == 0:
        raise AtlasFitError(
            f"the circuit has no neuron pair measured in the atlas ({strain}): its neurons are not named as "
            "connectome neurons (e.g. AVAL); use whole_worm"
        )
    with h5py.File(atlas_path(), "r") as f:
        table = f[strain]["dFF_all"]
        raw = [np.asarray(table[a, b], dtype=float) for a, b in zip(ai, aj)]
    raw = [t[np.isfinite(t)] for t in raw]
    ok = np.array([len(t) > 0 for t in raw])
    trials, limits = winsorize([t for t, k in zip(raw, ok) if k])
    resp = np.array([index[atlas.canonical[a]] for a in ai[ok]], dtype=np.int64)
    stim = np.array([index[atlas.canonical[b]] for b in aj[ok]], dtype=np.int64)
    return TrialData(strain, names, resp, stim, tuple(trials), atlas.q[ai[ok], aj[ok]], limits)


def split_halves(
    trials: Sequence[np.ndarray], rng: np.random.Generator, min_trials: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random split of each pair's trials into halves (⌊n/2⌋ and ⌈n/2⌉ trials): (pair indices with ≥
    `min_trials` trials, mean of half A, mean of half B)."""
    idx = np.array([k for k, t in enumerate(trials) if len(t) >= min_trials], dtype=np.int64)
    a, b = np.empty(len(idx)), np.empty(len(idx))
    for m, k in enumerate(idx):
        t = trials[k]
        order = rng.permutation(len(t))
        h = len(t) // 2
        a[m], b[m] = t[order[:h]].mean(), t[order[h:]].mean()
    return idx, a, b


def spearman_brown(r: float) -> float:
    """Reliability of the full data from the half-vs-half correlation r: 2r / (1 + r)."""
    return 2.0 * r / (1.0 + r)


def reproducibility(trials: Sequence[np.ndarray], splits: int = 20, seed: int = 0) -> dict[str, float]:
    """Split-half reproducibility of pair means: Pearson r between the means of two random halves of each
    pair's trials over all pairs with ≥ 2 trials, repeated `splits` times (mean and sd), its Spearman–Brown
    full-data reliability, and the ceiling √reliability that any model's r with the full-data means obeys."""
    rng = np.random.default_rng(seed)
    rs = []
    for _ in range(splits):
        _, a, b = split_halves(trials, rng)
        rs.append(float(np.corrcoef(a, b)[0, 1]))
    r = float(np.mean(rs))
    rel = spearman_brown(r)
    return {
        "half_r": r,
        "half_r_sd": float(np.std(rs)),
        "splits": splits,
        "pairs": int(sum(len(t) >= 2 for t in trials)),
        "spearman_brown": rel,
        "ceiling": float(np.sqrt(max(rel, 0.0))),
    }
