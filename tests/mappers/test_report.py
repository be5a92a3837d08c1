"""Report pass: resources, traffic and energy estimates against hand computations from the profile."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
import scipy.sparse as sp

from wormchip.mappers.hardware import loihi1
from wormchip.mappers.partition import Partition, core_usage
from wormchip.mappers.place import Placement
from wormchip.mappers.report import plot_core_map, resource_report

matplotlib.use("Agg")

# neurons 0 → 1, 0 → 2, 1 → 2; neuron 0 on core 0 at tile (0, 0); neurons 1, 2 on core 1 at tile (2, 1)
G = sp.csr_matrix((np.ones(3, np.int32), ([1, 2, 2], [0, 0, 1])), shape=(3, 3))
CORES = np.array([0, 1, 1])
PART = Partition(
    CORES,
    2,
    core_usage(G, CORES, 2, loihi1),
    traffic=1.0,
    lower_bound=1,
    method="manual",
    profile_name="loihi1",
)
PLACE = Placement(
    np.array([0, 0]), np.array([[0, 0], [2, 1]]), np.array([0, 0]), np.array([[0, 0]]), (8, 4), "manual"
)


def test_energy_from_raster_equals_hand_computation():
    raster = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    rep = resource_report(G, PART, PLACE, loihi1, spikes=raster, dt=1e-3)
    a = rep.activity
    assert a.spikes.tolist() == [1, 1, 0]
    assert a.synaptic_ops.tolist() == [2, 1, 0]  # neuron 0 has 2 synapses, neuron 1 has 1
    assert a.active_neurons.tolist() == [1, 2, 1]  # t0: 0 spikes; t1: 1 spikes, 1 & 2 receive; t2: 2 receives
    assert a.in_tile_spikes.tolist() == [0, 1, 0]  # 1 → 2 stays on core 1
    assert a.remote_messages.tolist() == [1, 0, 0]  # 0 → core 1 once, though it has 2 targets there
    assert a.hops_ew.tolist() == [2, 0, 0] and a.hops_ns.tolist() == [1, 0, 0]
    hand = (
        23.6 * (3 / 3) + 81 * (4 / 3) + 52 * (5 / 3) + 1.7 * (1 / 3) + 3.0 * (2 / 3) + 4.0 * (1 / 3)
    )  # pJ per step, mean over 3 steps
    assert rep.energy_per_step_pj == pytest.approx(hand)
    assert rep.energy_per_second_j == pytest.approx(hand * 1e-12 / 1e-3)
    assert rep.inter_core_traffic == pytest.approx(1 / 3)


def test_energy_from_rates_is_the_expectation():
    rep = resource_report(G, PART, PLACE, loihi1, spikes=np.array([100.0, 0.0, 0.0]), dt=1e-3)
    a = rep.activity  # p0 = 0.1 per step; neurons 1 and 2 are active when 0 spikes
    assert a.spikes[0] == pytest.approx(0.1) and a.synaptic_ops[0] == pytest.approx(0.2)
    assert a.active_neurons[0] == pytest.approx(0.3)
    assert a.hops_ew[0] == pytest.approx(0.2) and a.hops_ns[0] == pytest.approx(0.1)
    hand = 23.6 * 0.2 + 81 * 0.3 + 52 * 2.7 + 3.0 * 0.2 + 4.0 * 0.1
    assert rep.energy_per_step_pj == pytest.approx(hand)


def test_static_report_dict_and_table():
    rep = resource_report(G, PART, PLACE, loihi1)
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["target"] == "loihi1" and d["cores"] == 2 and d["chips"] == 1
    assert d["neurons"] == 3 and d["synapses"] == 3
    assert d["synaptic_memory_bits"] == 64 + 64  # core 1: axon of 0 (2 syn → 64), axon of 1 (1 → 64)
    assert d["inter_core_traffic"] == 1.0 and d["energy_per_step_pj"] is None
    assert d["energy_is_estimate"] is True and "ESTIMATE" in d["energy_note"]
    assert d["per_core"][1]["input_axons"] == 2 and d["per_core"][0]["output_axons"] == 1
    assert d["hop_weighted_traffic"] == 3.0  # 1 message × (2 + 1) hops
    table = resource_report(G, PART, PLACE, loihi1, spikes=np.ones((2, 3))).to_table()
    assert "ESTIMATE" in table and "memory_bits" in table


def test_plot_core_map_has_axis_labels():
    fig = plot_core_map(PART, PLACE, loihi1, graph=G)
    ax = fig.axes[0]
    assert "east" in ax.get_xlabel() and "north" in ax.get_ylabel()
    assert len(ax.lines) == 1  # one traffic line, core 0 → core 1
