"""A small fit spec shared by the fit tests: klinotaxis, two free gains and one free sign, 2 s episodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormchip.circuits.loader import load_spec, to_yaml

FIT_SECTION = """fit:
  parameters:
    - {path: "bindings[0].motors[0].gain", low: 0.005, high: 0.1, scale: log}
    - {path: populations.inter.params.I_bias, low: "0.02 nA", high: "0.12 nA"}
  signs:
    - {connection: chemical, pre: [ASEL], post: [AIY]}
  objectives:
    - {metric: mean_distance_to_peak, goal: minimize, episodes: 1, duration: "2 s"}
  popsize: 4
  generations: 3
  seed: 7
"""


@pytest.fixture
def fit_spec_path(tmp_path: Path) -> Path:
    path = tmp_path / "kfit.yaml"
    path.write_text(to_yaml(load_spec("klinotaxis")) + FIT_SECTION)
    return path
