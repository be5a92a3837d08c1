"""Spec errors: one SpecError naming file, line, field path and value, with a suggestion; YAML is data only."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from wormchip.circuits.build import build
from wormchip.circuits.errors import SpecError
from wormchip.circuits.loader import load_spec, parse_spec

SPEC = """\
name: demo
populations:
  - name: cmd
    neurons: [AVA, AVB]
    model: lif
    params: {C_m: "100 pF"}
  - name: syn
    size: 3
    model: conductance_lif
connections:
  - name: link
    source: [cmd]
    target: [syn]
    random: {p: 0.5}
run:
  dt: "0.1 ms"
  duration: "50 ms"
"""


def _error(text: str, source: str = "demo.yaml", build_it: bool = True) -> SpecError:
    """The single SpecError that parsing (and building) `text` raises."""
    with pytest.raises(SpecError) as info:
        spec = parse_spec(text, source)
        if build_it:
            build(spec)
    return info.value


def _one(err: SpecError):
    assert len(err.problems) == 1, str(err)
    return err.problems[0]


def test_valid_spec_builds() -> None:
    net = build(parse_spec(SPEC, "demo.yaml"))
    assert net.names[:2] == ("AVAL", "AVAR") and net.size == 7


@pytest.mark.parametrize(
    "tag",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        "!!python/object/new:os.system [touch {marker}]",
        "!!python/name:os.system",
        "!!python/module:os",
        '!!python/object/apply:subprocess.check_output [["touch", "{marker}"]]',
    ],
)
def test_python_tags_are_rejected_and_nothing_runs(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "pwned"
    for text in (tag.format(marker=marker), SPEC.replace("name: demo", f"name: {tag.format(marker=marker)}")):
        err = _error(text, build_it=False)
        problem = _one(err)
        assert "invalid YAML" in problem.message and "python/" in problem.message
        assert "plain data" in problem.suggestion
        assert str(err).startswith("demo.yaml: line ")
    assert not marker.exists()


def test_misspelt_model_suggests_closest() -> None:
    err = _error(SPEC.replace("model: lif", "model: lif2"))
    problem = _one(err)
    assert problem.field == "populations[0].model"
    assert problem.value == "lif2" and problem.line == 5
    assert problem.suggestion == "did you mean 'lif'?"
    assert str(err) == (
        "demo.yaml: line 5: populations[0].model: unknown neuron model (got 'lif2'); did you mean 'lif'?"
    )


def test_unknown_field_suggests_closest() -> None:
    err = _error(SPEC.replace("    size: 3", "    sizes: 3"))
    problems = {p.field: p for p in err.problems}
    assert problems["populations[1].sizes"].message == "unknown field 'sizes'"
    assert problems["populations[1].sizes"].suggestion == "did you mean 'size'?"
    assert problems["populations[1].sizes"].line == 8
    err = _error(SPEC.replace("    model: lif\n", "    model: lif\n    tau_mem: 20 ms\n"))
    problem = next(p for p in err.problems if p.field == "populations[0].tau_mem")
    assert problem.line == 6 and problem.message == "unknown field 'tau_mem'"
    assert "valid fields: name, neurons, cells, size, model, params" in problem.suggestion


def test_unknown_parameter_name_suggests() -> None:
    problem = _one(_error(SPEC.replace('{C_m: "100 pF"}', '{tau_mem: "20 ms"}')))
    assert problem.field == "populations[0].params.tau_mem" and problem.line == 6
    assert problem.message == "unknown parameter for model 'lif'"
    assert "C_m/g_L" in problem.suggestion
    problem = _one(_error(SPEC.replace('{C_m: "100 pF"}', '{v_thr: "-50 mV"}')))
    assert problem.suggestion.startswith("did you mean 'v_th'")


def test_wrong_unit_says_expected_dimension() -> None:
    problem = _one(_error(SPEC.replace('{C_m: "100 pF"}', '{t_ref: "5 mV"}')))
    assert problem.field == "populations[0].params.t_ref" and problem.line == 6
    assert problem.value == "5 mV"
    assert problem.message == "'5 mV' is a voltage; expected a time, e.g. '20 ms'"


def test_unitless_number_where_unit_needed() -> None:
    problem = _one(_error(SPEC.replace('{C_m: "100 pF"}', "{C_m: 100}")))
    assert problem.field == "populations[0].params.C_m" and problem.value == 100
    assert problem.message == "missing unit: expected a capacitance, e.g. '200 pF', got 100"
    problem = _one(_error(SPEC.replace('dt: "0.1 ms"', 'dt: "0.1"')))
    assert problem.field == "run.dt" and problem.line == 16
    assert "missing unit in '0.1': expected a time, e.g. '20 ms'" == problem.message


def test_unknown_neuron_suggests_closest() -> None:
    err = _error(SPEC.replace("[AVA, AVB]", "[AVAX, AVB]"))
    problem = _one(err)
    assert problem.field == "populations[0].neurons[0]" and problem.value == "AVAX" and problem.line == 4
    assert problem.suggestion.startswith("did you mean AVA,")
    assert "demo.yaml: line 4: populations[0].neurons[0]" in str(err)


def test_unknown_population_in_connection() -> None:
    problem = _one(_error(SPEC.replace("target: [syn]", "target: [sin]")))
    assert problem.field == "connections[0].target[0]" and problem.line == 13
    assert problem.message == "unknown population" and problem.value == "sin"
    assert problem.suggestion == "did you mean 'syn'?"


def test_schema_errors_have_lines_and_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("size: 3", "size: -3").replace("p: 0.5", "p: 2"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    err = info.value
    assert err.source == str(path) and str(err).startswith(f"{path}: 2 problems:")
    by_field = {p.field: p for p in err.problems}
    assert by_field["populations[1].size"].line == 8 and by_field["populations[1].size"].value == -3
    assert by_field["connections[0].random.p"].line == 14 and by_field["connections[0].random.p"].value == 2


def test_missing_required_field_and_wrong_type() -> None:
    err = _error(SPEC.replace("  - name: syn\n", "  - model: x\n"), build_it=False)
    problem = _one(err)
    assert problem.field == "populations[1].name" and problem.message == "required field is missing"
    problem = _one(_error(SPEC.replace('{C_m: "100 pF"}', "{C_m: [1, 2]}"), build_it=False))
    assert problem.field == "populations[0].params.C_m" and problem.line == 6
    assert problem.message.startswith("expected a quantity with a unit")
    problem = _one(_error(SPEC.replace("name: demo", "name: {a: 1}"), build_it=False))
    assert problem.field == "name" and problem.line == 1


def test_invalid_yaml_has_line() -> None:
    problem = _one(_error(SPEC.replace("  - name: syn", "  - name: [syn"), build_it=False))
    assert problem.message.startswith("invalid YAML") and problem.line is not None


def test_library_name_and_missing_file() -> None:
    with pytest.raises(SpecError, match="did you mean 'tap_withdrawal'"):
        load_spec("tap_withdrawl")
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec("nowhere.yaml")


def test_a_folder_named_like_a_library_circuit_does_not_hide_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ncp").mkdir()
    (tmp_path / "stuff").mkdir()
    assert load_spec("ncp").name == "ncp"
    with pytest.raises(SpecError, match="stuff is a folder, not a spec file"):
        load_spec("stuff")


def test_binary_file_gives_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage\x81")
    with pytest.raises(SpecError, match="not a UTF-8 text file"):
        load_spec(path)


def test_alias_bomb_is_rejected_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{k}: &a{k} [{', '.join([f'*a{k - 1}'] * 10)}]" for k in range(1, 9)]
    problem = _one(_error("\n".join(lines), build_it=False))
    assert "expands to more than" in problem.message


def test_dt_too_coarse_is_an_error() -> None:
    # Membrane τ = C_m/g_L = 100 pF / 5 nS = 20 ms; synaptic τ of exp_current defaults to 5 ms.
    err = _error(SPEC.replace('dt: "0.1 ms"', 'dt: "3 ms"'))
    problem = _one(err)
    assert problem.field == "run.dt" and problem.line == 16
    assert problem.message == "dt = 3 ms is too coarse for the synaptic τ of link = 5 ms (need dt ≤ τ/2)"
    assert problem.suggestion == "use dt ≤ 0.5 ms"


def test_dt_coarse_warns_with_numbers() -> None:
    spec = parse_spec(SPEC.replace('dt: "0.1 ms"', 'dt: "1 ms"'))
    with pytest.warns(
        UserWarning, match=r"dt = 1 ms is coarse for the synaptic τ of link = 5 ms \(τ/dt = 5\.0 < 10\)"
    ):
        build(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build(parse_spec(SPEC))  # dt = 0.1 ms ≤ τ/10: silent


def test_build_errors_of_python_specs_have_no_file() -> None:
    from wormchip.circuits.schema import CircuitSpec, Population

    spec = CircuitSpec(name="py", populations=[Population(name="p", size=2, model="lif2")])
    problem = _one(_error_of_build(spec))
    assert problem.line is None and problem.field == "populations[0].model"


def _error_of_build(spec) -> SpecError:
    with pytest.raises(SpecError) as info:
        build(spec)
    return info.value


def test_bad_values_in_build() -> None:
    cases = {
        'duration: "50 ms"': ('duration: "-5 ms"', "run.duration", "must be positive"),
        "random: {p: 0.5}": (
            "from_connectome: chemical",
            "connections[0].from_connectome",
            "connectome wiring",
        ),
        'params: {C_m: "100 pF"}': ('params: {C_m: "0 pF"}', "populations[0].params.C_m", "must be positive"),
    }
    for old, (new, field, message) in cases.items():
        problem = _one(_error(SPEC.replace(old, new)))
        assert problem.field == field and problem.message.startswith(message), problem.render()


def test_huge_networks_fail_fast() -> None:
    text = SPEC.replace("size: 3", "size: 10000000").replace("random: {p: 0.5}", "random: {p: 0.9}")
    text = text.replace("  - name: syn\n", "  - name: big\n    size: 10000000\n  - name: syn\n")
    problem = _one(_error(text))
    assert problem.field == "populations" and "exceed the limit" in problem.message
    problem = _one(_error(SPEC.replace("size: 3", "size: 100000").replace("source: [cmd]", "source: [syn]")))
    assert problem.field == "connections[0].random" and "too large" in problem.message


SIGNED = """\
name: signed
populations:
  - name: cmd
    neurons: [AVA, AVB, PVC]
    model: lif
