"""Import a NIR graph as wormchip spec data: the inverse of `nir_export`, for graphs from any NIR tool.

The graph is read in wormchip's convention, which is NIR's own equations in SI units (see docs/backends.md):

    τ_syn dI/dt = −I + w_in S,   τ_mem dv/dt = (v_leak − v) + R I,   v > v_threshold → spike, v = v_reset,

S a sum of unit-area Dirac deltas times the Linear weights. Each `CubaLIF` becomes synthetic `lif` cells
(g_L = 1/R, C_m = τ_mem/R, I_bias = v_leak/R, voltages relative to E_L from the node's `E_L` metadata, or the
registry's −65 mV), grouped into one population per distinct parameter set. Each `Linear` (or zero-bias
`Affine`) between neurons becomes a connection with explicit `edges` of weight W·w_in/τ_syn amperes (so a
wormchip export, whose w_in = τ_syn, comes back with its own weights), split by the targets' τ_syn and the
delay of a following `Delay`. Recurrent edges are ordinary edges. NIR carries no input data, so `Input`
nodes are reported as notes (where input enters, with what), not turned into stimuli.

The result is plain data in the spec schema's shape; `circuits.loader.from_dict` validates it (compiler
passes never import `wormchip.circuits`). Anything without an equivalent is collected, and all of it is
raised in one `NIRImportError`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wormchip.errors import WormchipError
from wormchip.models import NEURON_MODELS
from wormchip.units import UNIT_DIMENSIONS, parse_quantity

#: Used when a CubaLIF node carries no `E_L` metadata (voltages in NIR are relative to it).
DEFAULT_E_L = parse_quantity(NEURON_MODELS["lif"].params["E_L"].default, "voltage")
#: Every weight is written as a multiple of this current.
WEIGHT_SCALE = ("1 nA", 1e-9)
#: SI prefixes tried when writing a quantity, largest first.
_PREFIXES = (
    ("G", 1e9),
    ("M", 1e6),
    ("k", 1e3),
    ("", 1.0),
    ("m", 1e-3),
    ("u", 1e-6),
    ("n", 1e-9),
    ("p", 1e-12),
)
#: lif parameter → (unit symbol, dimension), in the registry's order.
_LIF_UNITS = {
    "C_m": ("F", "capacitance"),
    "g_L": ("S", "conductance"),
    "E_L": ("V", "voltage"),
    "v_th": ("V", "voltage"),
    "v_reset": ("V", "voltage"),
    "t_ref": ("s", "time"),
    "I_bias": ("A", "current"),
}
_HINTS = {
    "Conv1d": "convolutions have no wormchip equivalent; unroll the layer into a Linear weight matrix",
    "Conv2d": "convolutions have no wormchip equivalent; unroll the layer into a Linear weight matrix",
    "SumPool2d": "pooling has no wormchip equivalent; unroll it into a Linear weight matrix",
    "AvgPool2d": "pooling has no wormchip equivalent; unroll it into a Linear weight matrix",
    "Flatten": "reshaping has no wormchip equivalent; give Linear layers flat inputs",
    "NIRGraph": "nested subgraphs are not read; flatten the graph into one level of nodes",
}
_NEURON_HINT = "wormchip imports current-based LIF neurons only: express the layer as a CubaLIF"


class NIRImportError(WormchipError, ValueError):
    """A NIR file cannot be read, or some of its nodes have no wormchip equivalent (all of them listed)."""


@dataclass
class Imported:
    """Spec data (the schema's shape, validate with `circuits.loader.from_dict`) and what the graph leaves
    open: its inputs (NIR has no input data) and what the exporting side listed as left out."""

    data: dict
    notes: list[str] = field(default_factory=list)


def read_nir(path: str | Path):
    """`nir.read(path)` with one clear error for a missing or unreadable file."""
    import nir

    path = Path(path)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not found"
        raise NIRImportError(f"{path}: NIR file {what}; give a .nir file written by nir.write")
    try:
        return nir.read(path)
    except Exception as err:  # nir/h5py raise many types for a damaged or foreign file
        raise NIRImportError(f"{path}: not a readable NIR file ({type(err).__name__}: {err})") from None


def safe_name(text: str) -> str:
    """`text` as a spec name (letters, digits, underscores, starting with a letter or underscore)."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII)
    return name if re.match(r"[A-Za-z_]", name) else f"n_{name}"


def quantity(value: float, unit: str) -> str:
    """A readable quantity string for an SI value ("200 pF", 12 significant digits); among the SI prefixes,
    the one nearest the natural one whose text parses back to exactly `value` ("0.1 ms", not "100 us")."""
    if value == 0:
        return f"0 {unit}"
    start = next((k for k, (_, s) in enumerate(_PREFIXES) if abs(value) >= s), len(_PREFIXES) - 1)
    order = sorted(range(len(_PREFIXES)), key=lambda k: (abs(k - start), k))
    texts = [f"{value / _PREFIXES[k][1]:.12g} {_PREFIXES[k][0]}{unit}" for k in order]
    exact = (t for t in texts if parse_quantity(t, UNIT_DIMENSIONS[unit]) == value)
    return next(exact, texts[0])


def spec_data(graph, name: str, source: str) -> Imported:
    """The spec data of `graph` (a `nir.NIRGraph`); `name` names the circuit, `source` appears in errors."""
    return _Import(graph, source).build(name)


class _Import:
    """Walks the graph once, collecting populations, connections, notes and problems."""

    def __init__(self, graph, source: str) -> None:
        import nir

        self.nir, self.graph, self.source = nir, graph, source
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.into: dict[str, list[str]] = defaultdict(list)
        self.out_of: dict[str, list[str]] = defaultdict(list)
        for a, b in graph.edges:
            self.out_of[a].append(b)
            self.into[b].append(a)
        self.cells: dict[str, list[str]] = {}  # CubaLIF node → neuron names
        self.pops_of: dict[str, list[str]] = {}  # CubaLIF node → its population names
        self.syn: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # CubaLIF node → (τ_syn, w_in / τ_syn)

    def kind(self, node_name: str) -> str:
        return type(self.graph.nodes[node_name]).__name__

    def build(self, name: str) -> Imported:
        nir, nodes = self.nir, self.graph.nodes
        populations: list[dict] = []
        for key, node in nodes.items():
            if isinstance(node, nir.CubaLIF):
                populations += self._neurons(key, node)
            elif isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
                self.problems.append(
                    f"{key} (Affine): bias {_preview(node.bias)} has no equivalent (a constant input through "
                    "the synaptic filter); fold it into the neurons' v_leak or export a Linear"
                )
            elif not isinstance(node, nir.Input | nir.Output | nir.Linear | nir.Affine | nir.Delay):
                hint = _HINTS.get(type(node).__name__, _NEURON_HINT)
                self.problems.append(f"{key} ({type(node).__name__}): no wormchip equivalent; {hint}")
        if not self.cells and not self.problems:
            self.problems.append("the graph has no CubaLIF node: there are no neurons to import")
        connections = []
        for key, node in nodes.items():
            if isinstance(node, nir.Linear | nir.Affine):
                connections += self._weights(key, np.asarray(node.weight, dtype=float))
            elif isinstance(node, nir.Delay):
                self._check_delay(key)
        for key in self.cells:
            for src in self.into[key]:
                if not isinstance(nodes[src], nir.Linear | nir.Affine | nir.Delay):
                    self.problems.append(
                        f"edge {src} → {key}: a {self.kind(src)} feeds a CubaLIF without weights; put a Linear "
                        "between them"
                    )
        if self.problems:
            raise NIRImportError(
                f"{self.source}: cannot import {len(self.problems)} part(s) of the NIR graph: "
                + "; ".join(self.problems)
            )
        left_out = self.graph.metadata.get("unsupported")
        if isinstance(left_out, str) and left_out not in ("", "[]"):
            self.notes.append(
                f"the exporting side left out or approximated: {'; '.join(json.loads(left_out))}"
            )
        return Imported(self._spec(name, populations, connections), self.notes)

    def _spec(self, name: str, populations: list[dict], connections: list[dict]) -> dict:
        meta = self.graph.metadata
        data: dict = {
            "name": safe_name(str(meta.get("network") or name)),
            "metadata": {
                "description": f"Imported from the NIR graph {self.source}"
                + (f" (written by {meta['source']})" if meta.get("source") else ""),
                "tags": ["nir"],
            },
            "populations": populations,
            "connections": connections,
        }
        run = {k: quantity(float(meta[k]), "s") for k in ("dt", "duration") if _positive(meta.get(k))}
        if run:
            data["run"] = run
        return data

    def _neurons(self, key: str, node) -> list[dict]:
        """Populations of one CubaLIF node: one per distinct parameter set, in order of first appearance."""
        shape = np.asarray(node.input_type.get("input", ()), dtype=int).ravel()
        n = int(np.prod(shape)) if shape.size else 1
        raw = {
            p: np.asarray(getattr(node, p) if getattr(node, p) is not None else 0.0, dtype=float).ravel()
            for p in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")
        }
        meta = node.metadata or {}
        raw["E_L"] = np.asarray(meta.get("E_L", DEFAULT_E_L), dtype=float).ravel()
        raw["t_ref"] = np.asarray(meta.get("t_ref", 0.0), dtype=float).ravel()
        bad = [p for p, v in raw.items() if v.size not in (1, n) or not np.all(np.isfinite(v))]
        bad += [p for p in ("tau_syn", "tau_mem", "r") if p not in bad and np.any(raw[p] <= 0)]
        if shape.size > 1 or bad:
            what = f"shape {tuple(shape)}, give a flat layer" if shape.size > 1 else ""
            what += ", ".join(f"{p} = {_preview(raw[p])}" for p in bad)
            self.problems.append(
                f"{key} (CubaLIF): {what} (needs one finite value or one per neuron; tau_syn, tau_mem, r > 0)"
            )
            return []
        v = {p: np.broadcast_to(x, (n,)) for p, x in raw.items()}
        self.cells[key] = self._cell_names(key, meta, n)
        self.syn[key] = (v["tau_syn"], v["w_in"] / v["tau_syn"])
        lif = {
            "C_m": v["tau_mem"] / v["r"],
            "g_L": 1.0 / v["r"],
            "E_L": v["E_L"],
            "v_th": v["E_L"] + v["v_threshold"],
            "v_reset": v["E_L"] + v["v_reset"],
            "t_ref": v["t_ref"],
            "I_bias": v["v_leak"] / v["r"],
        }
        groups: dict[tuple, list[str]] = {}
        for k, cell in enumerate(self.cells[key]):
            params = tuple(
                (p, text)
                for p, (unit, dim) in _LIF_UNITS.items()
                if parse_quantity(text := quantity(float(lif[p][k]), unit), dim)
                != parse_quantity(NEURON_MODELS["lif"].params[p].default, dim)
            )
            groups.setdefault(params, []).append(cell)
        base = safe_name(key)
        names = [base] if len(groups) == 1 else [f"{base}_{g}" for g in range(len(groups))]
        self.pops_of[key] = names
        return [
            {"name": pop, "cells": cells, "model": "lif", "params": dict(params)}
            for pop, (params, cells) in zip(names, groups.items(), strict=True)
        ]

    def _cell_names(self, key: str, meta: dict, n: int) -> list[str]:
        """The node's `neurons` metadata (a wormchip export) if it fits, else `<node>_<k>`."""
        try:
            names = json.loads(meta["neurons"])
        except (KeyError, TypeError, ValueError):
            names = None
        taken = {c for cells in self.cells.values() for c in cells}
        if isinstance(names, list) and len(names) == n and len(set(names)) == n and not taken & set(names):
            return [str(x) for x in names]
        return [f"{safe_name(key)}_{k}" for k in range(n)]

    def _weights(self, key: str, weight: np.ndarray) -> list[dict]:
        """Connections (or an input note) of one Linear/Affine node."""
        nir, nodes = self.nir, self.graph.nodes
        sources, targets = self.into[key], self.out_of[key]
        ends = []  # (CubaLIF node, per-target delay)
        for t in targets:
            if isinstance(nodes[t], nir.Delay):
                ends += [(tt, np.asarray(nodes[t].delay, dtype=float).ravel()) for tt in self.out_of[t]]
            else:
                ends.append((t, np.zeros(1)))
        if all(isinstance(nodes[t], nir.Output) for t, _ in ends) and ends:
            self.notes.append(
                f"'{key}' reads out into an Output and is left out (every neuron's spikes are recorded)"
            )
            return []
        if (
            len(sources) != 1
            or not isinstance(nodes[sources[0]], nir.Input | nir.CubaLIF)
            or len(ends) != 1
            or ends[0][0] not in self.cells
        ):
            src = ", ".join(f"{s} ({self.kind(s)})" for s in sources) or "nothing"
            dst = ", ".join(f"{t} ({self.kind(t)})" for t, _ in ends) or "nothing"
            self.problems.append(
                f"{key} ({self.kind(key)}): from {src} to {dst}; wormchip maps one Linear from an Input or "
                "CubaLIF into one CubaLIF (optionally through a Delay)"
            )
            return []
        (src,), (dst, delay) = sources, ends[0]
        n_pre = len(self.cells[src]) if src in self.cells else weight.shape[-1]
        if weight.shape != (len(self.cells[dst]), n_pre) or delay.size not in (1, len(self.cells[dst])):
            self.problems.append(
                f"{key} ({self.kind(key)}): weight shape {weight.shape} (delay {delay.size}) does not fit "
                f"{len(self.cells[dst])} × {n_pre} (post × pre)"
            )
            return []
        if np.any(delay < 0) or not np.all(np.isfinite(weight)):
            self.problems.append(f"{key}: negative delay or non-finite weights")
            return []
        if isinstance(nodes[src], nir.Input):
            self._input_note(src, key, dst, weight)
            return []
        return self._connections(key, src, dst, weight, np.broadcast_to(delay, (len(self.cells[dst]),)))

    def _connections(self, key: str, src: str, dst: str, weight: np.ndarray, delay: np.ndarray) -> list[dict]:
        """One connection per (τ_syn, delay) of the targets; weights W·w_in/τ_syn amperes."""
        tau, factor = self.syn[dst]
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for post in range(len(self.cells[dst])):
            groups[(quantity(float(tau[post]), "s"), quantity(float(delay[post]), "s"))].append(post)
        out = []
        for g, ((tau_text, delay_text), rows) in enumerate(groups.items()):
            edges = [
                {
                    "pre": self.cells[src][pre],
                    "post": self.cells[dst][post],
                    "weight": float(f"{weight[post, pre] * factor[post] / WEIGHT_SCALE[1]:.12g}"),
                }
                for post in rows
                for pre in np.flatnonzero(weight[post])
            ]
            if not edges:
                continue
            params = {"tau": tau_text}
            if delay_text != "0 s":
                params["delay"] = delay_text
            out.append(
                {
                    "name": safe_name(key) + (f"_{g}" if len(groups) > 1 else ""),
                    "source": self.pops_of[src],
                    "target": self.pops_of[dst],
                    "edges": edges,
                    "synapse": "exp_current",
                    "params": params,
                    "weight_scale": WEIGHT_SCALE[0],
                }
            )
        return out

    def _input_note(self, src: str, key: str, dst: str, weight: np.ndarray) -> None:
        meta = self.graph.nodes[src].metadata or {}
        if not np.any(weight) and "unused" in str(meta.get("kind", "")):
            return  # the zero-weight entry point a wormchip export adds to a closed network
        cells = [self.cells[dst][i] for i in np.flatnonzero(np.any(weight != 0, axis=1))]
        kind = meta.get("kind", "spikes or values")
        self.notes.append(
            f"input '{src}' ({kind}, {weight.shape[1]} channel(s)) enters {len(cells)} cell(s) of {dst} through "
            f"'{key}' ({', '.join(cells[:8])}{' …' if len(cells) > 8 else ''}); NIR carries no input data: "
            "add a stimulus for these cells"
        )

    def _check_delay(self, key: str) -> None:
        nodes = self.graph.nodes
        before, after = self.into[key], self.out_of[key]
        if not (
            len(before) == 1
            and isinstance(nodes[before[0]], self.nir.Linear | self.nir.Affine)
            and all(t in self.cells for t in after)
        ):
            self.problems.append(
                f"{key} (Delay): wormchip maps a Delay between a Linear and a CubaLIF only (got "
                f"{', '.join(before) or 'nothing'} → {', '.join(after) or 'nothing'})"
            )


def _positive(value: object) -> bool:
    try:
        return float(value) > 0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _preview(values: object) -> str:
    flat = np.asarray(values, dtype=float).ravel()
    return np.array2string(flat[:4], precision=4) + (f" … ({flat.size} values)" if flat.size > 4 else "")
