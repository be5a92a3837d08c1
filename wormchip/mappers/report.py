"""Report pass: per-core resources of a partitioned, placed network, and ESTIMATED traffic and energy.

Energy is an estimate from the profile's per-event figures (Loihi 1: Davies et al. 2018, Table 1, pre-silicon
simulation), counted per step as

    synaptic ops × E_syn + active × E_active + (n − active) × E_inactive
    + in-tile spike deliveries × E_tile + east-west hops × E_ew + north-south hops × E_ns

where a spike of neuron i makes one synaptic op per outgoing synapse and one message per distinct destination
core; a message to a core on the same tile (its own included) is an in-tile spike, one to another tile costs
|Δx| east-west and |Δy| north-south hops (chip-to-chip links counted as ordinary hops; no public energy figure
for them exists). A neuron update is "active" in a step when the neuron spikes or receives a spike (sent the
step before), otherwise inactive. With rates instead of a raster, every count is its expectation for
independent Poisson-like neurons (spike probability r·dt per step). No plasticity is counted.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from wormchip.mappers.hardware import HardwareProfile, load_profile
from wormchip.mappers.partition import LIMITS, Partition, _as_counts, axon_matrix
from wormchip.mappers.place import Placement, core_traffic

ESTIMATE_NOTE = (
    "ESTIMATE: energy from per-event figures (pre-silicon simulation for Loihi 1; Loihi 1 stand-ins for "
    "Loihi 2), not a measurement"
)


@dataclass(frozen=True, eq=False)
class Activity:
    """Per-step event counts from a run (raster) or their expectations (rates); arrays of length steps."""

    spikes: np.ndarray
    synaptic_ops: np.ndarray
    active_neurons: np.ndarray
    in_tile_spikes: np.ndarray
    remote_messages: np.ndarray
    hops_ew: np.ndarray
    hops_ns: np.ndarray


@dataclass(frozen=True, eq=False)
class ResourceReport:
    """Resources per core and in total, plus (with activity) traffic and ESTIMATED energy per step."""

    target: str
    n_neurons: int
    per_core: dict[str, np.ndarray]
    n_chips: int
    caps: dict[str, int]
    inter_core_traffic: float
    inter_core_traffic_unit: str
    hop_traffic: float
    dt: float
    activity: Activity | None = None
    energy_breakdown_pj: dict[str, float] = field(default_factory=dict)

    @property
    def n_cores(self) -> int:
        return int(self.per_core["neurons"].size)

    @property
    def energy_per_step_pj(self) -> float | None:
        """Mean estimated energy per step (pJ), or None without activity."""
        return sum(self.energy_breakdown_pj.values()) if self.activity is not None else None

    @property
    def energy_per_second_j(self) -> float | None:
        """Mean estimated energy per biological second (J): per-step energy / dt."""
        e = self.energy_per_step_pj
        return None if e is None else e * 1e-12 / self.dt

    def totals(self) -> dict[str, int]:
        return {
            k: int(self.per_core[k].sum())
            for k in ("neurons", "synapses", "memory_bits", "input_axons", "output_axons")
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: totals, per-core rows, traffic, and labelled energy estimates."""
        t = self.totals()
        out: dict[str, Any] = {
            "target": self.target,
            "cores": self.n_cores,
            "chips": self.n_chips,
            "neurons": t["neurons"],
            "synapses": t["synapses"],
            "synaptic_memory_bits": t["memory_bits"],
            "input_axons": t["input_axons"],
            "output_axons": t["output_axons"],
            "limits_per_core": dict(self.caps),
            "inter_core_traffic": self.inter_core_traffic,
            "inter_core_traffic_unit": self.inter_core_traffic_unit,
            "hop_weighted_traffic": self.hop_traffic,
            "per_core": [{k: int(v[c]) for k, v in self.per_core.items()} for c in range(self.n_cores)],
            "dt": self.dt,
            "energy_is_estimate": True,
            "energy_note": ESTIMATE_NOTE,
            "energy_per_step_pj": self.energy_per_step_pj,
            "energy_per_second_j": self.energy_per_second_j,
            "energy_breakdown_per_step_pj": dict(self.energy_breakdown_pj),
        }
        if self.activity is not None:
            a = self.activity
            out["per_step_mean"] = {k: float(np.mean(getattr(a, k))) for k in a.__dataclass_fields__}
            out["spikes_per_step"] = a.spikes.tolist()
            out["hops_per_step"] = (a.hops_ew + a.hops_ns).tolist()
        return out

    def to_table(self) -> str:
        """A human-readable table (rich) of totals, the fullest cores and the energy estimate."""
        from rich.console import Console
        from rich.table import Table

        console = Console(record=True, width=110, file=io.StringIO())
        t = self.totals()
        summary = Table(title=f"Resources on {self.target}: {self.n_cores} cores, {self.n_chips} chip(s)")
        summary.add_column("resource")
        summary.add_column("total", justify="right")
        summary.add_column("max per core", justify="right")
        summary.add_column("limit per core", justify="right")
        for k in ("neurons", "synapses", "memory_bits", "input_axons", "output_axons"):
            cap = self.caps.get(k)
            summary.add_row(
                k, f"{t[k]:,}", f"{int(self.per_core[k].max()):,}", "" if cap is None else f"{cap:,}"
            )
        summary.add_row(
            "inter-core traffic", f"{self.inter_core_traffic:,.4g}", "", self.inter_core_traffic_unit
        )
        summary.add_row("hop-weighted traffic", f"{self.hop_traffic:,.4g}", "", "")
        console.print(summary)
        if self.activity is not None:
            energy = Table(title="Energy per step — ESTIMATE from per-event figures, not a measurement")
            energy.add_column("event")
            energy.add_column("pJ per step (mean)", justify="right")
            for k, v in self.energy_breakdown_pj.items():
                energy.add_row(k, f"{v:,.1f}")
            energy.add_row("total (estimate)", f"{self.energy_per_step_pj:,.1f}")
            energy.add_row("per biological second (estimate)", f"{self.energy_per_second_j:.3e} J")
            console.print(energy)
        return console.export_text()


