"""Backends leave nothing in the temp directory: cpp_standalone's build folder and the Lava runner's scratch
files are removed after every run (issue 16, goal 6).

Each test points the temp directory at a private folder, so runs by other processes sharing /tmp cannot
interfere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from wormchip.mappers.fixed_point import FixedPointNetwork, WeightBlock


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty temp directory that `tempfile` (here and in forked workers) hands out from."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# A process that runs cpp_standalone once; Brian2's per-process logs (brian_*.log) are removed at its exit.
CPP_RUN = """
from wormchip.backends.brian2_backend import run_brian2
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict

spec = {
    "name": "tiny",
    "populations": [{"name": "n", "size": 2, "model": "lif", "params": {"I_bias": "0.2 nA"}}],
    "run": {"dt": "0.1 ms", "duration": "20 ms", "target": "cpp_standalone"},
}
result = run_brian2(build(from_dict(spec)))
assert result.metadata["target"] == "cpp_standalone" and len(result.spike_times["n_0"]) > 0
"""


@pytest.mark.slow
def test_cpp_standalone_leaves_no_folder(private_tmp: Path) -> None:
    """A tiny cpp_standalone run (compiles C++, ~10 s) in its own process leaves the temp directory empty."""
    subprocess.run(
        [sys.executable, "-c", CPP_RUN], check=True, env={**os.environ, "TMPDIR": str(private_tmp)}
    )
    assert list(private_tmp.iterdir()) == []


@pytest.mark.lava
def test_lava_run_leaves_no_temp_files(private_tmp: Path) -> None:
    """The Lava runner's scratch folder and shared-memory log are gone after a run."""
    from wormchip.backends.lava_runner import run_lava

    rng = np.random.default_rng(0)
    net = FixedPointNetwork(
        neuron_names=["a", "b", "c"],
        du=100,
        dv=200,
        vth=50,
        bias_mant=rng.integers(0, 200, 3),
        bias_exp=2,
        weights=(WeightBlock(rng.integers(-50, 50, (3, 3)), weight_exp=0),),
    )
    run_lava(net, 10, timeout_s=120)
    assert list(private_tmp.iterdir()) == []
