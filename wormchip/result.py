"""The one `Result` type every backend returns, and its HDF5 file format.

A run's output is: spike trains by neuron name (seconds), sampled traces (state variables, the effective
membrane time constant, plastic weights), and metadata (spec hash, seed, versions, wall time). Files are
HDF5 written with h5py (layout documented in `save`), readable by any HDF5 tool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

FORMAT_VERSION = 1
_UTF8 = h5py.string_dtype("utf-8")  # names are stored as UTF-8 (files of older versions hold ASCII bytes)


def _utf8(names: list[str]) -> np.ndarray:
    """Names as an array h5py writes as variable-length UTF-8 strings."""
    return np.array([str(n) for n in names], dtype=object)


def _text(value: bytes | str) -> str:
    """A stored name back to `str` (h5py returns bytes for both ASCII and UTF-8 strings)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclass
class Trace:
    """Samples of one quantity: `values[t, k]` is channel `channels[k]` at `times[t]` (seconds)."""

    times: np.ndarray
    channels: list[str]
    values: np.ndarray
    unit: str = ""

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=float)
        self.values = np.asarray(self.values)
        if self.values.shape != (len(self.times), len(self.channels)):
            raise ValueError(
                f"trace values shape {self.values.shape} != (len(times), len(channels)) = "
                f"({len(self.times)}, {len(self.channels)})"
            )

    def channel(self, name: str) -> np.ndarray:
        """Samples of one channel (a neuron name, or `pre->post` for a synapse)."""
        return self.values[:, self.channels.index(name)]


@dataclass
class Result:
    """Output of one simulation run, whatever the backend."""

    neuron_names: list[str]
    duration: float
    dt: float
    spike_times: dict[str, np.ndarray]
    traces: dict[str, Trace] = field(default_factory=dict)
    weights: dict[str, Trace] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def spike_counts(self, start: float = 0.0, stop: float | None = None) -> dict[str, int]:
        """Number of spikes per neuron, in `neuron_names` order; with `start`/`stop` (s) only those in
        [start, stop)."""
        if start == 0.0 and stop is None:
            return {name: int(len(self.spike_times.get(name, ()))) for name in self.neuron_names}
        stop = np.inf if stop is None else stop
        counts = {}
        for name in self.neuron_names:
            t = np.asarray(self.spike_times.get(name, ()))
            counts[name] = int(np.count_nonzero((t >= start) & (t < stop)))
        return counts

    def rates_hz(self) -> dict[str, float]:
        """Mean firing rate per neuron over the whole run."""
        return {name: count / self.duration for name, count in self.spike_counts().items()}

    def spike_steps(self) -> dict[str, np.ndarray]:
        """Spike times as integer time-step indices (for comparisons at step resolution)."""
        return {n: np.rint(np.asarray(t) / self.dt).astype(np.int64) for n, t in self.spike_times.items()}

    def save(self, path: str | Path) -> Path:
        """Write to HDF5: attrs (duration, dt, metadata JSON), /spikes/<name>, /traces/<var>, /weights/<conn>."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            f.attrs["format"] = "wormchip.Result"
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["duration"] = self.duration
            f.attrs["dt"] = self.dt
            f.attrs["metadata"] = json.dumps(self.metadata, default=str)
            f.create_dataset("neuron_names", data=_utf8(self.neuron_names), dtype=_UTF8)
            spikes = f.create_group("spikes")
            for name in self.neuron_names:
                spikes.create_dataset(name, data=np.asarray(self.spike_times.get(name, []), dtype=float))
            for group_name, traces in (("traces", self.traces), ("weights", self.weights)):
                group = f.create_group(group_name)
                for key, trace in traces.items():
                    sub = group.create_group(key)
                    sub.create_dataset("times", data=trace.times)
                    sub.create_dataset("values", data=trace.values, compression="gzip")
                    sub.create_dataset("channels", data=_utf8(trace.channels), dtype=_UTF8)
                    sub.attrs["unit"] = trace.unit
        return path

    @classmethod
    def load(cls, path: str | Path) -> Result:
        """Read a file written by `save`."""
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != "wormchip.Result":
                raise ValueError(f"{path} is not a wormchip result file (missing format attribute)")
            names = [_text(n) for n in f["neuron_names"][()]]
            spikes = {n: f["spikes"][n][()] for n in names}

            def read(group_name: str) -> dict[str, Trace]:
                out = {}
                for key, sub in f[group_name].items():
                    out[key] = Trace(
                        times=sub["times"][()],
                        channels=[_text(c) for c in sub["channels"][()]],
                        values=sub["values"][()],
                        unit=str(sub.attrs["unit"]),
                    )
                return out

            return cls(
                neuron_names=names,
                duration=float(f.attrs["duration"]),
                dt=float(f.attrs["dt"]),
                spike_times=spikes,
                traces=read("traces"),
                weights=read("weights"),
                metadata=json.loads(f.attrs["metadata"]),
            )
