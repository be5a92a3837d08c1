"""`compare(result_a, result_b)`: per-neuron and summary agreement of two runs, plus figures.

Rules for runs that do not line up:

* Neurons: only names in both runs are compared (in run A's order); the others are listed in the summary
  (`only_in`). No common neuron is an error.
* Time step: "within ±1 step" needs one step. Equal `dt` (relative difference <= 1e-9) compares integer step
  indices exactly; different `dt` raises `ValueError` unless `step_s` is given, which then defines the step.
* Duration: both runs are cut to the shorter duration; rates and distances use that common window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from wormchip.analysis import metrics, population
from wormchip.result import Result

DT_RTOL = 1e-9


@dataclass
class Comparison:
    """Outcome of `compare`: `per_neuron` table, `summary` numbers, and the settings used (`params`)."""

    labels: tuple[str, str]
    per_neuron: pd.DataFrame
    summary: dict
    params: dict
    results: tuple[Result, Result] = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-serialisable form (NaN becomes None): labels, params, summary, per-neuron records."""
        return _jsonable(
            {
                "labels": list(self.labels),
                "params": self.params,
                "summary": self.summary,
                "per_neuron": self.per_neuron.reset_index().to_dict(orient="records"),
            }
        )

    def figures(self) -> dict[str, Figure]:
        """Raster overlay of the two runs and per-neuron rate scatter with the identity line."""
        return {"raster": self._raster(), "rate_scatter": self._rate_scatter()}

    def _raster(self) -> Figure:
        from wormchip.plots import name_rows, raster_height

        names = list(self.per_neuron.index)
        t_stop = self.params["t_stop_s"]
        fig = Figure(figsize=(10, raster_height(len(names))), layout="constrained")
        ax = fig.add_subplot()
        for (label, result), offset, color in zip(zip(self.labels, self.results), (-0.2, 0.2), ("C0", "C3")):
            xs, ys = [], []
            for i, name in enumerate(names):
                times = np.asarray(result.spike_times.get(name, ()), dtype=float)
                times = times[times <= t_stop]
                xs.append(times)
                ys.append(np.full(len(times), i + offset))
            ax.scatter(np.concatenate(xs), np.concatenate(ys), marker="|", s=30, color=color, label=label)
        ax.set_xlim(0, t_stop)
        ax.set_xlabel("time (s)")
        name_rows(ax, names)
        ax.set_title(f"Spike raster: {self.labels[0]} vs {self.labels[1]}")
        fig.legend(loc="outside right upper")
        return fig

    def _rate_scatter(self) -> Figure:
        a, b = self.labels
        rate_a, rate_b = self.per_neuron[f"rate_{a}_hz"], self.per_neuron[f"rate_{b}_hz"]
        fig = Figure(figsize=(5, 5), layout="constrained")
        ax = fig.add_subplot()
        ax.scatter(rate_a, rate_b, s=15, alpha=0.7)
        top = max(float(np.nanmax([rate_a.max(), rate_b.max()])), 1e-3) * 1.05
        ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="identity")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_aspect("equal")
        ax.set_xlabel(f"firing rate, {a} (Hz)")
        ax.set_ylabel(f"firing rate, {b} (Hz)")
        r = self.summary["count_correlation"]
        ax.set_title(f"Per-neuron rates (Pearson r = {r:.3f})" if not math.isnan(r) else "Per-neuron rates")
        ax.legend(loc="upper left")
        return fig


