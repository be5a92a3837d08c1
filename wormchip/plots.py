"""Plot helpers for a `Result`: raster, state traces, effective time constant, weight evolution.

Each returns a matplotlib Figure with labelled axes and units; nothing is shown or saved here.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from wormchip.result import Result, Trace

_SCALE = {"V": (1e3, "mV"), "s": (1e3, "ms"), "A": (1e9, "nA"), "S": (1e9, "nS")}


def raster(result: Result, neurons: list[str] | None = None, title: str | None = None) -> Figure:
    """Spike raster: one row per neuron (only neurons that spiked, unless `neurons` is given)."""
    names = neurons or [n for n in result.neuron_names if len(result.spike_times[n])] or result.neuron_names
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.18 * len(names) + 1)))
    for row, name in enumerate(names):
        times = np.asarray(result.spike_times.get(name, []))
        ax.plot(times * 1e3, np.full(len(times), row), "|", color="k", markersize=6)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7 if len(names) > 20 else 9)
    ax.set_xlim(0, result.duration * 1e3)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    ax.set_title(
        title or f"{result.metadata.get('circuit', '')} raster ({result.metadata.get('backend', '')})"
    )
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
