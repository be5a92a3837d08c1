"""`wormchip simulate` / `circuits` and the Result file format."""

from __future__ import annotations

import json

import numpy as np

from wormchip.cli import main
from wormchip.result import Result, Trace


def test_simulate_json_writes_result_and_raster(tmp_path, capsys):
    code = main(
        [
            "simulate",
            "tap_withdrawal",
            "--duration",
            "300 ms",
            "--ablate",
            "AVD",
            "--out",
            str(tmp_path),
            "--json",
            "--target",
            "numpy",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert {"circuit", "duration_s", "spike_counts", "rates_hz", "wall_s"} <= set(data)
    assert data["circuit"] == "tap_withdrawal" and data["duration_s"] == 0.3
    assert "AVD" not in data["spike_counts"]  # ablated
    assert data["rates_hz"]["ALM"] == data["spike_counts"]["ALM"] / 0.3
    assert (tmp_path / "raster.png").stat().st_size > 1000
    saved = Result.load(tmp_path / "result.h5")
    assert saved.spike_counts() == data["spike_counts"]


def test_simulate_bad_input_is_one_line_exit_2(capsys):
    assert main(["simulate", "tap_withdrawl"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "tap_withdrawal" in err  # suggestion
    assert main(["simulate", "tap_withdrawal", "--dt", "1 s"]) == 2
    assert "shorter than one time step" in capsys.readouterr().err


def test_circuits_lists_library(capsys):
    assert main(["circuits"]) == 0
    out = capsys.readouterr().out
    for name in ("tap_withdrawal", "whole_worm", "ncp", "klinotaxis"):
        assert name in out


def test_result_roundtrip(tmp_path):
    result = Result(
        neuron_names=["A", "B"],
        duration=1.0,
        dt=1e-4,
        spike_times={"A": np.array([0.1, 0.25]), "B": np.zeros(0)},
        traces={"v": Trace(np.arange(3) * 1e-3, ["A", "B"], np.arange(6.0).reshape(3, 2), "V")},
        weights={"syn": Trace(np.arange(2) * 1e-3, ["A->B"], np.array([[1e-9], [2e-9]]), "S")},
        metadata={"seed": 3, "circuit": "x"},
    )
    loaded = Result.load(result.save(tmp_path / "r.h5"))
    assert loaded.neuron_names == ["A", "B"] and loaded.metadata == result.metadata
    np.testing.assert_array_equal(loaded.spike_times["A"], [0.1, 0.25])
    np.testing.assert_array_equal(loaded.traces["v"].channel("B"), [1.0, 3.0, 5.0])
    assert loaded.weights["syn"].unit == "S" and loaded.spike_steps()["A"].tolist() == [1000, 2500]


def test_unknown_ablation_from_the_command_line_names_the_option_not_a_file_line(capsys):
    assert main(["simulate", "tap_withdrawal", "--ablate", "AVX"]) == 2
    err = capsys.readouterr().err
    assert "--ablate[0]" in err and "line" not in err and "'AVM'" in err


def test_spike_counts_in_a_window_are_half_open():
    result = Result(["A", "B"], 1.0, 1e-3, {"A": np.array([0.1, 0.2, 0.35, 0.5]), "B": np.zeros(0)})
    assert result.spike_counts() == {"A": 4, "B": 0}
    assert result.spike_counts(0.1, 0.35) == {"A": 2, "B": 0}  # [0.1, 0.35): 0.35 excluded
    assert result.spike_counts(0.3) == {"A": 2, "B": 0}


def test_a_bad_duration_override_names_the_option_not_a_file_line(capsys):
    assert main(["simulate", "tap_withdrawal", "--duration", "5mV"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("wormchip: error: --duration: '5mV' is a voltage") and "line" not in err
