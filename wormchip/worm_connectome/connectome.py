"""The Connectome: C. elegans wiring of one dataset, with name lookup, subsetting, signs and export.

Neurons are kept in the canonical order: cect's ``PREFERRED_HERM_NEURON_NAMES``, i.e. plain string sort of
the names (so ``AS1, AS10, AS11, AS2``). A dataset keeps only the neurons it has, in that order.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from wormchip.errors import NeuronNameError
from wormchip.worm_connectome.datasets import (
    DEFAULT_DATASET,
    NEUROTRANSMITTER_SOURCE,
    DatasetInfo,
    get_dataset,
)
from wormchip.worm_connectome.signs import Polarity, SignReport, compute_signs
from wormchip.worm_connectome.snapshot import NeuronTable, read_dataset, read_neurons

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

NEURON_TYPES: tuple[str, ...] = ("sensory", "interneuron", "motor", "other")


@dataclass(frozen=True)
class Provenance:
    """Where a connectome's numbers come from and what they count."""

    paper: str
    doi: str
    dataset_version: str
    weights: str
    coverage: str
    neurotransmitters: str


def _frozen(matrix: sp.spmatrix) -> sp.csr_matrix:
    """CSR copy whose arrays are read-only, so cached connectomes can be shared safely."""
    csr = sp.csr_matrix(matrix, dtype=np.int32)
    csr.sort_indices()
    for array in (csr.data, csr.indices, csr.indptr):
        array.flags.writeable = False
    return csr


