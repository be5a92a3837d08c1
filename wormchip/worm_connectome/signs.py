"""Excitatory (+1) / inhibitory (-1) signs for chemical edges, with a count of which rule decided each edge.

Policy ``"transmitter"`` uses the presynaptic neuron's transmitters (Wang et al. 2024, via cect). Rules, first
match wins:

1. ``override``: the edge is in a user-supplied per-edge table (``overrides`` / :func:`read_sign_overrides`).
   Fenyves et al. 2020 (PLoS Comput Biol 16:e1007974, doi:10.1371/journal.pcbi.1007974) predicted per-edge
   signs from receptor expression; that table is **not shipped** with wormchip (it is not in cect and no
   reusable public copy was found), but it can be passed in here as an override table.
2. ``acetylcholine``: +1; ``gaba``: -1; ``glutamate``: ``glutamate_default``. The first classical
   transmitter in the neuron's Wang et al. list decides, so co-transmitting neurons (e.g. ACh + Glu) use
   their primary one. cect has no per-neuron ionotropic receptor data, so no receptor-class rule is applied.
   ``glutamate_default`` is ``"inhibitory"``: most glutamatergic synapses onto interneurons act through
   GLC-type glutamate-gated chloride channels.
3. ``other``: no classical transmitter (monoamine only, betaine, orphan, unknown): ``other_default``
   (``"excitatory"``).

Policy ``"all_excitatory"`` signs every edge +1 (rule ``all_excitatory``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

Polarity = Literal["excitatory", "inhibitory"]
Policy = Literal["transmitter", "all_excitatory"]
POLICIES: tuple[str, ...] = ("transmitter", "all_excitatory")
RULES: tuple[str, ...] = ("override", "acetylcholine", "gaba", "glutamate", "other")
CLASSICAL = {"Acetylcholine": "acetylcholine", "GABA": "gaba", "Glutamate": "glutamate"}
_VALUE = {"excitatory": 1, "inhibitory": -1}


@dataclass(frozen=True)
class SignReport:
    """Signs aligned with the chemical edges (row-major COO order) and how many edges each rule decided."""

    policy: str
    pre: np.ndarray
    post: np.ndarray
    signs: np.ndarray
    rule_counts: dict[str, int]


def _polarity(value: str, what: str) -> int:
    if value not in _VALUE:
        raise ValueError(f"{what} must be 'excitatory' or 'inhibitory', not {value!r}")
    return _VALUE[value]


def transmitter_rule(transmitters: Sequence[str]) -> str:
    """Rule deciding a neuron's outgoing signs: its first classical transmitter, else ``other``."""
    return next((CLASSICAL[nt] for nt in transmitters if nt in CLASSICAL), "other")


def compute_signs(
    pre: np.ndarray,
    post: np.ndarray,
    names: Sequence[str],
    transmitters: Sequence[Sequence[str]],
    policy: str = "transmitter",
    glutamate_default: Polarity = "inhibitory",
    other_default: Polarity = "excitatory",
    overrides: Mapping[tuple[str, str], int] | None = None,
) -> SignReport:
    """Sign each chemical edge (pre[k] -> post[k], indices into ``names``) by ``policy``."""
    if policy == "all_excitatory":
        return SignReport(policy, pre, post, np.ones(len(pre), dtype=np.int8), {"all_excitatory": len(pre)})
    if policy != "transmitter":
        raise ValueError(f"unknown sign policy {policy!r}; valid policies: {', '.join(POLICIES)}")
    rule_sign = {
        "acetylcholine": 1,
        "gaba": -1,
        "glutamate": _polarity(glutamate_default, "glutamate_default"),
        "other": _polarity(other_default, "other_default"),
    }
    neuron_rule = [transmitter_rule(nts) for nts in transmitters]
    overrides = overrides or {}
    signs = np.empty(len(pre), dtype=np.int8)
    counts = dict.fromkeys(RULES, 0)
    for k, (i, j) in enumerate(zip(pre, post)):
        override = overrides.get((names[i], names[j]))
        if override is not None:
            if override not in (1, -1):
                raise ValueError(f"override for {names[i]}->{names[j]} must be +1 or -1, not {override!r}")
            rule, signs[k] = "override", override
        else:
            rule = neuron_rule[i]
            signs[k] = rule_sign[rule]
        counts[rule] += 1
    return SignReport(policy, pre, post, signs, counts)


def read_sign_overrides(path: str | Path) -> dict[tuple[str, str], int]:
    """Per-edge sign table from a CSV with columns ``pre,post,sign`` (+1/-1), e.g. Fenyves et al. 2020."""
    with open(path, newline="") as handle:
        return {(row["pre"], row["post"]): int(row["sign"]) for row in csv.DictReader(handle)}
