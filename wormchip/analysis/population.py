"""Population-level views of a run: smoothed rates, PCA trajectories, run-to-run similarity, tau_eff spread.

Rates are Elephant's `instantaneous_rate` with a Gaussian kernel. PCA is a plain SVD of the centred
rate matrix (no scikit-learn). Two runs are compared by Procrustes analysis (`scipy.spatial.procrustes`) of
their top-component trajectories: it removes translation, scale, rotation and reflection, so the score
asks "do the two populations trace the same low-dimensional shape over time?", independently of sign flips
or rotations of the principal axes, which differ between runs for trivial reasons.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import quantities as pq
from scipy.spatial import procrustes

from wormchip.analysis.metrics import to_spiketrain
from wormchip.result import Result, Trace

with warnings.catch_warnings():
    # elephant changes the global warning filters on import (see wormchip.analysis.metrics)
    from elephant import kernels, statistics


@dataclass
class PCATrajectory:
    """Projection of a rate matrix on its top principal components.

    `scores[t, k]` is component k at `times[t]` (Hz); `components[k, i]` is neuron `names[i]`'s loading.
    """

    times: np.ndarray
    scores: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    names: list[str]


def smoothed_rates(
    result: Result,
    names: Sequence[str] | None = None,
    sigma_s: float = 0.01,
    sampling_s: float = 0.001,
    t_stop_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-kernel (std `sigma_s`) firing rates sampled every `sampling_s`: (times s, rates[t, i] Hz).

    `names` defaults to `result.neuron_names`; `t_stop_s` (default: the run's duration) cuts the run short.
    """
    names = list(result.neuron_names if names is None else names)
    if not names:
        raise ValueError("smoothed_rates needs at least one neuron")
    t_stop = result.duration if t_stop_s is None else t_stop_s
    trains = [to_spiketrain(result.spike_times.get(n, ()), t_stop) for n in names]
    rates = statistics.instantaneous_rate(
        trains, sampling_period=sampling_s * pq.s, kernel=kernels.GaussianKernel(sigma_s * pq.s)
    )
    return rates.times.rescale(pq.s).magnitude, rates.rescale(pq.Hz).magnitude


def pca_trajectory(
    times: np.ndarray, rates: np.ndarray, names: Sequence[str], n_components: int = 3
) -> PCATrajectory:
    """Top `n_components` principal components of `rates[t, i]` (fewer if the matrix is smaller)."""
    centred = rates - rates.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(n_components, len(s))
    total = float(np.sum(s**2))
    ratio = s[:k] ** 2 / total if total > 0 else np.zeros(k)
    return PCATrajectory(
        times=np.asarray(times),
        scores=u[:, :k] * s[:k],
        components=vt[:k],
        explained_variance_ratio=ratio,
        names=list(names),
    )


def procrustes_similarity(x: np.ndarray, y: np.ndarray) -> float:
    """1 - Procrustes disparity of two trajectories `[t, k]` (1 = same shape up to shift/scale/rotation).

    Columns are zero-padded to the wider of the two. NaN if either trajectory is constant (no shape).
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"trajectories differ in number of time samples: {x.shape[0]} vs {y.shape[0]}")
    width = max(x.shape[1], y.shape[1])
    x = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    y = np.pad(y, ((0, 0), (0, width - y.shape[1])))
    if np.ptp(x, axis=0).max() == 0 or np.ptp(y, axis=0).max() == 0:
        return float("nan")
    return float(1.0 - procrustes(x, y)[2])


def population_similarity(
    result_a: Result,
    result_b: Result,
    names: Sequence[str] | None = None,
    n_components: int = 3,
    sigma_s: float = 0.01,
    sampling_s: float = 0.001,
    t_stop_s: float | None = None,
) -> float:
    """Procrustes similarity of the two runs' own top-`n_components` PCA trajectories of smoothed rates.

    `names` defaults to the neurons in both runs; `t_stop_s` to the shorter duration (so time grids match).
    """
    if names is None:
        names = [n for n in result_a.neuron_names if n in set(result_b.neuron_names)]
    t_stop = min(result_a.duration, result_b.duration) if t_stop_s is None else t_stop_s
    trajectories = []
    for result in (result_a, result_b):
        times, rates = smoothed_rates(result, names, sigma_s=sigma_s, sampling_s=sampling_s, t_stop_s=t_stop)
        trajectories.append(pca_trajectory(times, rates, names, n_components).scores)
    return procrustes_similarity(*trajectories)


def tau_eff_summary(trace: Trace) -> pd.DataFrame:
    """Distribution of effective membrane time constants: per-channel and pooled ("all") summary statistics.

    Columns: mean, std, min, p05, median, p95, max (in the trace's unit, also given in column `unit`).
    NaN samples (e.g. a neuron not simulated at that time) are ignored.
    """
    values = np.asarray(trace.values, dtype=float)
    columns = {**{c: values[:, k] for k, c in enumerate(trace.channels)}, "all": values.ravel()}
    rows = {}
    for channel, v in columns.items():
        v = v[np.isfinite(v)]
        if len(v) == 0:
            rows[channel] = dict.fromkeys(("mean", "std", "min", "p05", "median", "p95", "max"), np.nan)
            continue
        p05, median, p95 = np.percentile(v, [5, 50, 95])
        rows[channel] = {
            "mean": v.mean(),
            "std": v.std(),
            "min": v.min(),
            "p05": p05,
            "median": median,
            "p95": p95,
            "max": v.max(),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "channel"
    table["unit"] = trace.unit
    return table
