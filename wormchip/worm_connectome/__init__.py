"""C. elegans connectome data: four published datasets as 302-neuron sparse matrices with signs and metadata.

See docs/connectome.md. ``load()`` gives the Cook et al. 2019 hermaphrodite by default.
"""

from wormchip.worm_connectome.connectome import Connectome, Provenance, load
from wormchip.worm_connectome.datasets import DATASETS, DatasetInfo, list_datasets
from wormchip.worm_connectome.signs import SignReport, read_sign_overrides

__all__ = [
    "DATASETS",
    "Connectome",
    "DatasetInfo",
    "Provenance",
    "SignReport",
    "list_datasets",
    "load",
    "read_sign_overrides",
]
