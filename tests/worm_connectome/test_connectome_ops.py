"""Signs, subsetting and export of a Connectome."""

import networkx as nx
import numpy as np
import pytest

from wormchip.worm_connectome import load, read_sign_overrides
from wormchip.worm_connectome.signs import transmitter_rule


@pytest.mark.parametrize("key", ["cook2019", "varshney2011", "white1986", "witvliet2021"])
def test_sign_rule_counts_add_up(key):
    connectome = load(key)
    report = connectome.signs()
    assert sum(report.rule_counts.values()) == connectome.chemical.nnz == len(report.signs)
    assert set(np.unique(report.signs)) <= {-1, 1}


def test_cook2019_sign_report():
    report = load().signs()
    assert report.rule_counts == {
        "override": 0,
        "acetylcholine": 1889,
        "gaba": 214,
        "glutamate": 1126,
        "other": 480,
    }
    assert (report.signs == -1).sum() == 214 + 1126  # GABA + glutamate (inhibitory by default)


def test_gaba_edges_are_inhibitory():
    connectome = load()
    edges = connectome.to_edge_list()
    gaba = edges[
        (edges.type == "chemical") & edges.pre.isin(connectome.resolve(["DD", "VD", "RME", "AVL", "DVB"]))
    ]
    assert len(gaba) > 100
    assert (gaba.sign == -1).all()
    cholinergic = edges[(edges.type == "chemical") & edges.pre.isin(connectome.resolve("AVA"))]
    assert (cholinergic.sign == 1).all()


def test_glutamate_default_and_overrides(tmp_path):
    connectome = load()
    excitatory = connectome.signs(glutamate_default="excitatory")
    assert (excitatory.signs == -1).sum() == 214
    table = tmp_path / "fenyves_like.csv"
    table.write_text("pre,post,sign\nAIBL,AVAL,1\nAVAL,AVAR,-1\n")
    overrides = read_sign_overrides(table)
    report = connectome.signs(overrides=overrides)
    assert report.rule_counts["override"] == 2
    assert sum(report.rule_counts.values()) == connectome.chemical.nnz
    with pytest.raises(ValueError, match="glutamate_default"):
        connectome.signs(glutamate_default="shunting")


def test_all_excitatory_policy():
    report = load().signs(policy="all_excitatory")
    assert report.rule_counts == {"all_excitatory": 3709}
    assert (report.signs == 1).all()
    with pytest.raises(ValueError, match="transmitter, all_excitatory"):
        load().signs(policy="random")


def test_transmitter_rule_uses_first_classical_transmitter():
    assert transmitter_rule(["Glutamate", "Acetylcholine"]) == "glutamate"
    assert transmitter_rule(["Serotonin", "Acetylcholine"]) == "acetylcholine"
    assert transmitter_rule(["Dopamine"]) == "other"
    assert transmitter_rule([]) == "other"


def test_subcircuit_accepts_names_classes_and_types():
    connectome = load()
    sub = connectome.subcircuit(["AVA", "PLML", "AVBL"])
    assert sub.neurons == ("AVAL", "AVAR", "AVBL", "PLML")
    assert (
        sub.chemical[sub.index("AVAL"), sub.index("AVAR")]
        == connectome.chemical[connectome.index("AVAL"), connectome.index("AVAR")]
    )
    assert len(connectome.subcircuit("sensory")) == 83
    assert sub.neuron_class("AVAR") == "AVA"


def test_neighborhood_and_ablate():
    connectome = load()
    assert connectome.neighborhood("AVAL", hops=0).neurons == ("AVAL",)
    one_hop = connectome.neighborhood("AVAL", hops=1)
    links = connectome.chemical + connectome.chemical.T + connectome.gap
    expected = set(np.array(connectome.neurons)[links[connectome.index("AVAL")].indices]) | {"AVAL"}
    assert set(one_hop.neurons) == expected
    assert len(connectome.neighborhood("AVAL", hops=2)) > len(one_hop)
    ablated = connectome.ablate("AVA")
    assert len(ablated) == 300 and "AVAL" not in ablated.neurons
    kept = [connectome.index(n) for n in ablated.neurons]
    assert ablated.chemical.sum() == connectome.chemical[kept][:, kept].sum()


def test_edge_list_and_networkx_export():
    connectome = load()
    edges = connectome.to_edge_list()
    assert list(edges.columns) == ["pre", "post", "type", "weight", "sign"]
    assert (edges.type == "chemical").sum() == 3709 and (edges.type == "gap").sum() == 1105
    assert edges.loc[edges.type == "chemical", "weight"].sum() == 20965
    assert (edges.loc[edges.type == "gap", "sign"] == 0).all()
    graph = connectome.to_networkx()
    assert isinstance(graph, nx.MultiDiGraph) and graph.number_of_nodes() == 302
    assert graph.edges["AVDR", "AVAR", "chemical"]["weight"] == 52
    assert graph.nodes["AVAL"]["neuron_class"] == "AVA"
    assert graph.has_edge("PVCL", "PLML", "gap") and graph.has_edge("PLML", "PVCL", "gap")
