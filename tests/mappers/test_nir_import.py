"""NIR import: wormchip → NIR → wormchip gives the same network (library circuits and a small network with
delays and two τ_syn), foreign graphs map by NIR's equations, unmappable nodes are listed in one error, the CLI
imports and `run`/`compile` read .nir files, and exports with nothing expressible fail."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from wormchip import ir
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict, load_spec, parse_spec
from wormchip.cli import main
from wormchip.mappers.nir_export import NIRExportError, export_nir, to_nir
from wormchip.mappers.nir_import import NIRImportError, spec_data
from wormchip.pipeline import build_circuit
from wormchip.simulate import import_nir

nir = pytest.importorskip("nir")

LIF_PARAMS = ("C_m", "g_L", "E_L", "v_th", "v_reset", "t_ref", "I_bias")


def _params(net: ir.Network) -> dict[str, dict[str, float]]:
    """Neuron name → its lif parameters."""
    out: dict[str, dict[str, float]] = {}
    for block in net.blocks:
        for k, i in enumerate(block.indices):
            out[net.names[i]] = {p: float(block.params[p][k]) for p in LIF_PARAMS}
    return out


def _synapses(net: ir.Network) -> dict[tuple[str, str, float, float], float]:
    """(pre, post, τ, delay) → summed weight of the exp_current synapses (what NIR expresses)."""
    out: dict[tuple[str, str, float, float], float] = {}
    for proj in net.projections:
        if proj.synapse != "exp_current":
            continue
        tau, delay = proj.params["tau"], proj.params.get("delay", 0.0)
        for a, b, w in zip(proj.pre, proj.post, proj.weight):
            key = (net.names[a], net.names[b], tau, delay)
            out[key] = out.get(key, 0.0) + float(w)
    return out


def _assert_same_network(original: ir.Network, imported: ir.Network) -> None:
    assert sorted(imported.names) == sorted(original.names)
    assert {b.model for b in imported.blocks} == {"lif"}
    a, b = _params(original), _params(imported)
    for name in original.names:
        for p in LIF_PARAMS:
            assert b[name][p] == pytest.approx(a[name][p], rel=1e-12, abs=1e-18), (name, p)
    sa, sb = _synapses(original), _synapses(imported)
    assert set(sb) == {k for k, w in sa.items() if w != 0}
    for key, w in sb.items():
        assert w == pytest.approx(sa[key], rel=1e-12), key
    assert (imported.dt, imported.duration) == (original.dt, original.duration)


def _round_trip(net: ir.Network, tmp_path) -> tuple[ir.Network, list[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = export_nir(net, tmp_path / f"{net.name}.nir")
    spec, notes = import_nir(path)
    return build(parse_spec(_yaml(spec))), notes


def _yaml(spec) -> str:
    from wormchip.circuits.loader import to_yaml

    return to_yaml(spec)


@pytest.mark.parametrize("circuit", ["klinotaxis", "touch_response", "whole_worm"])
def test_library_circuits_round_trip(tmp_path, circuit: str) -> None:
    """Every exportable library circuit comes back with the same cells, parameters (t_ref and E_L from the
    node metadata), synapses, weights, τ and delays, through the YAML the importer writes."""
    original = build(load_spec(circuit))
    imported, notes = _round_trip(original, tmp_path)
    _assert_same_network(original, imported)
    assert any("input_current" in n for n in notes)  # stimuli are data: reported, not invented
    assert any("gap" in n for n in notes)  # what the export left out is passed on


def test_round_trip_with_delays_two_taus_and_recurrence(tmp_path) -> None:
    spec = {
        "name": "mixed",
        "populations": [
            {"name": "a", "cells": ["A", "B"], "params": {"I_bias": "0.1 nA", "t_ref": "1 ms"}},
            {
                "name": "b",
                "cells": ["C"],
                "model": "adaptive_lif",
                "params": {"C_m": "50 pF", "E_L": "-70 mV"},
            },
        ],
        "connections": [
            {
                "name": "fast",
                "source": ["a", "b"],
                "target": ["a"],
                "params": {"tau": "2 ms"},
                "weight_scale": "0.3 nA",
                "edges": [
                    {"pre": "A", "post": "B", "weight": 1.0},
                    {"pre": "C", "post": "A", "weight": -0.5},
                ],
            },
            {
                "name": "slow",
                "source": ["a"],
                "target": ["b", "a"],
                "params": {"tau": "20 ms", "delay": "1.5 ms"},
                "weight_scale": "0.1 nA",
                "edges": [{"pre": "B", "post": "C", "weight": 0.7}, {"pre": "A", "post": "A", "weight": 0.2}],
            },
        ],
    }
    original = build(from_dict(spec))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = to_nir(original)
    # A and B receive both τ: the export keeps the τ of most of each neuron's synapses (listed as unsupported);
    # what it wrote comes back exactly, so compare against the graph's τ per target.
    imported = build(from_dict(spec_data(graph, "mixed", "<graph>").data))
    assert sorted(imported.names) == ["A", "B", "C"]
    for name in ("A", "B", "C"):
        for p in LIF_PARAMS:
            assert _params(imported)[name][p] == pytest.approx(_params(original)[name][p], rel=1e-12)
    delayed = {(a, b): (tau, d) for (a, b, tau, d) in _synapses(imported)}
    assert delayed[("B", "C")] == (0.02, 0.0015)
    assert delayed[("A", "A")][1] == 0.0015  # the autapse (recurrent) keeps its delay
    assert delayed[("C", "A")] == delayed[("A", "A")][:1] + (0.0,)  # A has one τ_syn in NIR


def _foreign_graph(**extra):
    """A graph as another tool writes it: no wormchip metadata, scalar parameters, w_in = 1."""
    n = 3
    nodes = {
        "in": nir.Input(input_type={"input": np.array([2])}),
        "fc": nir.Linear(weight=np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]]) * 1e-12),
        "lif1": nir.CubaLIF(
            tau_syn=np.full(n, 0.005),
            tau_mem=np.full(n, 0.02),
            r=np.full(n, 1e8),
            v_leak=np.zeros(n),
            v_threshold=np.full(n, 0.015),
            v_reset=np.zeros(n),
            w_in=np.ones(n),
        ),
        "rec": nir.Linear(weight=np.array([[0, 1.0, 0], [0, 0, -1.0], [2.0, 0, 0]]) * 1e-12),
        "out": nir.Output(output_type={"output": np.array([n])}),
        **extra,
    }
    edges = [("in", "fc"), ("fc", "lif1"), ("lif1", "rec"), ("rec", "lif1"), ("lif1", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def test_foreign_recurrent_graph_maps_by_nir_equations() -> None:
    """No metadata: cells `<node>_k`, E_L = −65 mV, C_m = τ_mem/R, g_L = 1/R, weights W·w_in/τ_syn (A)."""
    imported = spec_data(_foreign_graph(), "foreign", "<graph>")
    net = build(from_dict(imported.data))
    assert net.names == ("lif1_0", "lif1_1", "lif1_2")
    p = _params(net)["lif1_0"]
    assert p["C_m"] == pytest.approx(2e-10) and p["g_L"] == pytest.approx(1e-8)
    assert p["v_th"] == pytest.approx(-0.05) and p["v_reset"] == pytest.approx(-0.065) and p["t_ref"] == 0
    syn = _synapses(net)
    assert syn[("lif1_1", "lif1_0", 0.005, 0.0)] == pytest.approx(1e-12 / 0.005)
    assert syn[("lif1_0", "lif1_2", 0.005, 0.0)] == pytest.approx(2e-12 / 0.005)
    assert len(syn) == 3
    assert any("input 'in'" in note and "2 channel(s)" in note for note in imported.notes)


def test_every_unmappable_node_is_named_in_one_error() -> None:
    graph = _foreign_graph(
        conv=nir.Conv2d(
            input_shape=(4, 4),
            weight=np.ones((1, 1, 2, 2)),
            stride=1,
            padding=0,
            dilation=1,
            groups=1,
            bias=np.zeros(1),
        ),
        plain=nir.LIF(tau=np.ones(1), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.ones(1)),
        aff=nir.Affine(weight=np.ones((3, 1)), bias=np.ones(3)),
    )
    graph.edges += [("in", "conv"), ("conv", "plain"), ("plain", "aff"), ("aff", "lif1")]
    with pytest.raises(NIRImportError) as err:
        spec_data(graph, "bad", "bad.nir")
    message = str(err.value)
    assert "\n" not in message and message.startswith("bad.nir: cannot import")
    for fragment in ("conv (Conv2d)", "plain (LIF)", "aff (Affine): bias", "unroll the layer into a Linear"):
        assert fragment in message, fragment


def test_unreadable_file_is_one_clear_error(tmp_path) -> None:
    bad = tmp_path / "x.nir"
    bad.write_text("not hdf5")
    with pytest.raises(NIRImportError, match="x.nir: not a readable NIR file"):
        import_nir(bad)
    with pytest.raises(NIRImportError, match="NIR file not found"):
        import_nir(tmp_path / "missing.nir")


def test_cli_import_writes_a_spec_and_run_compile_read_nir(tmp_path, capsys) -> None:
    nir.write(tmp_path / "net.nir", _foreign_graph())
    out = tmp_path / "spec" / "net.yaml"
    assert main(["import", str(tmp_path / "net.nir"), "--out", str(out)]) == 0
    assert "3 neurons in 1 population(s), 3 synapses in 1 connection(s)" in capsys.readouterr().out
    text = out.read_text()
    assert text.startswith("# Imported by `wormchip import")
    assert build(load_spec(out)).names == ("lif1_0", "lif1_1", "lif1_2")
    assert build_circuit(tmp_path / "net.nir").size == 3  # the path run, compile and compare take
    assert main(["compile", str(tmp_path / "net.nir"), "--duration", "50 ms", "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out.splitlines()[-1]), dict)
    assert main(["import", str(tmp_path / "missing.nir"), "--out", str(out)]) == 2
    assert "wormchip: error:" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "net.nir"), "--out", str(tmp_path)]) == 2  # a folder, before work
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize(("circuit", "count"), [("tap_withdrawal", "28"), ("ncp", "252")])
def test_export_with_nothing_expressible_fails_and_writes_nothing(tmp_path, circuit: str, count: str) -> None:
    path = tmp_path / f"{circuit}.nir"
    with pytest.raises(NIRExportError, match=f"none of its {count} synapses is expressible"):
        export_nir(build(load_spec(circuit)), path)
    assert not path.exists()
