"""Regenerate wormchip/worm_connectome/data/ from cect (OpenWorm C. elegans Connectome Toolbox, MIT).

Usage: ``python scripts/build_connectome_snapshot.py``
(needs ``pip install --no-deps cect==0.3.5 openpyxl xlrd``).

Writes ``neurons.json`` (canonical order, class, type, neurotransmitters) and one ``<dataset>.npz`` per
dataset holding COO arrays restricted to the 302 hermaphrodite neurons:
``neurons`` (indices into the canonical order), ``chemical`` (pre, post, weight) with local indices and
``gap`` (i <= j, weight): the upper triangle of the symmetric gap-junction matrix.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np

from wormchip.worm_connectome.datasets import DATASETS
from wormchip.worm_connectome.snapshot import DATA_DIR

# Classes with dorsal/ventral (and left/right) members, e.g. SMDDL/SMDVR -> SMD, RMED/RMEL -> RME.
QUADRANT_CLASSES = (
    "CEP",
    "IL1",
    "IL2",
    "OLQ",
    "RMD",
    "RME",
    "SAA",
    "SAB",
    "SIA",
    "SIB",
    "SMB",
    "SMD",
    "URA",
    "URY",
)
# Numbered ventral-cord classes, e.g. VA12 -> VA.
NUMBERED_CLASS = re.compile(r"^(AS|DA|DB|DD|VA|VB|VC|VD)\d+$")


def neuron_class(name: str, all_names: set[str]) -> str:
    """WormAtlas neuron class: drop the number, the quadrant or the side of a neuron's name."""
    if match := NUMBERED_CLASS.match(name):
        return match.group(1)
    for prefix in QUADRANT_CLASSES:
        if name.startswith(prefix):
            return prefix
    side_swap = {"L": "R", "R": "L"}
    if name[-1] in side_swap and name[:-1] + side_swap[name[-1]] in all_names:
        return name[:-1]
    return name


def neuron_type(name: str, cells) -> str:
    """sensory / interneuron / motor per Cook et al. 2019 lists in cect; pharyngeal polymodal, CAN: other."""
    if name in cells.SENSORY_NEURONS_COOK:
        return "sensory"
    if name in cells.INTERNEURONS_COOK:
        return "interneuron"
    if name in cells.MOTORNEURONS_COOK:
        return "motor"
    return "other"


def neurotransmitters() -> dict[str, list[str]]:
    """Per-neuron transmitters from Wang et al. 2024 as parsed by cect (its reader prints a lot: silenced)."""
    from cect.readers.Wang2024Reader import Wang2024Reader

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl extension / deprecation warnings
        reader = Wang2024Reader("Hermaphrodite")
    return {cell: [nt for nt in nts if nt is not None] for cell, nts in reader.all_neurotransmitters.items()}


def dataset_arrays(reader_module: str, names: list[str]) -> dict[str, np.ndarray]:
    """COO arrays of one cect dataset restricted to the canonical neurons it contains."""
    reader = importlib.import_module(f"cect.readers.{reader_module}").get_instance(from_cache=True)
    position = {name: i for i, name in enumerate(reader.nodes)}
    present = [i for i, name in enumerate(names) if name in position]
    rows = [position[names[i]] for i in present]
    chem = reader.connections["Generic_CS"][np.ix_(rows, rows)]
    gap = reader.connections["Generic_GJ"][np.ix_(rows, rows)]
    if not np.array_equal(gap, gap.T):
        raise ValueError(f"{reader_module}: gap-junction matrix is not symmetric")
    if np.any(chem != np.round(chem)) or np.any(gap != np.round(gap)):
        raise ValueError(f"{reader_module}: non-integer weights")
    pre, post = np.nonzero(chem)
    gi, gj = np.nonzero(np.triu(gap))
    return {
        "neurons": np.asarray(present, dtype=np.int16),
        "chemical": np.stack([pre, post, chem[pre, post]]).astype(np.int32),
        "gap": np.stack([gi, gj, gap[gi, gj]]).astype(np.int32),
    }


def main() -> None:
    import cect.Cells as cells

    names = list(cells.PREFERRED_HERM_NEURON_NAMES)
    name_set = set(names)
    transmitters = neurotransmitters()
    meta = {
        "cect_version": version("cect"),
        "names": names,
        "classes": [neuron_class(n, name_set) for n in names],
        "types": [neuron_type(n, cells) for n in names],
        "neurotransmitters": [transmitters.get(n, []) for n in names],
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / "neurons.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n")
    for key, info in DATASETS.items():
        np.savez_compressed(DATA_DIR / f"{key}.npz", **dataset_arrays(info.cect_reader, names))
    total = sum(p.stat().st_size for p in Path(DATA_DIR).iterdir())
    print(f"wrote {len(DATASETS)} datasets + neurons.json to {DATA_DIR} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
