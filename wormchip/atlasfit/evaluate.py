"""Held-out evaluation of the atlas fit and its baselines, on the same folds.

Two evaluations (definitions repeated in docs/results.md):

* **Held-out trials** (as Creamer, Leifer & Pillow 2024): each pair's trials (pairs with ≥ 2) are split at
  random into halves A and B; the model is fitted to the A means and scored by Pearson r(prediction, B means);
  `fraction_of_reproducibility` = that r ÷ r(A means, B means), averaged over the random splits.
* **Held-out stimulations**: the stimulated neurons are split into k folds; a fold's test pairs are all pairs
  whose stimulated neuron is in it, and no pair with that stimulated neuron is in training. The regularisation
  α is chosen by an inner k-fold over the training fold's stimulated neurons (nested CV). With `bag` > 1 the
  fold's model may be a subsample-bagged ensemble (`Bagged`: `bag` fits, each to a random share of the
  training stimulations, predictions averaged); the share (`BAG_FRACTIONS`, 1.0 = one fit on all) is chosen
  by the same inner CV. Scores pool the
  held-out pairs of all folds: Pearson r (`heldout_r`), ROC AUC of |prediction| for the atlas's q < 0.05
  pairs, sign agreement, and heldout_r ÷ √(Spearman–Brown reliability) (`fraction_of_ceiling`).

Baselines on the same folds: anatomy (signed direct chemical weight + gap weight of the pair, no fit), the
unfitted spiking model (`whole_worm` free-potential responses from `wormchip.analysis.perturbation`), the
read-out bias alone (each responder's training mean), the same fit on degree-preserving shuffles
(`wormchip.analysis.shuffle`), and an unconstrained all-to-all fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from wormchip.analysis.atlas import auc_score, sign_agreement
from wormchip.atlasfit.data import AtlasFitError, TrialData, split_halves
from wormchip.atlasfit.model import FittedModel, Structure, fit

ALPHAS = (1e-3, 1e-4)
MAXITER = 300
BAG_FRACTIONS = (1.0, 0.5)  # share of the training stimulations each bagged fit sees (1.0: one fit on all)


@dataclass(frozen=True)
class Bagged:
    """Fits to random subsets of the training stimulations, predicting their mean (subagging): each fit sees
    fewer experiments, and the average cancels much of what each fitted to its own subset's noise."""

    members: tuple[FittedModel, ...]

    def predict(self, resp: np.ndarray, stim: np.ndarray) -> np.ndarray:
        return np.mean([m.predict(resp, stim) for m in self.members], axis=0)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; NaN if either side is constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def stimulus_folds(stimulated: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The stimulated neurons in `k` random folds of near-equal size."""
    stimulated = np.asarray(stimulated)
    if not 2 <= k <= len(stimulated):
        raise AtlasFitError(
            f"--folds must be between 2 and the {len(stimulated)} stimulated neurons, not {k}"
        )
    return [np.sort(f) for f in np.array_split(rng.permutation(stimulated), k)]


def fold_pairs(stim: np.ndarray, folds: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) pair indices per fold: test = pairs whose stimulated neuron is in the fold."""
    out = []
    for f in folds:
        test = np.isin(stim, f)
        out.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return out


@dataclass
class CVRun:
    """Out-of-fold predictions of one model on every pair, and the α chosen per fold."""

    prediction: np.ndarray
    alphas: list[float]
    models: list[FittedModel | Bagged]
    fractions: list[float]


def _fit(
    structure: Structure, data: TrialData, idx: np.ndarray, alpha: float, target=None, **kw
) -> FittedModel:
    y = data.mean[idx] if target is None else target
    return fit(
        structure, data.resp[idx], data.stim[idx], y, np.minimum(data.n_trials[idx], 8), alpha=alpha,
        maxiter=MAXITER, **kw,
    )  # fmt: skip


def _fit_bagged(
    structure: Structure,
    data: TrialData,
    idx: np.ndarray,
    alpha: float,
    bag: int,
    fraction: float,
    seed: int,
    **kw,
) -> FittedModel | Bagged:
    """One fit on pairs `idx`, or (`bag` > 1, `fraction` < 1) `bag` fits on random `fraction`s of their
    stimulated neurons."""
    if bag <= 1 or fraction >= 1:
        return _fit(structure, data, idx, alpha, **kw)
    rng = np.random.default_rng(seed)
    stimulated = np.unique(data.stim[idx])
    members = []
    for _ in range(bag):
        keep = rng.choice(stimulated, size=max(2, int(fraction * len(stimulated))), replace=False)
        members.append(_fit(structure, data, idx[np.isin(data.stim[idx], keep)], alpha, **kw))
    return Bagged(tuple(members))


def choose_settings(
    structure: Structure,
    data: TrialData,
    train: np.ndarray,
    alphas: Sequence[float],
    inner_k: int,
    seed: int,
    fractions: Sequence[float] = (1.0,),
    bag: int = 1,
    **kw,
) -> tuple[float, float]:
    """(α, bag fraction) with the best inner-CV Pearson r, folds over the training pairs' stimulated neurons
    only: α first (one fit each), then the bag fractions below 1 at that α (none without bagging)."""
    fractions = [float(f) for f in fractions] if bag > 1 else [1.0]
    if len(alphas) == 1 and len(fractions) == 1:
        return float(alphas[0]), fractions[0]
    stim = data.stim[train]
    folds = stimulus_folds(np.unique(stim), inner_k, np.random.default_rng(seed))

    def inner_r(alpha: float, fraction: float) -> float:
        pred = np.zeros(len(train))
        for f, (tr, te) in enumerate(fold_pairs(stim, folds)):
            model = _fit_bagged(structure, data, train[tr], alpha, bag, fraction, seed + f, **kw)
            pred[te] = model.predict(data.resp[train[te]], data.stim[train[te]])
        return float(np.nan_to_num(pearson(pred, data.mean[train]), nan=-np.inf))

    whole = 1.0 if 1.0 in fractions else fractions[0]  # α is chosen at this fraction
    scored = [(inner_r(float(a), whole), (float(a), whole)) for a in alphas] if len(alphas) > 1 else []
    alpha = max(scored, key=lambda t: t[0])[1][0] if scored else float(alphas[0])
    scored += [(inner_r(alpha, f), (alpha, f)) for f in fractions if f != whole]
    return max(scored, key=lambda t: t[0])[1]


def _per_fold(values: Sequence, k: int) -> list:
    """A grid shared by every fold, or (one sequence per fold) fold k's own."""
    grid = values[k] if np.ndim(values) == 2 else values
    return [grid] if np.ndim(grid) == 0 else list(grid)


def crossval(
    structure: Structure,
    data: TrialData,
    folds: Sequence[np.ndarray],
    alphas: Sequence[float] | Sequence[Sequence[float]] = ALPHAS,
    inner_k: int = 3,
    seed: int = 0,
    step: Callable[[], None] | None = None,
    bag: int = 1,
    fractions: Sequence[float] | Sequence[Sequence[float]] = (1.0,),
    **kw,
) -> CVRun:
    """Out-of-fold predictions over stimulated-neuron folds; α (and, with `bag` > 1, the bag fraction) by nested
    CV from `alphas` and `fractions` (or, given one sequence per fold, from that fold's own)."""
    pred = np.full(len(data.mean), np.nan)
    chosen, chosen_fractions, models = [], [], []
    for k, (train, test) in enumerate(fold_pairs(data.stim, folds)):
        alpha, fraction = choose_settings(
            structure,
            data,
            train,
            _per_fold(alphas, k),
            inner_k,
            seed + k,
            _per_fold(fractions, k),
            bag,
            **kw,
        )
        model = _fit_bagged(structure, data, train, alpha, bag, fraction, seed + k, **kw)
        pred[test] = model.predict(data.resp[test], data.stim[test])
        chosen.append(alpha)
        chosen_fractions.append(fraction)
        models.append(model)
        if step is not None:
            step()
    return CVRun(pred, chosen, models, chosen_fractions)


def scores(pred: np.ndarray, data: TrialData, ceiling: float) -> dict[str, float]:
    """Pearson r, AUC of |pred| for q < 0.05, sign agreement (and chance) on all pairs, fraction of ceiling."""
    y = data.mean
    r = pearson(pred, y)
    agree, chance, n = sign_agreement(pred, y)
    return {
        "r": r,
        "auc": auc_score(np.abs(pred), data.q < 0.05),
        "sign_agreement": agree,
        "sign_chance": chance,
        "sign_pairs": n,
        "fraction_of_ceiling": r / ceiling if ceiling > 0 else float("nan"),
    }


def bias_only(data: TrialData, folds: Sequence[np.ndarray]) -> np.ndarray:
    """Each held-out pair predicted by its responder's mean over the training pairs (0 if none)."""
    pred = np.zeros(len(data.mean))
    n = len(data.names)
    for train, test in fold_pairs(data.stim, folds):
        count = np.bincount(data.resp[train], minlength=n)
        mean = np.bincount(data.resp[train], data.mean[train], n) / np.maximum(count, 1)
        pred[test] = mean[data.resp[test]]
    return pred


def anatomy(structure: Structure, data: TrialData) -> np.ndarray:
    """Signed direct anatomical weight j → i of every pair (chemical strength × sign + gap strength)."""
    w = np.zeros((structure.n, structure.n))
    np.add.at(w, (structure.chem_post, structure.chem_pre), structure.chem_strength * structure.chem_sign)
    np.add.at(w, (structure.gap_a, structure.gap_b), structure.gap_strength)
    np.add.at(w, (structure.gap_b, structure.gap_a), structure.gap_strength)
    return w[data.resp, data.stim]


def heldout_trials(
    structure: Structure,
    data: TrialData,
    alpha: float,
    rng: np.random.Generator,
    **kw,
) -> dict[str, float]:
    """One random trial split: fit on half A's means, r(prediction, B), r(A, B) and their ratio."""
    idx, a, b = split_halves(data.trials, rng)
    half = TrialData(
        data.strain, data.names, data.resp[idx], data.stim[idx], tuple(data.trials[k] for k in idx),
        data.q[idx], data.limits,
    )  # fmt: skip
    model = fit(
        structure,
        half.resp,
        half.stim,
        a,
        np.minimum(half.n_trials // 2, 8),
        alpha=alpha,
        maxiter=MAXITER,
        **kw,
    )
    pred = model.predict(half.resp, half.stim)
    r_model, r_half = pearson(pred, b), pearson(a, b)
    return {
        "r_model_b": r_model,
        "r_a_b": r_half,
        "fraction": r_model / r_half,
        "r_model_a": pearson(pred, a),
    }