def compare(
    result_a: Result,
    result_b: Result,
    labels: Sequence[str] = ("a", "b"),
    *,
    tau_s: float = 0.01,
    q_hz: float = 100.0,
    window_s: float = 0.005,
    step_s: float | None = None,
    n_components: int = 3,
    sigma_s: float = 0.01,
    sampling_s: float = 0.001,
) -> Comparison:
    """Compare two runs neuron by neuron and as populations (rules for mismatches in the module doc).

    `tau_s`: van Rossum kernel; `q_hz`: Victor-Purpura shift cost; `window_s`: coincidence window (±);
    `step_s`: the step for "within ±1 step" when the runs' dt differ; `n_components`, `sigma_s`, `sampling_s`:
    population PCA and rate smoothing.
    """
    label_a, label_b = (str(x) for x in labels)
    if label_a == label_b:
        raise ValueError(f"labels must differ, got {labels!r}")
    in_b = set(result_b.neuron_names)
    names = [n for n in result_a.neuron_names if n in in_b]
    common = set(names)
    if not names:
        raise ValueError("the two runs have no neuron name in common; nothing to compare")
    same_dt = math.isclose(result_a.dt, result_b.dt, rel_tol=DT_RTOL)
    if not same_dt and step_s is None:
        raise ValueError(
            f"runs have different dt ({result_a.dt} s vs {result_b.dt} s); pass step_s= to say which step "
            "'within ±1 step' means"
        )
    step = result_a.dt if step_s is None else step_s
    t_stop = min(result_a.duration, result_b.duration)

    def cut(result: Result) -> dict[str, np.ndarray]:
        out = {}
        for n in names:
            times = np.sort(np.asarray(result.spike_times.get(n, ()), dtype=float))
            out[n] = times[times <= t_stop]
        return out

    spikes_a, spikes_b = cut(result_a), cut(result_b)

    def on_grid(times: np.ndarray) -> np.ndarray:
        # Default: exact integer step indices. With `step_s`: seconds, and the window is `step_s` seconds.
        return np.rint(times / step).astype(np.int64) if step_s is None else times

    one_step = 1 if step_s is None else step
    rows = []
    hits = {"step_a": 0, "step_b": 0, "window_a": 0, "window_b": 0}
    for n in names:
        a, b = spikes_a[n], spikes_b[n]
        hits_step_a = metrics.coincident_count(on_grid(a), on_grid(b), one_step)
        hits_window = metrics.coincident_count(a, b, window_s)
        hits["step_a"] += hits_step_a
        hits["step_b"] += metrics.coincident_count(on_grid(b), on_grid(a), one_step)
        hits["window_a"] += hits_window
        hits["window_b"] += metrics.coincident_count(b, a, window_s)
        rows.append(
            {
                f"count_{label_a}": len(a),
                f"count_{label_b}": len(b),
                f"rate_{label_a}_hz": len(a) / t_stop,
                f"rate_{label_b}_hz": len(b) / t_stop,
                "van_rossum": metrics.van_rossum(a, b, tau_s, t_stop),
                "victor_purpura": metrics.victor_purpura(a, b, q_hz, t_stop),
                "coincidence_window": hits_window / len(a) if len(a) else math.nan,
                "coincidence_1step": hits_step_a / len(a) if len(a) else math.nan,
            }
        )
    table = pd.DataFrame(rows, index=pd.Index(names, name="neuron"))
    totals = {label_a: int(table[f"count_{label_a}"].sum()), label_b: int(table[f"count_{label_b}"].sum())}

    summary = {
        "n_neurons": len(names),
        "only_in": {
            label_a: [n for n in result_a.neuron_names if n not in in_b],
            label_b: [n for n in result_b.neuron_names if n not in common],
        },
        "total_spikes": totals,
        "count_correlation": metrics.count_correlation(table[f"count_{label_a}"], table[f"count_{label_b}"]),
        # Pooled over neurons: fraction of one run's spikes with a spike of the same neuron in the other run.
        "fraction_within_1step": {
            label_a: _ratio(hits["step_a"], totals[label_a]),
            label_b: _ratio(hits["step_b"], totals[label_b]),
        },
        "fraction_within_window": {
            label_a: _ratio(hits["window_a"], totals[label_a]),
            label_b: _ratio(hits["window_b"], totals[label_b]),
        },
        "mean_van_rossum": float(table["van_rossum"].mean()),
        "mean_victor_purpura": float(table["victor_purpura"].mean()),
        "population_similarity": population.population_similarity(
            result_a,
            result_b,
            names,
            n_components=n_components,
            sigma_s=sigma_s,
            sampling_s=sampling_s,
            t_stop_s=t_stop,
        ),
    }
    tau_eff = {
        label: {
            "median": float(population.tau_eff_summary(r.traces["tau_eff"]).loc["all", "median"]),
            "unit": r.traces["tau_eff"].unit,
        }
        for label, r in ((label_a, result_a), (label_b, result_b))
        if "tau_eff" in r.traces
    }
    if tau_eff:
        summary["tau_eff"] = tau_eff
    params = {
        "tau_s": tau_s,
        "q_hz": q_hz,
        "window_s": window_s,
        "step_s": step,
        "n_components": n_components,
        "sigma_s": sigma_s,
        "sampling_s": sampling_s,
        "t_stop_s": t_stop,
        "dt_s": {label_a: result_a.dt, label_b: result_b.dt},
    }
    return Comparison((label_a, label_b), table, summary, params, (result_a, result_b))


def _ratio(hits: int, total: int) -> float:
    """hits / total, NaN when there is nothing to count."""
    return hits / total if total else math.nan


def _jsonable(obj: object) -> object:
    """Plain Python types for `json.dumps`: numpy scalars to Python numbers, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