class Connectome:
    """Chemical (pre x post contact counts) and gap-junction (symmetric) wiring between named neurons."""

    def __init__(
        self,
        info: DatasetInfo,
        table: NeuronTable,
        canonical_index: np.ndarray,
        chemical: sp.spmatrix,
        gap: sp.spmatrix,
    ) -> None:
        self.info = info
        self._table = table
        self._canonical = np.asarray(canonical_index, dtype=np.intp)
        self.neurons: tuple[str, ...] = tuple(table.names[i] for i in self._canonical)
        self._index = {name: i for i, name in enumerate(self.neurons)}
        self.chemical = _frozen(chemical)
        self.gap = _frozen(gap)

    @property
    def dataset(self) -> str:
        return self.info.key

    @property
    def provenance(self) -> Provenance:
        return Provenance(
            paper=self.info.paper,
            doi=self.info.doi,
            dataset_version=(
                f"{self.info.source_file} via cect {self._table.cect_version} ({self.info.cect_reader})"
            ),
            weights=self.info.weights,
            coverage=self.info.coverage,
            neurotransmitters=NEUROTRANSMITTER_SOURCE,
        )

    def __len__(self) -> int:
        return len(self.neurons)

    def __repr__(self) -> str:
        return (
            f"Connectome({self.dataset!r}, neurons={len(self)}, chemical_edges={self.chemical.nnz}, "
            f"gap_edges={sp.triu(self.gap).nnz})"
        )

    # --- per-neuron lookups -------------------------------------------------------------------------

    def index(self, name: str) -> int:
        """Row/column of a neuron in the matrices."""
        if name not in self._index:
            self._raise_unknown(name)
        return self._index[name]

    def neuron_class(self, name: str) -> str:
        """WormAtlas class, e.g. AVAL -> AVA, VA1 -> VA."""
        return self._table.classes[self._canonical[self.index(name)]]

    def neuron_type(self, name: str) -> str:
        """sensory, interneuron, motor or other (pharyngeal polymodal MI/NSM/MC and CAN)."""
        return self._table.types[self._canonical[self.index(name)]]

    def neurotransmitters(self, name: str) -> tuple[str, ...]:
        """Transmitters from Wang et al. 2024, primary first; empty when unknown (CAN)."""
        return self._table.neurotransmitters[self._canonical[self.index(name)]]

    def resolve(self, names: str | Iterable[str]) -> list[str]:
        """Expand neuron names, classes ("AVA") and types ("sensory") to neuron names in canonical order."""
        tokens = [names] if isinstance(names, str) else list(names)
        chosen: set[int] = set()
        for token in tokens:
            if token in self._index:
                chosen.add(self._index[token])
                continue
            if token in NEURON_TYPES:
                labels = self._table.types
            elif token in self._table.classes:
                labels = self._table.classes
            else:
                self._raise_unknown(token)
            members = [i for i, c in enumerate(self._canonical) if labels[c] == token]
            if not members:
                raise NeuronNameError(f"{token!r} has no neurons in dataset {self.dataset!r}")
            chosen.update(members)
        return [self.neurons[i] for i in sorted(chosen)]

    def _raise_unknown(self, token: str) -> None:
        if token in self._table.names:
            raise NeuronNameError(
                f"neuron {token!r} is not in dataset {self.dataset!r} "
                f"(it has {len(self)} of {len(self._table.names)} neurons: {self.info.coverage})"
            )
        candidates = {c.lower(): c for c in (*self.neurons, *set(self._table.classes), *NEURON_TYPES)}
        close = difflib.get_close_matches(str(token).lower(), candidates, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(candidates[c] for c in close)}?" if close else ""
        raise NeuronNameError(f"unknown neuron, class or type {token!r} in dataset {self.dataset!r}{hint}")

    def _links(self) -> sp.csr_matrix:
        """Boolean neuron-neuron adjacency ignoring direction, type and self-connections."""
        links = ((self.chemical + self.chemical.T + self.gap) != 0).tolil()
        links.setdiag(False)
        return links.tocsr()

    # --- subsetting --------------------------------------------------------------------------------

    def _restricted(self, keep: np.ndarray) -> Connectome:
        keep = np.sort(keep)
        return Connectome(
            self.info,
            self._table,
            self._canonical[keep],
            self.chemical[keep][:, keep],
            self.gap[keep][:, keep],
        )

    def subcircuit(self, names: str | Iterable[str]) -> Connectome:
        """The induced sub-connectome on the given neurons, classes and types."""
        return self._restricted(np.array([self._index[n] for n in self.resolve(names)], dtype=np.intp))

    def neighborhood(self, names: str | Iterable[str], hops: int = 1) -> Connectome:
        """Seeds plus every neuron within ``hops`` links (chemical either direction, or gap)."""
        if hops < 0:
            raise ValueError(f"hops must be >= 0, not {hops}")
        adjacency = self._links().astype(np.int8)
        reached = np.zeros(len(self), dtype=bool)
        reached[[self._index[n] for n in self.resolve(names)]] = True
        for _ in range(hops):
            reached |= adjacency @ reached.astype(np.int8) > 0
        return self._restricted(np.flatnonzero(reached))

    def ablate(self, names: str | Iterable[str]) -> Connectome:
        """The connectome without the given neurons (and all their synapses)."""
        removed = {self._index[n] for n in self.resolve(names)}
        return self._restricted(np.array([i for i in range(len(self)) if i not in removed], dtype=np.intp))

    # --- signs and export --------------------------------------------------------------------------

    def signs(
        self,
        policy: str = "transmitter",
        glutamate_default: Polarity = "inhibitory",
        other_default: Polarity = "excitatory",
        overrides: Mapping[tuple[str, str], int] | None = None,
    ) -> SignReport:
        """+1/-1 per chemical edge and how many edges each rule decided; see :mod:`.signs` for the rules."""
        coo = self.chemical.tocoo()
        return compute_signs(
            coo.row,
            coo.col,
            self.neurons,
            [self._table.neurotransmitters[c] for c in self._canonical],
            policy=policy,
            glutamate_default=glutamate_default,
            other_default=other_default,
            overrides=overrides,
        )

    def to_edge_list(self, **sign_options) -> pd.DataFrame:
        """Columns pre, post, type (chemical/gap), weight, sign; gap pairs listed once with sign 0."""
        import pandas as pd

        report = self.signs(**sign_options)
        chem = self.chemical.tocoo()
        gap = sp.triu(self.gap).tocoo()
        names = np.array(self.neurons, dtype=object)
        return pd.DataFrame(
            {
                "pre": np.concatenate([names[chem.row], names[gap.row]]),
                "post": np.concatenate([names[chem.col], names[gap.col]]),
                "type": ["chemical"] * chem.nnz + ["gap"] * gap.nnz,
                "weight": np.concatenate([chem.data, gap.data]),
                "sign": np.concatenate([report.signs, np.zeros(gap.nnz, dtype=np.int8)]),
            }
        )

    def to_networkx(self, **sign_options) -> nx.MultiDiGraph:
        """MultiDiGraph: chemical edges (key "chemical", weight, sign) and gap edges both ways (key "gap")."""
        import networkx as nx

        graph = nx.MultiDiGraph(dataset=self.dataset, doi=self.info.doi)
        for name in self.neurons:
            graph.add_node(
                name,
                neuron_class=self.neuron_class(name),
                neuron_type=self.neuron_type(name),
                neurotransmitters=list(self.neurotransmitters(name)),
            )
        for row in self.to_edge_list(**sign_options).itertuples(index=False):
            graph.add_edge(row.pre, row.post, key=row.type, weight=int(row.weight), sign=int(row.sign))
            if row.type == "gap" and row.pre != row.post:
                graph.add_edge(row.post, row.pre, key="gap", weight=int(row.weight), sign=0)
        return graph

    def summary(self) -> dict:
        """Headline numbers (JSON-ready): sizes, contact totals and the default sign-rule report."""
        gap_upper = sp.triu(self.gap)
        connected = self._links().getnnz(axis=0) > 0
        report = self.signs()
        return {
            "dataset": self.dataset,
            "title": self.info.title,
            "citation": self.info.citation,
            "neurons": len(self),
            "connected_neurons": int(connected.sum()),
            "chemical_edges": int(self.chemical.nnz),
            "chemical_contacts": int(self.chemical.sum()),
            "gap_edges": int(gap_upper.nnz),
            "gap_contacts": int(gap_upper.sum()),
            "weights": self.info.weights,
            "sign_counts": {
                "excitatory": int((report.signs > 0).sum()),
                "inhibitory": int((report.signs < 0).sum()),
            },
            "sign_rules": report.rule_counts,
        }


@cache
def _load(key: str) -> Connectome:
    arrays = read_dataset(key)
    n = len(arrays.neurons)
    chem_pre, chem_post, chem_w = arrays.chemical
    gap_i, gap_j, gap_w = arrays.gap
    gap_upper = sp.coo_matrix((gap_w, (gap_i, gap_j)), shape=(n, n))
    gap = gap_upper + sp.triu(gap_upper, k=1).T
    chemical = sp.coo_matrix((chem_w, (chem_pre, chem_post)), shape=(n, n))
    return Connectome(get_dataset(key), read_neurons(), arrays.neurons, chemical, gap)


def load(dataset: str = DEFAULT_DATASET) -> Connectome:
    """The named dataset's connectome (see ``DATASETS``); read from the shipped snapshot once, then cached."""
    get_dataset(dataset)  # DatasetError for unknown names, before touching the cache
    return _load(dataset)
