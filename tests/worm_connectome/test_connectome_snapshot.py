"""The shipped snapshot equals cect's data (skipped where cect is not installed)."""

import contextlib
import importlib
import io

import numpy as np
import pytest

from wormchip.worm_connectome import DATASETS, load
from wormchip.worm_connectome.snapshot import DATA_DIR

cells = pytest.importorskip("cect.Cells")


@pytest.mark.parametrize("key", sorted(DATASETS))
def test_snapshot_equals_cect(key):
    reader = importlib.import_module(f"cect.readers.{DATASETS[key].cect_reader}").get_instance(
        from_cache=True
    )
    herm = set(cells.PREFERRED_HERM_NEURON_NAMES)
    names = sorted(n for n in reader.nodes if n in herm)
    rows = [reader.nodes.index(n) for n in names]
    connectome = load(key)
    assert list(connectome.neurons) == names
    np.testing.assert_array_equal(
        connectome.chemical.toarray(), reader.connections["Generic_CS"][np.ix_(rows, rows)]
    )
    np.testing.assert_array_equal(
        connectome.gap.toarray(), reader.connections["Generic_GJ"][np.ix_(rows, rows)]
    )


def test_cook2019_figures_from_cect():
    """Pair count and contact sum among the 302 neurons, recomputed straight from cect's full matrix."""
    from cect.readers.Cook2019HermReader import get_instance

    reader = get_instance(from_cache=True)
    herm = [i for i, n in enumerate(reader.nodes) if n in set(cells.PREFERRED_HERM_NEURON_NAMES)]
    chem = reader.connections["Generic_CS"][np.ix_(herm, herm)]
    assert len(herm) == 302
    assert (np.count_nonzero(chem), chem.sum()) == (3709, 20965)
    assert reader.connections["Generic_CS"].sum() > chem.sum()  # muscles and other cells were dropped


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")  # openpyxl noise from cect
def test_neurotransmitters_equal_wang2024_via_cect():
    pytest.importorskip("openpyxl")
    from cect.readers.Wang2024Reader import Wang2024Reader

    with contextlib.redirect_stdout(io.StringIO()):
        reader = Wang2024Reader("Hermaphrodite")
    connectome = load()
    for name in connectome.neurons:
        expected = tuple(nt for nt in reader.all_neurotransmitters[name] if nt is not None)
        assert connectome.neurotransmitters(name) == expected, name


def test_varshney_extra_synapse_is_the_lowercase_entry():
    """The raw sheet: S+Sp sum 6,394 (paper: 6,393); AVFR->AVFL's receive mirror is the only lowercase row."""
    xlrd = pytest.importorskip("xlrd")
    from cect.readers.VarshneyDataReader import filename

    sheet = xlrd.open_workbook(filename).sheet_by_index(0)
    rows = [sheet.row_values(r) for r in range(1, sheet.nrows)]
    assert sum(int(r[3]) for r in rows if r[2] in ("S", "Sp")) == 6394
    assert [r for r in rows if r[0] != r[0].upper()] == [["avfl", "avfr", "Rp", 1.0]]


def test_snapshot_is_small():
    assert sum(p.stat().st_size for p in DATA_DIR.iterdir()) < 200_000
