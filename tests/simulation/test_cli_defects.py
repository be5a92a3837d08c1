"""Defects a new user hit on a fresh clone (issue 15, section 3): each is one clear line (exit 2), found
before any work starts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wormchip.cli import main


def _no_work(*args: object, **kwargs: object) -> None:
    raise AssertionError("the work started before the output path was checked")


@pytest.fixture
def forbid_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any simulation, compilation or export fails the test: errors must come first."""
    import wormchip.analysis.atlas
    import wormchip.demo
    import wormchip.pipeline

    for module, name in (
        (wormchip.pipeline, "run_circuit"),
        (wormchip.pipeline, "build_circuit"),
        (wormchip.pipeline, "compile_circuit"),
        (wormchip.demo, "run_demo"),
        (wormchip.analysis.atlas, "atlas_compare"),
    ):
        monkeypatch.setattr(module, name, _no_work)


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("wormchip: error: ") and err.count("\n") == 0, err
    return err


COMMANDS = {
    "run": ["run", "tap_withdrawal", "--on", "emulator"],
    "simulate": ["simulate", "tap_withdrawal"],
    "compile": ["compile", "tap_withdrawal"],
    "export": ["export", "touch_response"],
    "compare": ["compare", "tap_withdrawal", "--b", "emulator"],
    "atlas-compare": ["atlas-compare", "--shuffles", "1"],
    "demo": ["demo"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_unwritable_out_is_refused_before_work(command, tmp_path, capsys, forbid_work) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main([*COMMANDS[command], "--out", str(blocker / "sub")]) == 2
    err = _one_line_error(capsys)
    assert "--out" in err and "a_file" in err


@pytest.mark.parametrize("command", ["run", "compile", "demo"])
def test_out_naming_a_file_is_refused(command, tmp_path, capsys, forbid_work) -> None:
    blocker = tmp_path / "result.txt"
    blocker.write_text("")
    assert main([*COMMANDS[command], "--out", str(blocker)]) == 2
    assert "is a file, not a folder" in _one_line_error(capsys)


def test_export_out_naming_a_folder_is_refused(tmp_path, capsys, forbid_work) -> None:
    assert main([*COMMANDS["export"], "--out", str(tmp_path)]) == 2
    assert "is a folder" in _one_line_error(capsys)


def test_out_in_a_read_only_place_is_refused(capsys, forbid_work) -> None:
    assert main([*COMMANDS["run"], "--out", "/proc/wormchip-out"]) == 2
    assert "cannot write in /proc" in _one_line_error(capsys)


def test_writable_out_passes(tmp_path: Path) -> None:
    from wormchip.preflight import check_output

    assert check_output(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999"])
def test_out_of_range_seed_is_one_line(seed, tmp_path, capsys) -> None:
    assert main(["run", "tap_withdrawal", "--on", "emulator", "--seed", seed, "--out", str(tmp_path)]) == 2
    err = _one_line_error(capsys)
    assert "--seed" in err and "4,294,967,295" in err and seed in err
    assert main(["atlas-compare", "--seed", seed, "--shuffles", "1"]) == 2
    assert "--seed" in _one_line_error(capsys)


NON_ASCII = """
name: utf8
populations:
  - {name: p, cells: [Ñeurón, µcell, ÅVA], model: lif, params: {I_bias: "1 nA"}}
connections:
  - {name: c, source: [p], target: [p], edges: [{pre: Ñeurón, post: µcell, weight: 1}]}
probes:
  - {variables: [v], neurons: [Ñeurón, µcell], dt: "1 ms"}
run: {dt: "0.1 ms", duration: "50 ms"}
"""


def test_non_ascii_neuron_names_are_saved_and_loaded(tmp_path, capsys) -> None:
    from wormchip.result import Result

    spec = tmp_path / "utf8.yaml"
    spec.write_text(NON_ASCII, encoding="utf-8")
    assert main(["run", str(spec), "--on", "emulator", "--out", str(tmp_path / "o"), "--json"]) == 0
    saved = Result.load(tmp_path / "o" / "result.h5")
    assert saved.neuron_names == ["Ñeurón", "µcell", "ÅVA"]
    assert sum(saved.spike_counts().values()) > 0
    assert "Ñeurón" in saved.traces["v"].channels


@pytest.mark.parametrize(
    "circuit, message",
    [("tap_withdrawal", "no neuron pair measured in the atlas"), ("ncp", "lif neurons only")],
)
def test_atlas_compare_on_an_unsuitable_circuit_is_one_line(circuit, message, capsys) -> None:
    assert main(["atlas-compare", "--circuit", circuit, "--shuffles", "0"]) == 2
    err = _one_line_error(capsys)
    assert message in err and circuit in err and "whole_worm" in err


def test_zero_shuffles_leave_p_undefined(capsys) -> None:
    import json

    from wormchip.analysis.atlas import empirical_p

    assert np.isnan(empirical_p(0.7, np.array([])))  # was (1 + 0) / (1 + 0) = 1
    assert main(["atlas-compare", "--circuit", "touch_response", "--shuffles", "0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["null_p"] and all(p is None for p in data["null_p"].values())
    assert main(["atlas-compare", "--circuit", "touch_response", "--shuffles", "0"]) == 0
    assert "null p undefined (0 shuffles)" in capsys.readouterr().out


PLASTIC = """
name: plastic
populations:
  - {name: p, cells: [A, B, C, D], model: lif, params: {I_bias: "0.15 nA", t_ref: "2 ms"}}
connections:
  - {name: exc, source: [p], target: [p], synapse: exp_current, params: {tau: "5 ms"}, weight_scale: "0.3 nA",
     edges: [{pre: A, post: B}, {pre: C, post: D}], plasticity: [learn]}
stimuli:
  - {name: drive, kind: poisson, targets: [A, C], rate: "300 Hz", weight: "0.3 nA"}
plasticity:
  - {name: learn, rule: stdp}
run: {dt: "0.5 ms", duration: "50 ms", seed: 1}
"""


@pytest.mark.lava
def test_cores_for_with_stdp_on_several_cores_runs(tmp_path) -> None:
    """stdp across cores (was refused): the plastic block is split into one LearningDense per core pair,
    bit-exact with the emulator (tests/mappers/test_stdp_lowering.py checks the weights)."""
    from wormchip.pipeline import run_circuit

    spec, profile = tmp_path / "plastic.yaml", tmp_path / "tiny.yaml"
    spec.write_text(PLASTIC)
    profile.write_text("base: loihi2\nneurons_per_core: 2\n")
    args = ["run", str(spec), "--on", "lava", "--cores-for", str(profile), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    lava = run_circuit(str(spec), on="lava", cores_for=str(profile), timeout_s=300)
    emu = run_circuit(str(spec), on="emulator")
    assert lava.metadata["cores"] == 2
    assert lava.spike_counts() == emu.spike_counts()
    np.testing.assert_array_equal(lava.weights["exc"].values[-1], emu.weights["exc"].values[-1])


@pytest.mark.parametrize("name", ["specs.yaml", "plain_folder"])
def test_a_folder_given_as_spec_says_folder(name, tmp_path, capsys) -> None:
    folder = tmp_path / name
    folder.mkdir()
    assert main(["run", str(folder), "--on", "emulator", "--out", str(tmp_path / "o")]) == 2
    err = _one_line_error(capsys)
    assert "is a folder, not a spec file" in err and "not found" not in err


def test_version(capsys) -> None:
    from wormchip import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"wormchip {__version__} (Python 3.")


HUGE = "name: huge\npopulations:\n  - {name: p, size: 10000000, model: lif}\nrun: {duration: '1 s'}\n"
LONG = """
name: long
populations:
  - {name: p, cells: [A, B], model: lif, params: {I_bias: "1 nA"}}
run: {dt: "0.1 ms", duration: "100000 s"}
"""
DENSE = """
name: dense
populations:
  - {name: p, size: 20000, model: lif}
connections:
  - {name: r, source: [p], target: [p], random: {p: 0.1}, weight_scale: "0.01 nA"}
run: {dt: "0.1 ms", duration: "1 s"}
"""


@pytest.fixture
def machine_16gb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Estimates are judged against a 16 GB machine, whatever runs the tests."""
    import wormchip.preflight

    monkeypatch.setattr(wormchip.preflight, "available_memory", lambda: 16e9)


@pytest.mark.parametrize(
    ("text", "on", "expected"),
    [
        (HUGE, "brian2", "10,000,000 neurons"),
        (LONG, "brian2", "1,000,000,000 steps"),
        (LONG, "emulator", "1,000,000,000 steps"),
        (DENSE, "lava", "40,000,000 synapses"),
    ],
    ids=["size-10M", "duration-100000s", "duration-emulator", "random-20k-p0.1-lava"],
)
def test_work_beyond_the_machine_is_refused_with_the_estimate(
    text, on, expected, tmp_path, capsys, machine_16gb
) -> None:
    import time

    spec = tmp_path / "big.yaml"
    spec.write_text(text)
    t0 = time.monotonic()
    assert main(["run", str(spec), "--on", on, "--out", str(tmp_path / "o")]) == 2
    assert time.monotonic() - t0 < 10
    err = _one_line_error(capsys)
    assert "too large for this machine" in err and expected in err and "--force" in err


def test_estimates_follow_the_documented_model(machine_16gb) -> None:
    from wormchip.circuits.loader import parse_spec
    from wormchip.preflight import ResourceLimitError, check_estimate, estimate_spec

    dense = estimate_spec(parse_spec(DENSE), "brian2")
    assert dense.synapses == 40_000_000 and dense.steps == 10_000 and dense.neurons == 20_000
    assert dense.memory_bytes == pytest.approx(20_000 * 2500 + 40e6 * 170)  # 6.85 GB: fits 16 GB
    notices: list[str] = []
    check_estimate(dense, notify=notices.append)  # about 2 min: runs, but announced
    assert notices and "40,000,000 synapses" in notices[0]
    huge = estimate_spec(parse_spec(HUGE), "brian2")
    with pytest.raises(ResourceLimitError, match=r"needs 25 GB, 12.8 GB available"):
        check_estimate(huge)
    assert check_estimate(huge, force=True) is huge  # --force
    small = estimate_spec(parse_spec(NON_ASCII), "brian2")
    assert small.seconds < 60 and small.memory_bytes < 1e8


def test_too_many_shuffles_are_refused(capsys) -> None:
    assert main(["atlas-compare", "--shuffles", "100000000"]) == 2
    err = _one_line_error(capsys)
    assert "--shuffles 100,000,000" in err and "days" in err and "--force" in err


def test_force_is_accepted_by_every_command_that_estimates(tmp_path, capsys) -> None:
    from wormchip.cli import build_parser

    for command in (COMMANDS[c] for c in ("run", "simulate", "compile", "compare", "atlas-compare")):
        assert build_parser().parse_args([*command, "--force"]).force
    args = ["run", "tap_withdrawal", "--on", "emulator", "--duration", "20 ms", "--force"]
    assert main([*args, "--out", str(tmp_path)]) == 0
