"""Energy per inference (issue 14 §4): chip counts and CPU dense counts against hand counts on 3 neurons."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from wormchip import ir
from wormchip.mappers.energy import CpuEnergy, DenseCost, dense_step_cost, inference_energy
from wormchip.mappers.hardware import loihi1
from wormchip.mappers.partition import Partition, core_usage
from wormchip.mappers.place import Placement
from wormchip.mappers.report import resource_report

# neurons 0 → 1, 0 → 2, 1 → 2, all on one core at tile (0, 0)
G = sp.csr_matrix((np.ones(3, np.int32), ([1, 2, 2], [0, 0, 1])), shape=(3, 3))
CORES = np.zeros(3, dtype=np.int64)
PART = Partition(
    CORES,
    1,
    core_usage(G, CORES, 1, loihi1),
    traffic=0.0,
    lower_bound=1,
    method="manual",
    profile_name="loihi1",
)
PLACE = Placement(np.array([0]), np.array([[0, 0]]), np.array([0]), np.array([[0, 0]]), (8, 4), "manual")
# neuron 0 spikes at steps 0 and 2, neuron 1 at step 1
RASTER = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=bool)


def _network(projections: tuple[ir.Projection, ...], model: str = "lif") -> ir.Network:
    block = ir.NeuronBlock(model, np.arange(3), {})
    return ir.Network("tiny", ("a", "b", "c"), (block,), projections, None, (), (), 1e-4, 0.1, 0)


def _projection(synapse: str, pre: list[int], post: list[int], weight: list[float]) -> ir.Projection:
    return ir.Projection(synapse, synapse, np.array(pre), np.array(post), np.array(weight), {})


CHEMICAL = _projection("exp_current", [0, 0, 1], [1, 2, 2], [1e-9, 1e-9, -1e-9])


def test_chip_counts_and_energy_equal_hand_count():
    rep = resource_report(G, PART, PLACE, loihi1, spikes=RASTER, dt=1e-4)
    dense = dense_step_cost(_network((CHEMICAL,)))
    e = inference_energy(rep, steps_per_inference=2, dense=dense, profile=loihi1, graded_synapses=2)
    # synaptic ops per step: 2 (neuron 0's fan-out), 1, 2, 0 → mean 1.25; graded: 2 every step
    assert e.synaptic_ops == pytest.approx(1.25)
    per_inf, per_s = e.per_inference(), e.per_second()
    assert per_inf["synaptic_ops"] == pytest.approx(2 * (1.25 + 2))
    assert per_inf["neuron_updates"] == 6  # 3 neurons × 2 steps
    assert per_s["neuron_updates"] == pytest.approx(30_000)  # 3 × 10,000 steps per second
    # active (spikes or received the step before): {0}, {1, 2}, {0, 2}, {1, 2} → 1.75 per step
    step_pj = 1.25 * 23.6 + 1.75 * 81 + 1.25 * 52 + 0.75 * 1.7 + 2 * 23.6
    assert e.chip_pj == pytest.approx(step_pj)
    assert per_inf["chip_energy_j"] == pytest.approx(2 * step_pj * 1e-12)
    assert e.inferences_per_second == pytest.approx(5_000)


def test_dense_cost_equals_hand_count():
    d = dense_step_cost(_network((CHEMICAL,)))
    # block 2 sources × 2 targets = 4 MACs; targets: 1 mul, 1 add, 2 state accesses each; lif: (2, 3, 2) × 3
    assert d == DenseCost(macs=4, muls=2 + 6, adds=2 + 9, state_accesses=4 + 6, weight_words=4)
    assert d.flops == 2 * 4 + 8 + 11
    cpu = CpuEnergy()
    assert d.working_set_bytes() == 4 * (4 + 5)  # fits 8 KB: 5 pJ per read
    assert d.energy_pj(cpu) == pytest.approx(4 * (3.7 + 0.9 + 5) + 8 * 3.7 + 11 * 0.9 + 10 * 5)
    assert d.event_energy_pj(1.25, 2.0, cpu) == pytest.approx(
        1.25 * (0.9 + 10) + 2 * (3.7 + 0.9 + 10) + 8 * 3.7 + 11 * 0.9 + 10 * 5
    )


def test_dense_cost_conductance_signs_and_gap_junctions():
    cond = _projection("exp_conductance", [0, 0, 1], [1, 2, 2], [1e-9, 1e-9, -1e-9])
    gap = _projection("gap_junction", [0], [2], [1e-10])
    d = dense_step_cost(_network((cond, gap), model="conductance_lif"))
    # excitatory block 1 × 2, inhibitory 1 × 1, gap 2 × 2 (neurons 0 and 2, both directions)
    assert d.macs == 2 + 1 + 4
    n_mul, n_add, n_state = (11, 14, 2)
    assert d.muls == 3 * n_mul + (2 + 1) + 2
    assert d.adds == 3 * n_add + (2 + 1) + 2 * 2
    assert d.state_accesses == 3 * n_state + 2 * (2 + 1)


def test_cpu_read_energy_by_working_set():
    cpu = CpuEnergy()
    assert [cpu.read_energy_pj(b) for b in (100, 20_000, 500_000, 2**21)] == [5.0, 10.0, 50.0, 640.0]


def test_inference_energy_needs_activity():
    rep = resource_report(G, PART, PLACE, loihi1, dt=1e-4)
    with pytest.raises(ValueError, match="no activity"):
        inference_energy(rep, 2, dense_step_cost(_network((CHEMICAL,))), loihi1)


def test_closed_loop_tap_withdrawal_in_cartpole():
    from wormchip.closed_loop.episode import run_episode
    from wormchip.pipeline import closed_loop_energy

    episode = run_episode("tap_withdrawal", "gym:CartPole-v1", on="emulator", seed=0, duration="1 s")
    compiled, e = closed_loop_energy("tap_withdrawal", episode.result, episode.control_period)
    assert e.steps_per_inference == 200  # 20 ms control period at dt 0.1 ms
    assert e.per_inference()["neuron_updates"] == 11 * 200
    assert e.graded_ops > 0  # gap junctions and the linearised conductances send every step
    assert e.chip_pj == pytest.approx(compiled.report.energy_per_step_pj + e.graded_ops * 23.6)
    assert e.ratio_dense == pytest.approx(e.cpu_dense_pj / e.chip_pj)
    assert "per inference" in e.to_table() and "J per inference (20 ms)" in e.summary_line()


def test_compile_cli_per_inference_json(capsys):
    import json

    from wormchip.cli import main

    args = ["compile", "tap_withdrawal", "--per-inference", "gym:CartPole-v1", "--duration", "1 s", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)["per_inference"]
    assert out["world"] == "gym:CartPole-v1" and out["steps_per_inference"] == 200
    assert out["per_inference"]["neuron_updates"] == 2200 and out["energy_is_estimate"] is True
