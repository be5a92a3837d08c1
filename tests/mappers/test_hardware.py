"""Hardware profiles: built-in figures with sources, the synaptic-memory estimate, YAML loading and errors."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.errors import ProfileError, WormchipError
from wormchip.mappers.hardware import NUMERIC_FIELDS, load_profile, loihi1, loihi2
from wormchip.mappers.partition import synapse_memory_bits


def test_loihi1_figures_and_sources():
    assert (loihi1.neurons_per_core, loihi1.synaptic_memory_bits_per_core) == (1024, 1_048_576)
    assert (loihi1.input_axons_per_core, loihi1.output_axons_per_core, loihi1.cores_per_chip) == (
        4096,
        4096,
        128,
    )
    assert (
        loihi1.energy_synaptic_op_pj,
        loihi1.energy_neuron_active_pj,
        loihi1.energy_neuron_inactive_pj,
    ) == (
        23.6,
        81.0,
        52.0,
    )
    assert (loihi1.energy_spike_in_tile_pj, loihi1.energy_hop_ew_pj, loihi1.energy_hop_ns_pj) == (
        1.7,
        3.0,
        4.0,
    )
    for profile in (loihi1, loihi2):
        assert all(profile.source(f) for f in NUMERIC_FIELDS)
    assert "Davies et al. 2018" in loihi1.source("energy_synaptic_op_pj")
    assert "no public Loihi 2 figure" in loihi2.source("energy_synaptic_op_pj")
    assert loihi2.neurons_per_core == 8192 and loihi2.cores_per_chip == 120


def test_memory_estimate_matches_hand_computation():
    # Loihi 1: 8 weight + 10 index bits per synapse, 10 header bits per group of ≤ 64, 64-bit words.
    # 1 syn: 28 → 64; 3: 64 → 64; 64: 1162 → 19 words = 1216; 65: 1216 + 64; 100: 1216 + (648+10 → 704)
    got = synapse_memory_bits(np.array([0, 1, 3, 4, 64, 65, 100]), loihi1)
    assert got.tolist() == [0, 64, 64, 128, 1216, 1280, 1920]


def test_memory_estimate_equals_nengo_loihi_loop():
    def nengo_loihi_bits(n: int, bits_per_weight: int = 18) -> int:  # SynapseConfig.bits_per_axon
        bits = 0
        for i in range(0, n, 64):
            m = min(n - i, 64)
            bits += -64 * (-(m * bits_per_weight + 4 + 6) // 64)
        return bits

    n = np.arange(0, 300)
    assert synapse_memory_bits(n, loihi1).tolist() == [nengo_loihi_bits(int(k)) for k in n]


def test_yaml_profile_with_base(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text("base: loihi1\nname: small\nneurons_per_core: 256\nsources:\n  chip_mesh: my chip\n")
    p = load_profile(path)
    assert p.neurons_per_core == 256 and p.synaptic_memory_bits_per_core == 1_048_576
    assert p.source("neurons_per_core") == f"user profile {path}"
    assert p.source("chip_mesh") == "my chip"
    assert load_profile("loihi2") is loihi2


def test_yaml_typo_names_file_field_and_suggestion(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("base: loihi1\nneuron_per_core: 256\n")
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    msg = str(exc.value)
    assert (
        str(path) in msg
        and "'neuron_per_core'" in msg
        and "256" in msg
        and "did you mean 'neurons_per_core'" in msg
    )
    assert isinstance(exc.value, WormchipError)


def test_yaml_bad_value_names_field_and_value(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: loihi1\nneurons_per_core: -3\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml: field 'neurons_per_core' = -3: .*≥ 1"):
        load_profile(path)
    path.write_text("base: loihi1\ncores_per_chip: 500\n")
    with pytest.raises(ProfileError, match="cores_per_chip = 500 exceeds chip_mesh"):
        load_profile(path)


def test_yaml_without_base_needs_every_field_and_unknown_name(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("name: x\nneurons_per_core: 8\n")
    with pytest.raises(ProfileError, match="partial.yaml: field 'synaptic_memory_bits_per_core'"):
        load_profile(path)
    with pytest.raises(ProfileError, match="did you mean 'loihi[12]'"):
        load_profile("loihi3")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("weight_bits: 0", "field 'weight_bits' = 0: must be from 1 to 8"),
        ("weight_bits: 9", "field 'weight_bits' = 9: must be from 1 to 8"),
        ("index_bits: 2", "field 'index_bits' = 2: addresses 4 neurons, but neurons_per_core = 8,192"),
        ("delay_bits: 7", "field 'delay_bits' = 7: must be from 0 to 6"),
    ],
)
def test_profile_bit_widths_are_range_checked(tmp_path, line: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"base: loihi2\n{line}\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert message in str(info.value) and "\n" not in str(info.value)
