"""`wormchip run / export / compare`: every backend through one entry point, files written, errors one line."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest

from wormchip.cli import main
from wormchip.pipeline import quantized, run_circuit
from wormchip.result import Result


def test_run_on_emulator_writes_result_with_volts(tmp_path, capsys):
    code = main(
        [
            "run",
            "touch_response",
            "--on",
            "emulator",
            "--duration",
            "200 ms",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "emulator" and data["duration_s"] == pytest.approx(0.2)
    assert data["rates_hz"]["AVDL"] == pytest.approx(data["spike_counts"]["AVDL"] / 0.2)
    saved = Result.load(tmp_path / "result.h5")
    assert saved.spike_counts() == data["spike_counts"]
    v = saved.traces["v"]
    assert v.unit == "V" and set(saved.traces) >= {"v", "v_fixed", "u_fixed"}


def test_emulator_volts_are_the_registers_times_the_quantization_scale():
    net = run_circuit("tap_withdrawal", on="emulator", duration="50 ms")
    from wormchip.pipeline import build_circuit

    compiled = quantized(build_circuit("tap_withdrawal", duration="50 ms"))
    k = list(net.traces["v"].channels).index("AVA")
    raw = net.traces["v_fixed"].values[:, k].astype(float)
    expected = raw * compiled.quantization.v_scale[k] + compiled.lowered.e_l[k]
    np.testing.assert_allclose(net.traces["v"].values[:, k], expected)
    assert expected[0] == pytest.approx(-65e-3, abs=2e-3)  # starts at rest (E_L = −65 mV)


def test_run_on_nengo_and_the_one_line_for_plasticity(tmp_path, capsys):
    """Gap junctions and conductance synapses run on Nengo; a plasticity rule is named in one error line."""
    assert (
        main(["run", "tap_withdrawal", "--on", "nengo", "--duration", "100 ms", "--out", str(tmp_path)]) == 0
    )
    capsys.readouterr()
    spec = tmp_path / "plastic.yaml"
    spec.write_text(
        "name: plastic\n"
        "populations: [{name: p, cells: [A, B], model: lif}]\n"
        "connections: [{name: c, source: [p], target: [p], synapse: exp_current, weight_scale: '0.1 nA',\n"
        "  plasticity: [learn], edges: [{pre: A, post: B}]}]\n"
        "plasticity: [{name: learn, rule: stdp}]\n"
    )
    assert main(["run", str(spec), "--on", "nengo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "plasticity rule 'learn' (stdp)" in err


def test_export_nir_round_trips(tmp_path, capsys):
    path = tmp_path / "touch.nir"
    assert main(["export", "touch_response", "--format", "nir", "--out", str(path)]) == 0
    out = capsys.readouterr().out
    graph = nir.read(path)
    assert "gap" in out and any(isinstance(node, nir.CubaLIF) for node in graph.nodes.values())


def test_compare_brian2_emulator_json(tmp_path, capsys):
    args = ["compare", "touch_response", "--a", "brian2", "--b", "emulator", "--duration", "150 ms"]
    assert main([*args, "--target", "numpy", "--json", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["labels"] == ["brian2", "emulator"] and data["circuit"] == "touch_response"
    assert "count_correlation" in data["summary"] and (tmp_path / "raster.png").exists()


def test_unknown_backend_is_a_usage_error(capsys):
    assert main(["run", "tap_withdrawal", "--on", "spinnaker"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_atlas_compare_cli_json(tmp_path, capsys):
    assert main(["atlas-compare", "--shuffles", "2", "--json", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"pairs", "sign_agreement", "spearman_r", "auc", "null_p"} <= set(data)
    assert (
        data["pairs"] > 20000 and 0.0 <= data["auc"] <= 1.0 and set(data["null_p"]) >= {"auc", "spearman_r"}
    )
    assert (tmp_path / "atlas_null.png").exists() and json.loads((tmp_path / "atlas.json").read_text())[
        "pairs"
    ]


def test_compile_json_has_the_promised_keys(tmp_path, capsys):
    assert main(["compile", "touch_response", "--target", "loihi1", "--json", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    keys = {"target", "cores", "chips", "neurons", "synapses", "synaptic_memory_bits", "inter_core_traffic"}
    assert keys | {"energy_per_step_pj"} <= set(data) and data["target"] == "loihi1" and data["neurons"] == 16
    assert data["cores"] == 1 and data["energy_per_step_pj"] > 0 and (tmp_path / "core_map.png").exists()


def test_compile_reports_a_network_that_cannot_fit(tmp_path, capsys):
    profile = tmp_path / "tiny.yaml"
    profile.write_text("base: loihi1\nname: tiny\nneurons_per_core: 4\ninput_axons_per_core: 3\n")
    assert main(["compile", "touch_response", "--target", str(profile)]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.count("\n") == 0
        and "input_axons per core is 3" in err
        and "neuron AVDR needs 14" in err
        and "AVAL" in err
    )


@pytest.mark.lava
def test_lava_partitioned_into_cores_equals_the_emulator(tmp_path):
    """The emit pass on a real partition (touch_response on 6-neuron cores) is bit-exact with the emulator."""
    from wormchip.circuits.loader import load_spec

    profile = tmp_path / "small.yaml"
    profile.write_text("base: loihi1\nname: small\nneurons_per_core: 6\n")
    spec = load_spec("touch_response")
    spec.stimuli[0].start, spec.run.duration = "5 ms", "40 ms"
    lava = run_circuit(spec, on="lava", cores_for=profile)
    emulated = run_circuit(spec, on="emulator")
    assert lava.metadata["cores"] >= 3 and sum(lava.spike_counts().values()) > 5
    for name in emulated.neuron_names:
        np.testing.assert_array_equal(lava.spike_times[name], emulated.spike_times[name])
    np.testing.assert_array_equal(lava.traces["v_fixed"].values, emulated.traces["v_fixed"].values)


@pytest.mark.parametrize("value, message", [("-3", "must be ≥ 0, got -3"), ("x", "must be a whole number")])
def test_atlas_compare_rejects_a_bad_shuffle_count(capsys, value, message):
    assert main(["atlas-compare", "--shuffles", value]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--shuffles" in err and message in err


def test_compare_a_backend_with_itself_is_a_determinism_check(capsys):
    args = [
        "compare",
        "tap_withdrawal",
        "--a",
        "emulator",
        "--b",
        "emulator",
        "--duration",
        "200 ms",
        "--json",
    ]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["labels"] == ["emulator-1", "emulator-2"] and data["summary"]["count_correlation"] == 1.0
    assert set(data["summary"]["fraction_within_1step"].values()) == {1.0}
