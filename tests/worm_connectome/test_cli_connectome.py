"""`wormchip datasets`, `wormchip connectome` and error handling of the CLI."""

import json

import pytest

from wormchip.cli import main
from wormchip.errors import DatasetError


def test_connectome_json(capsys):
    assert main(["connectome", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"dataset", "neurons", "chemical_edges", "chemical_contacts", "gap_edges", "sign_counts"} <= set(
        summary
    )
    assert (summary["dataset"], summary["neurons"], summary["chemical_edges"]) == ("cook2019", 302, 3709)
    assert sum(summary["sign_counts"].values()) == 3709


def test_connectome_text_and_datasets(capsys):
    assert main(["connectome", "--dataset", "varshney2011"]) == 0
    assert "6394 contacts" in capsys.readouterr().out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "10.1371/journal.pcbi.1001066" in out and "witvliet2021" in out


@pytest.mark.parametrize("argv", [["connectome", "--dataset", "nope"], ["frobnicate"], []])
def test_errors_exit_2_with_one_line(capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wormchip: error: ")


def test_bad_dataset_message_lists_valid_ones(capsys):
    main(["connectome", "--dataset", "nope"])
    assert "valid datasets: cook2019, varshney2011" in capsys.readouterr().err


def test_debug_reraises():
    with pytest.raises(DatasetError):
        main(["--debug", "connectome", "--dataset", "nope"])
    with pytest.raises(DatasetError):
        main(["connectome", "--dataset", "nope", "--debug"])