def _per_neuron_routes(
    graph: sp.csr_matrix, partition: Partition, placement: Placement
) -> tuple[np.ndarray, ...]:
    """Per neuron: in-tile deliveries, remote messages, east-west and north-south hops of one spike."""
    n = graph.shape[0]
    m = axon_matrix(graph, partition.core_of, partition.n_cores)  # dst core × source neuron
    xy = placement.global_xy()
    dst = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    src = partition.core_of[m.indices]
    dx = np.abs(xy[dst, 0] - xy[src, 0])
    dy = np.abs(xy[dst, 1] - xy[src, 1])
    same_tile = (dx == 0) & (dy == 0) & (placement.chip_of[dst] == placement.chip_of[src])
    remote = dst != src

    def per(w: np.ndarray) -> np.ndarray:
        return np.bincount(m.indices, weights=w, minlength=n)

    return (
        per(same_tile.astype(float)),
        per(remote.astype(float)),
        per(dx.astype(float)),
        per(dy.astype(float)),
    )


def _activity(
    graph: sp.csr_matrix, partition: Partition, placement: Placement, spikes: np.ndarray, dt: float
) -> Activity:
    n = graph.shape[0]
    fan_out = np.bincount(graph.indices, weights=graph.data, minlength=n)
    in_tile, remote, ew, ns = _per_neuron_routes(graph, partition, placement)
    pattern = sp.csr_matrix((np.ones(graph.nnz), graph.indices, graph.indptr), shape=graph.shape)
    s = np.asarray(spikes)
    if s.ndim == 1:  # rates (Hz): expectations per step
        if s.shape != (n,):
            raise ValueError(f"rates must have shape ({n},), got {s.shape}")
        p = np.clip(s * dt, 0.0, 1.0)
        log_quiet = np.log1p(-np.minimum(p, 1 - 1e-12))
        p_active = 1.0 - np.exp(log_quiet + pattern @ log_quiet)
        s2, active = p[None, :], np.array([p_active.sum()])
    elif s.ndim == 2:
        if s.shape[1] != n:
            raise ValueError(f"spike raster must be steps × {n} neurons, got shape {s.shape}")
        s2 = (s != 0).astype(float)
        received = np.zeros_like(s2)
        received[1:] = (pattern @ s2[:-1].T).T > 0
        active = ((s2 > 0) | (received > 0)).sum(axis=1).astype(float)
    else:
        raise ValueError("spikes must be a steps × neurons raster or a vector of per-neuron rates (Hz)")
    return Activity(
        spikes=s2.sum(axis=1),
        synaptic_ops=s2 @ fan_out,
        active_neurons=active,
        in_tile_spikes=s2 @ in_tile,
        remote_messages=s2 @ remote,
        hops_ew=s2 @ ew,
        hops_ns=s2 @ ns,
    )


