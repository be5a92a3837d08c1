"""Single-neuron spike metrics and spike-train distances, computed with Elephant on Neo spike trains.

Spike times are plain seconds (as in `Result.spike_times`); each function converts them to a
`neo.SpikeTrain` on `[0, t_stop]` and calls the Elephant routine, so the numbers follow Elephant's
definitions. The two distances keep Elephant's normalisations:

* van Rossum (`van_rossum`): D(empty, one spike) = 1, so two single spikes `delta` apart give
  D = sqrt(2 * (1 - exp(-delta / tau))); divide by sqrt(2) for the 2001 paper's normalisation.
* Victor-Purpura (`victor_purpura`): insert/delete cost 1, shift cost `q * |dt|`, so one spike shifted by
  `delta` gives min(q * delta, 2).

Coincidence and count correlation are not spike-train distances Elephant offers in this form, so they are
short numpy/scipy functions here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TypeAlias

import neo
import numpy as np
import pandas as pd
import quantities as pq
from scipy import stats

from wormchip.result import Result

with warnings.catch_warnings():
    # elephant.spade runs `warnings.simplefilter("once", UserWarning)` when elephant is imported, for the whole
    # process: that un-hides library deprecation warnings that also subclass UserWarning (Brian2's 17
    # PyparsingDeprecationWarnings in `wormchip demo`). catch_warnings restores the filters after the import.
    from elephant import conversion, spike_train_dissimilarity, statistics

#: Spike times in seconds (or integer step indices where a function says so).
SpikeTimes: TypeAlias = Sequence[float] | np.ndarray

#: Relative slack on coincidence windows, so a shift of exactly one window counts despite float rounding.
WINDOW_RTOL = 1e-9


def to_spiketrain(times_s: SpikeTimes, t_stop_s: float) -> neo.SpikeTrain:
    """Neo spike train on `[0, t_stop_s]`; spikes after `t_stop_s` are dropped (Neo rejects them)."""
    times = np.sort(np.asarray(times_s, dtype=float))
    return neo.SpikeTrain(times[times <= t_stop_s] * pq.s, t_start=0.0 * pq.s, t_stop=t_stop_s * pq.s)


def firing_rate(times_s: SpikeTimes, t_stop_s: float) -> float:
    """Mean firing rate (Hz) over `[0, t_stop_s]`."""
    rate = statistics.mean_firing_rate(to_spiketrain(times_s, t_stop_s))
    return float(rate.rescale(pq.Hz).magnitude)


def isi_cv(times_s: SpikeTimes) -> float:
    """Coefficient of variation of inter-spike intervals (1 for Poisson, 0 for clockwork); NaN if < 2 ISIs."""
    intervals = statistics.isi(np.sort(np.asarray(times_s, dtype=float)))
    if len(intervals) < 2:
        return float("nan")
    return float(statistics.cv(intervals))


def fano_factor(times_s: SpikeTimes, t_stop_s: float, window_s: float) -> float:
    """Fano factor (var/mean) of spike counts in consecutive `window_s` windows over `[0, t_stop_s]`.

    Counts come from Elephant's `BinnedSpikeTrain` (half-open bins, so a spike on a window edge counts once);
    the ratio uses the population variance, as Elephant's `fanofactor` does across trials. A trailing partial
    window is dropped. NaN with fewer than two windows or no spikes.
    """
    n_windows = int(np.floor(t_stop_s / window_s + WINDOW_RTOL))
    if n_windows < 2:
        return float("nan")
    with warnings.catch_warnings():
        # Elephant 1.1 passes quantities 0.16 a no-op `copy=` argument; the warning is not for our users.
        warnings.simplefilter("ignore", pq.QuantitiesDeprecationWarning)
        binned = conversion.BinnedSpikeTrain(
            to_spiketrain(times_s, t_stop_s), bin_size=window_s * pq.s, t_stop=n_windows * window_s * pq.s
        )
        counts = binned.to_array()[0]
    if counts.sum() == 0:
        return float("nan")
    return float(counts.var() / counts.mean())


def van_rossum(times_a: SpikeTimes, times_b: SpikeTimes, tau_s: float, t_stop_s: float) -> float:
    """Van Rossum distance with exponential kernel `tau_s`, Elephant's normalisation (see module doc).

    Elephant takes the square root of a cancelled sum, so identical trains give 0 up to round-off (~1e-7),
    or NaN when round-off makes the sum slightly negative; that NaN is returned as 0.
    """
    pair = [to_spiketrain(times_a, t_stop_s), to_spiketrain(times_b, t_stop_s)]
    with np.errstate(invalid="ignore"):
        distance = spike_train_dissimilarity.van_rossum_distance(pair, time_constant=tau_s * pq.s)[0, 1]
    return 0.0 if np.isnan(distance) else float(distance)


def victor_purpura(times_a: SpikeTimes, times_b: SpikeTimes, q_hz: float, t_stop_s: float) -> float:
    """Victor-Purpura distance with shift cost `q_hz` per second of shift (insert/delete cost 1)."""
    pair = [to_spiketrain(times_a, t_stop_s), to_spiketrain(times_b, t_stop_s)]
    return float(spike_train_dissimilarity.victor_purpura_distance(pair, cost_factor=q_hz * pq.Hz)[0, 1])


def coincident_count(times_a: SpikeTimes, times_b: SpikeTimes, window: float) -> int:
    """Number of spikes of A with a spike of B within `±window` (seconds, or steps for integer input).

    A spike of B may serve several spikes of A: this counts hits of A in B, not a one-to-one matching. Float
    windows get a relative slack of `WINDOW_RTOL`; integer inputs compare exactly.
    """
    a, b = np.asarray(times_a), np.sort(np.asarray(times_b))
    if len(a) == 0 or len(b) == 0:
        return 0
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(b.dtype, np.floating):
        window = window * (1 + WINDOW_RTOL)
    idx = np.searchsorted(b, a)
    left = b[np.clip(idx - 1, 0, len(b) - 1)]
    right = b[np.clip(idx, 0, len(b) - 1)]
    nearest = np.minimum(np.abs(a - left), np.abs(right - a))
    return int(np.count_nonzero(nearest <= window))


def coincidence_fraction(times_a: SpikeTimes, times_b: SpikeTimes, window: float) -> float:
    """Fraction of spikes of A with a spike of B within `±window` (see `coincident_count`); NaN if A is empty.

    Not symmetric. Pass integer step indices (`Result.spike_steps`) and `window=1` for "within ±1 step".
    """
    n = len(times_a)
    return coincident_count(times_a, times_b, window) / n if n else float("nan")


def count_correlation(counts_a: SpikeTimes, counts_b: SpikeTimes) -> float:
    """Pearson correlation across neurons of two runs' spike counts; NaN if one is constant or < 2 neurons."""
    a, b = np.asarray(counts_a, dtype=float), np.asarray(counts_b, dtype=float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.pearsonr(a, b)[0])


def spike_metrics(
    result: Result,
    fano_window_s: float = 0.1,
    names: Sequence[str] | None = None,
    t_stop_s: float | None = None,
) -> pd.DataFrame:
    """Per-neuron table of one run: spike count, rate (Hz), ISI CV, Fano factor of counts in `fano_window_s`.

    `names` defaults to `result.neuron_names`; `t_stop_s` (default: the run's duration) cuts the run short.
    """
    names = list(result.neuron_names if names is None else names)
    t_stop = result.duration if t_stop_s is None else t_stop_s
    rows = []
    for name in names:
        times = np.asarray(result.spike_times.get(name, ()), dtype=float)
        times = times[times <= t_stop]
        rows.append(
            {
                "count": len(times),
                "rate_hz": firing_rate(times, t_stop),
                "isi_cv": isi_cv(times),
                "fano": fano_factor(times, t_stop, fano_window_s),
            }
        )
    return pd.DataFrame(rows, index=pd.Index(names, name="neuron"))
