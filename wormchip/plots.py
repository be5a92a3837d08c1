"""Plot helpers for a `Result`: raster (rows named), state traces, effective time constant, weight evolution;
and a compiled network's load per core.

Each returns a matplotlib Figure with labelled axes and units; nothing is shown or saved here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from wormchip.result import Result, Trace

_SCALE = {"V": (1e3, "mV"), "s": (1e3, "ms"), "A": (1e9, "nA"), "S": (1e9, "nS")}


def name_rows(ax: plt.Axes, names: list[str], fontsize: float = 6.0) -> None:
    """Label the rows 0..n-1 of `ax` with neuron names: every row where the labels fit at `fontsize`,
    else every k-th row (a tick on every row), so a 302-row raster still reads by name."""
    fig = ax.figure
    height_pt = ax.get_position().height * fig.get_figheight() * 72
    step = max(1, int(np.ceil(len(names) * fontsize * 1.15 / max(height_pt, 1.0))))
    ax.set_yticks(range(len(names)), minor=True)
    named = range(0, len(names), step)
    ax.set_yticks(named, [names[i] for i in named], fontsize=fontsize)
    ax.set_ylim(len(names) - 0.5, -0.5)  # first name on top
    ax.set_ylabel("neuron" if step == 1 else f"neuron ({len(named)} of {len(names)} named)")


def raster_height(rows: int, cap: float = 16.0) -> float:
    """Figure height in inches for a raster of `rows` named rows (0.15 in each), at most `cap`."""
    return min(cap, max(2.0, 0.15 * rows + 1.2))


def raster(result: Result, neurons: list[str] | None = None, title: str | None = None) -> Figure:
    """Spike raster: one row per neuron (only neurons that spiked, unless `neurons` is given), named."""
    names = neurons or [n for n in result.neuron_names if len(result.spike_times[n])] or result.neuron_names
    fig, ax = plt.subplots(figsize=(8, raster_height(len(names))))
    for row, name in enumerate(names):
        times = np.asarray(result.spike_times.get(name, []))
        ax.plot(
            times * 1e3, np.full(len(times), row), "|", color="k", markersize=6 if len(names) <= 100 else 3
        )
    ax.set_xlim(0, result.duration * 1e3)
    ax.set_xlabel("time (ms)")
    ax.set_title(
        title or f"{result.metadata.get('circuit', '')} raster ({result.metadata.get('backend', '')})"
    )
    name_rows(ax, names, fontsize=9 if len(names) <= 20 else 6.5)
    fig.tight_layout()
    return fig


def _time_axes(trace: Trace, quantity: str) -> tuple[Figure, plt.Axes, float]:
    """A figure for a trace over time: axes labelled in ms and the trace's readable unit; returns its scale."""
    scale, unit = _SCALE.get(trace.unit, (1.0, trace.unit))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"{quantity} ({unit})" if unit else quantity)
    return fig, ax, scale


def traces(result: Result, variable: str = "v", neurons: list[str] | None = None) -> Figure:
    """Sampled state variable over time, one line per neuron, in readable units (mV, ms, nA, nS)."""
    if variable not in result.traces:
        raise KeyError(
            f"no trace {variable!r} in this result (recorded: {', '.join(result.traces) or 'none'})"
        )
    trace = result.traces[variable]
    fig, ax, scale = _time_axes(trace, variable)
    for name in neurons or trace.channels:
        ax.plot(trace.times * 1e3, trace.channel(name) * scale, label=name, lw=1)
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    return fig


def tau_eff(result: Result, neurons: list[str] | None = None) -> Figure:
    """Effective membrane time constant C/(g_L + Σg) over time: the 'liquid' time constant."""
    fig = traces(result, "tau_eff", neurons)
    fig.axes[0].set_title("effective membrane time constant τ_eff = C_m / (g_L + Σ g_syn)")
    fig.tight_layout()  # again, so the title fits
    return fig


def weights(result: Result, connection: str, max_lines: int = 40) -> Figure:
    """Signed weights of a plastic connection over time (at most `max_lines` synapses drawn)."""
    if connection not in result.weights:
        raise KeyError(
            f"no plastic connection {connection!r} (recorded: {', '.join(result.weights) or 'none'})"
        )
    trace = result.weights[connection]
    fig, ax, scale = _time_axes(trace, "weight")
    ax.plot(trace.times * 1e3, trace.values[:, :max_lines] * scale, lw=0.8)
    ax.set_title(f"{connection}: {min(max_lines, len(trace.channels))} of {len(trace.channels)} synapses")
    fig.tight_layout()
    return fig


def core_load(report: dict) -> Figure:
    """Each core's use of each per-core limit (a compile report's `to_dict()`), as bars in % of the limit:
    what a single-core mapping has to show, where a core map would be one square."""
    limits = report["limits_per_core"]
    cores = report["per_core"]
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.45 * len(limits) * min(len(cores), 4)))
    labels, fractions, notes = [], [], []
    for resource, limit in limits.items():
        for index, core in enumerate(cores[:4]):
            labels.append(resource if len(cores) == 1 else f"{resource}, core {index}")
            fractions.append(100.0 * core[resource] / limit)
            notes.append(f"{core[resource]:,} of {limit:,}")
    bars = ax.barh(labels, fractions, color="tab:green")
    ax.bar_label(bars, notes, padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("use of the per-core limit (%)")
    shown = "" if len(cores) <= 4 else " (first 4 shown)"
    ax.set_title(f"{report['target']}: {len(cores)} core(s){shown}, load per resource")
    fig.tight_layout()
    return fig