def energy_breakdown(activity: Activity, n_neurons: int, profile: HardwareProfile) -> dict[str, float]:
    """Mean ESTIMATED energy per step (pJ) by event type, from the profile's per-event figures."""
    a, pr = activity, profile
    return {
        "synaptic_ops": float(np.mean(a.synaptic_ops)) * pr.energy_synaptic_op_pj,
        "neuron_updates_active": float(np.mean(a.active_neurons)) * pr.energy_neuron_active_pj,
        "neuron_updates_inactive": float(np.mean(n_neurons - a.active_neurons))
        * pr.energy_neuron_inactive_pj,
        "spikes_in_tile": float(np.mean(a.in_tile_spikes)) * pr.energy_spike_in_tile_pj,
        "hops_east_west": float(np.mean(a.hops_ew)) * pr.energy_hop_ew_pj,
        "hops_north_south": float(np.mean(a.hops_ns)) * pr.energy_hop_ns_pj,
    }


def resource_report(
    graph: sp.spmatrix,
    partition: Partition,
    placement: Placement,
    profile: HardwareProfile | str = "loihi1",
    spikes: np.ndarray | None = None,
    dt: float = 1e-3,
) -> ResourceReport:
    """Per-core and total resources; with `spikes` (steps × neurons raster, or per-neuron rates in Hz) also
    spikes, messages and hops per step and the ESTIMATED energy per step and per biological second."""
    profile = load_profile(profile)
    g = _as_counts(graph, "graph", square=True)
    if not dt > 0:
        raise ValueError(f"dt = {dt!r} must be a positive number of seconds")
    u = partition.usage
    xy = placement.global_xy()
    per_core = {
        k: getattr(u, k) for k in ("neurons", "synapses", "memory_bits", "input_axons", "output_axons")
    }
    per_core.update(chip=placement.chip_of, x=xy[:, 0], y=xy[:, 1])
    t = core_traffic(partition, g).tocoo()
    hop_traffic = float((t.data * np.abs(xy[t.row] - xy[t.col]).sum(axis=1)).sum())
    activity = None
    breakdown: dict[str, float] = {}
    traffic, unit = float(t.data.sum()), "messages per unit firing rate (uniform rates)"
    if spikes is not None:
        activity = _activity(g, partition, placement, spikes, dt)
        breakdown = energy_breakdown(activity, g.shape[0], profile)
        traffic, unit = float(np.mean(activity.remote_messages)), "inter-core spike messages per step"
    return ResourceReport(
        target=profile.name,
        n_neurons=g.shape[0],
        per_core=per_core,
        n_chips=placement.n_chips,
        caps=dict(
            zip(
                LIMITS,
                (
                    profile.neurons_per_core,
                    profile.synaptic_memory_bits_per_core,
                    profile.input_axons_per_core,
                    profile.output_axons_per_core,
                ),
            )
        ),
        inter_core_traffic=traffic,
        inter_core_traffic_unit=unit,
        hop_traffic=hop_traffic,
        dt=float(dt),
        activity=activity,
        energy_breakdown_pj=breakdown,
    )


def plot_core_map(
    partition: Partition,
    placement: Placement,
    profile: HardwareProfile | str = "loihi1",
    graph: sp.spmatrix | None = None,
    rates: np.ndarray | None = None,
    max_lines: int = 300,
    ax=None,
):
    """Cores on the system mesh coloured by load (largest fraction of any limit), with the heaviest
    inter-core traffic as lines (width ∝ traffic). Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    profile = load_profile(profile)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 5))
    else:
        fig = ax.figure
    k = profile.cores_per_tile
    side = int(np.ceil(np.sqrt(k)))
    xy = placement.global_xy().astype(float)
    xy += (np.c_[placement.slot % side, placement.slot // side] + 0.5) / side - 0.5
    if graph is not None:
        t = core_traffic(partition, graph, rates).tocoo()
        if t.nnz:
            top = np.argsort(t.data)[::-1][:max_lines]
            width = 0.3 + 3.0 * t.data[top] / t.data[top].max()
            for i, w in zip(top, width):
                a, b = xy[t.row[i]], xy[t.col[i]]
                ax.plot([a[0], b[0]], [a[1], b[1]], color="0.4", alpha=0.35, lw=w, zorder=1)
    load = partition.usage.load(profile)
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=load, cmap="viridis", vmin=0, vmax=1, s=30, marker="s", zorder=2)
    fig.colorbar(sc, ax=ax, label="core load (largest fraction of any per-core limit)")
    ax.set_xlabel("mesh x (tiles, east–west)")
    ax.set_ylabel("mesh y (tiles, north–south)")
    ax.set_title(f"{partition.n_cores} cores on {placement.n_chips} {profile.name} chip(s)")
    ax.set_aspect("equal")
    return fig
