"""Registry of the connectome datasets wormchip ships, with citations and how their weights were counted.

Every dataset is a snapshot of the OpenWorm C. elegans Connectome Toolbox (``cect``, MIT licence),
restricted to the 302 hermaphrodite neurons; muscles, glia and other cells are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from wormchip.errors import DatasetError

CECT_CITATION = "OpenWorm C. elegans Connectome Toolbox (cect), MIT licence, https://github.com/openworm/ConnectomeToolbox"
NEUROTRANSMITTER_SOURCE = (
    "Wang C, Vidal B, Sural S, et al. (2024) A neurotransmitter atlas of C. elegans males and "
    "hermaphrodites. eLife 13:RP95402. doi:10.7554/eLife.95402 (supplementary file 2, read by cect's "
    "Wang2024Reader)"
)
DEFAULT_DATASET = "cook2019"


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of one dataset: where it comes from and what its numbers mean."""

    key: str
    title: str
    paper: str
    doi: str
    cect_reader: str
    source_file: str
    weights: str
    coverage: str

    @property
    def citation(self) -> str:
        return f"{self.paper} doi:{self.doi}"


DATASETS: dict[str, DatasetInfo] = {
    info.key: info
    for info in (
        DatasetInfo(
            key="cook2019",
            title="Cook et al. 2019, adult hermaphrodite (whole animal)",
            paper=(
                "Cook SJ, Jarrell TA, Brittin CA, et al. (2019) Whole-animal connectomes of both "
                "Caenorhabditis elegans sexes. Nature 571:63-71."
            ),
            doi="10.1038/s41586-019-1352-7",
            cect_reader="Cook2019HermReader",
            source_file="SI 5 Connectome adjacency matrices, corrected July 2020.xlsx",
            weights=(
                "EM serial sections: each weight is the total number of electron-micrograph sections in "
                "which the connection is seen, so it reflects both the number and the size of synapses "
                "(not a count of synapses)."
            ),
            coverage="All 302 hermaphrodite neurons, including the 20 pharyngeal neurons.",
        ),
        DatasetInfo(
            key="varshney2011",
            title="Varshney et al. 2011, hermaphrodite somatic nervous system",
            paper=(
                "Varshney LR, Chen BL, Paniagua E, Hall DH, Chklovskii DB (2011) Structural properties of "
                "the Caenorhabditis elegans neuronal network. PLoS Comput Biol 7(2):e1001066."
            ),
            doi="10.1371/journal.pcbi.1001066",
            cect_reader="VarshneyDataReader",
            source_file="NeuronConnect.xls",
            weights=(
                "Synapse counts: each chemical weight is the number of synaptic contacts (S + Sp entries); "
                "each gap-junction weight is the number of electrical junctions. Contacts count equally "
                "whatever their size."
            ),
            coverage=(
                "280 of 302 neurons: the 20 pharyngeal neurons and CANL/CANR are not in the data. VC6 is "
                "present but has only a neuromuscular junction, so 279 neurons have a neuron-neuron "
                "connection, as in the paper."
            ),
        ),
        DatasetInfo(
            key="white1986",
            title="White et al. 1986 (whole animal, as curated in cect's White_whole)",
            paper=(
                "White JG, Southgate E, Thomson JN, Brenner S (1986) The structure of the nervous system of "
                "the nematode Caenorhabditis elegans. Phil Trans R Soc Lond B 314:1-340."
            ),
            doi="10.1098/rstb.1986.0056",
            cect_reader="White_whole",
            source_file="aconnectome_white_1986_whole.csv",
            weights=(
                "Synapse counts (Varshney et al. 2011 interpretation): the number of synaptic contacts "
                "from neuron A to neuron B, each contact weighted equally."
            ),
            coverage="300 of 302 neurons: CANL/CANR (no synapses) are absent; the pharynx is included.",
        ),
        DatasetInfo(
            key="witvliet2021",
            title="Witvliet et al. 2021, dataset 8 (adult), nerve ring and head",
            paper=(
                "Witvliet D, Mulcahy B, Mitchell JK, et al. (2021) Connectomes across development reveal "
                "principles of brain maturation. Nature 596:257-261."
            ),
            doi="10.1038/s41586-021-03778-8",
            cect_reader="WitvlietDataReader8",
            source_file="witvliet_2020_8 adult.xlsx",
            weights=(
                "Synapse counts: the number of presynaptic active zones between two cells agreed by at "
                "least two of three annotators. Gap junctions are known to be incomplete in this data."
            ),
            coverage=(
                "180 of 302 neurons: the EM volume covers the nerve ring and head only, so the ventral-cord "
                "motor neurons, tail neurons and the pharynx are absent."
            ),
        ),
    )
}


def list_datasets() -> list[DatasetInfo]:
    """All datasets, default first."""
    return sorted(DATASETS.values(), key=lambda info: info.key != DEFAULT_DATASET)


def get_dataset(key: str) -> DatasetInfo:
    """Look up a dataset; an unknown key raises DatasetError naming the valid ones."""
    try:
        return DATASETS[key]
    except KeyError:
        raise DatasetError(f"unknown dataset {key!r}; valid datasets: {', '.join(DATASETS)}") from None
