"""Published numbers, lookups and spot-checked edges of the shipped connectome snapshot."""

import numpy as np
import pytest
import scipy.sparse as sp

from wormchip.errors import DatasetError, NeuronNameError
from wormchip.worm_connectome import DATASETS, Connectome, list_datasets, load


def class_weight(connectome: Connectome, matrix: str, pre: str, post: str) -> int:
    """Total weight from every neuron of class ``pre`` to every neuron of class ``post``."""
    rows = [connectome.index(n) for n in connectome.resolve(pre)]
    cols = [connectome.index(n) for n in connectome.resolve(post)]
    return int(getattr(connectome, matrix)[rows][:, cols].sum())


def test_cook2019_headline_numbers():
    summary = load("cook2019").summary()
    assert summary["neurons"] == 302
    assert summary["connected_neurons"] == 302  # every hermaphrodite neuron has >= 1 neuron-neuron link
    # Independently recomputed from cect's matrices in test_connectome_snapshot.py.
    assert summary["chemical_edges"] == 3709
    assert summary["chemical_contacts"] == 20965  # EM serial sections, not synapse counts
    assert summary["gap_edges"] == 1105
    assert summary["gap_contacts"] == 5779


def test_varshney2011_matches_publication():
    """Varshney et al. 2011 report 279 neurons, 6,393 chemical synapses and 890 gap junctions.

    The data (NeuronConnect.xls) sums to 6,394 chemical contacts. The one extra is AVFR->AVFL (1 contact,
    type Sp): it is the only send entry whose mirror receive entry is written in lower case
    ("avfl avfr Rp"), i.e. it looks like a late hand edit not in the paper's count. Gap junctions: the
    file lists each junction in both directions plus 3 self-junctions (RIBL, RIBR, VA8) once, so
    (1777 - 3) / 2 + 3 = 890 junctions.
    """
    connectome = load("varshney2011")
    summary = connectome.summary()
    assert summary["neurons"] == 280
    assert summary["connected_neurons"] == 279  # VC6 has only a neuromuscular junction
    assert summary["chemical_contacts"] == 6393 + 1
    assert connectome.chemical[connectome.index("AVFR"), connectome.index("AVFL")] == 1
    assert summary["gap_contacts"] == 890
    assert {"RIBL", "RIBR", "VA8"} == {
        connectome.neurons[i] for i in np.flatnonzero(connectome.gap.diagonal())
    }


@pytest.mark.parametrize(
    ("key", "neurons"), [("cook2019", 302), ("varshney2011", 280), ("white1986", 300), ("witvliet2021", 180)]
)
def test_each_dataset_keeps_its_own_neurons_in_canonical_order(key, neurons):
    connectome = load(key)
    assert len(connectome) == neurons == connectome.chemical.shape[0] == connectome.gap.shape[0]
    assert list(connectome.neurons) == sorted(connectome.neurons)
    assert connectome.provenance.doi == DATASETS[key].doi
    assert "cect 0.3.5" in connectome.provenance.dataset_version


@pytest.mark.parametrize("key", sorted(DATASETS))
def test_gap_matrix_symmetric_and_weights_positive(key):
    connectome = load(key)
    assert (connectome.gap != connectome.gap.T).nnz == 0
    assert connectome.chemical.data.min() > 0 and connectome.gap.data.min() > 0
    assert isinstance(connectome.chemical, sp.csr_matrix)


@pytest.mark.parametrize("key", ["cook2019", "varshney2011", "white1986"])
def test_chalfie1985_touch_circuit_edges(key):
    """Chalfie et al. 1985: AVM/ALM -> AVD, AVD -> AVA, PVC -> AVB chemical; PLM couples to PVC."""
    connectome = load(key)
    assert class_weight(connectome, "chemical", "AVD", "AVA") > 0
    assert class_weight(connectome, "chemical", "ALM", "AVD") > 0
    assert class_weight(connectome, "chemical", "PVC", "AVB") > 0
    # PLM -> PVC: in Cook 2019 this link is electrical only (PLML-PVCL 4, PLMR-PVCR 8 sections).
    assert (
        class_weight(connectome, "chemical", "PLM", "PVC") + class_weight(connectome, "gap", "PLM", "PVC") > 0
    )
    assert class_weight(connectome, "gap", "PLM", "PVC") > 0


def test_cook2019_named_edge_values():
    connectome = load()
    assert connectome.chemical[connectome.index("AVDR"), connectome.index("AVAR")] == 52
    assert connectome.chemical[connectome.index("PVCL"), connectome.index("AVBR")] == 27
    assert class_weight(connectome, "chemical", "AVM", "AVD") == 2


def test_class_type_and_transmitter_lookups():
    connectome = load()
    assert connectome.neuron_class("AVAL") == "AVA"
    assert connectome.neuron_type("AVAL") == "interneuron"
    assert connectome.neuron_type("PLML") == "sensory"
    assert connectome.neuron_type("VA1") == "motor"
    assert connectome.neuron_class("VA12") == "VA"
    assert connectome.neuron_class("SMDDL") == "SMD"
    assert connectome.neuron_class("RMED") == "RME"
    assert connectome.neuron_class("RIVL") == "RIV"
    assert connectome.neuron_type("CANL") == "other"
    assert connectome.neurotransmitters("AVAL") == ("Acetylcholine",)
    assert connectome.neurotransmitters("DD1") == ("GABA",)
    assert connectome.neurotransmitters("CANL") == ()
    assert len({connectome.neuron_class(n) for n in connectome.neurons}) == 118  # WormAtlas: 118 classes
    types = [connectome.neuron_type(n) for n in connectome.neurons]
    assert [types.count(t) for t in ("sensory", "interneuron", "motor", "other")] == [83, 89, 123, 7]


def test_unknown_dataset_lists_valid_ones():
    with pytest.raises(DatasetError, match="cook2019, varshney2011, white1986, witvliet2021"):
        load("cook2020")
    assert list_datasets()[0].key == "cook2019"


def test_unknown_neuron_suggests_close_names():
    connectome = load()
    with pytest.raises(NeuronNameError, match="did you mean AVA, AVAR, AVAL"):
        connectome.subcircuit(["AVAX"])
    with pytest.raises(NeuronNameError, match="did you mean AVAL"):
        connectome.index("aval")
    with pytest.raises(NeuronNameError, match="not in dataset 'varshney2011'"):
        load("varshney2011").index("I1L")


def test_load_is_cached_and_read_only():
    assert load() is load("cook2019")
    with pytest.raises(ValueError):
        load().chemical.data[0] = 0
