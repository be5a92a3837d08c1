"""Reads the shipped snapshot (neurons.json + one .npz per dataset); each file is read once per process."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class NeuronTable:
    """The 302 hermaphrodite neurons in canonical order with their class, type and transmitters."""

    cect_version: str
    names: tuple[str, ...]
    classes: tuple[str, ...]
    types: tuple[str, ...]
    neurotransmitters: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class DatasetArrays:
    """One dataset: canonical indices of its neurons and COO (row, col, weight) arrays in local indices."""

    neurons: np.ndarray
    chemical: np.ndarray
    gap: np.ndarray


@lru_cache(maxsize=1)
def read_neurons() -> NeuronTable:
    meta = json.loads((DATA_DIR / "neurons.json").read_text())
    return NeuronTable(
        cect_version=meta["cect_version"],
        names=tuple(meta["names"]),
        classes=tuple(meta["classes"]),
        types=tuple(meta["types"]),
        neurotransmitters=tuple(tuple(nts) for nts in meta["neurotransmitters"]),
    )


@cache
def read_dataset(key: str) -> DatasetArrays:
    with np.load(DATA_DIR / f"{key}.npz") as npz:
        arrays = DatasetArrays(neurons=npz["neurons"], chemical=npz["chemical"], gap=npz["gap"])
    for array in (arrays.neurons, arrays.chemical, arrays.gap):
        array.flags.writeable = False  # cached and shared between Connectome objects
    return arrays