connections:
  - name: chem
    source: [cmd]
    target: [cmd]
    from_connectome: chemical
    sign_overrides:
      - {pre: [AVA], post: [AVB], sign: inhibitory}
run:
  dt: "0.1 ms"
  duration: "50 ms"
"""


def test_sign_overrides_flip_exactly_the_named_edges() -> None:
    base = build(
        parse_spec(
            SIGNED.replace("    sign_overrides:\n      - {pre: [AVA], post: [AVB], sign: inhibitory}\n", ""),
            "s.yaml",
        )
    )
    flipped = build(parse_spec(SIGNED, "s.yaml"))
    names = np.array(base.names)
    b, f = base.projections[0], flipped.projections[0]
    ava_to_avb = np.char.startswith(names[b.pre].astype(str), "AVA") & np.char.startswith(
        names[b.post].astype(str), "AVB"
    )
    assert ava_to_avb.sum() == 3 and np.all(b.weight[ava_to_avb] > 0)  # AVA is cholinergic: + by transmitter
    np.testing.assert_array_equal(f.weight[ava_to_avb], -b.weight[ava_to_avb])
    np.testing.assert_array_equal(f.weight[~ava_to_avb], b.weight[~ava_to_avb])


@pytest.mark.parametrize(
    "override, message, value",
    [
        ("{pre: [AVX], post: [AVB], sign: inhibitory}", "unknown neuron", "AVX"),
        ("{pre: [AVBR], post: [PVCL], sign: inhibitory}", "no chemical synapse", "['AVBR'] -> ['PVCL']"),
    ],
)
def test_sign_override_errors_name_the_entry(override: str, message: str, value: str) -> None:
    text = SIGNED.replace("{pre: [AVA], post: [AVB], sign: inhibitory}", override)
    problem = _one(_error(text, "s.yaml"))
    assert message in problem.message and str(problem.value) == value, problem
    assert list(problem.path[:3]) == ["connections", 0, "sign_overrides"] and problem.line == 12


def test_sign_overrides_on_gap_junctions_are_rejected() -> None:
    text = SIGNED.replace(
        "from_connectome: chemical", "from_connectome: gap\n    synapse: gap_junction\n    weight_scale: 1 nS"
    )
    problem = _one(_error(text, "s.yaml"))
    assert "only to from_connectome: chemical" in problem.message and problem.value == "gap", problem
