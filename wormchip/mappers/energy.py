"""Energy per inference of a closed-loop controller, on the chip and as dense float arithmetic on a CPU.

An inference is one control period of a world binding: `steps_per_inference` time steps of the network. The
chip side reuses the resource report's per-step counts measured in a run (spikes × fan-out = synaptic ops;
every compartment updated every step) and its per-event energies (Loihi 1, Davies et al. 2018, Table 1),
and adds the graded messages that gap-junction and sigmoid blocks send every step, whether or not a neuron
spikes. The CPU side counts the float32 operations of the same network run as dense arithmetic, by hand per
model (`dense_step_cost`): one multiply-accumulate per entry of the smallest dense block holding each
projection, plus each neuron's and synapse state's update with exact (exponential) integration; each
operation is priced at Horowitz's 45 nm figures (ISSCC 2014), each weight read from the smallest memory
level holding the working set. Left out on both sides: static/leakage power, host I/O, clocks and control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wormchip import ir
from wormchip.mappers.hardware import HardwareProfile
from wormchip.mappers.report import ResourceReport

HOROWITZ_2014 = (
    "Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, 45 nm, 0.9 V; "
    "32-bit SRAM/DRAM per-word figures as tabulated by Han et al., 'EIE', ISCA 2016"
)
DAVIES_2018 = "Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', IEEE Micro 38(1) 2018, Table 1"

#: exp(x) as range reduction plus a degree-5 polynomial (Horner): (multiplies, adds); a division counts as one
#: multiply. Neither has a figure in Horowitz's table, so both lean low (in the CPU's favour).
EXP_OPS = (6, 6)

#: Per neuron and step, by neuron model: (multiplies, adds, 32-bit state reads + writes). Exact integration
#: with the synaptic input held over the step: lif: v ← a·v + b·I + c, spike test (2, 3, 2);
#: adaptive_lif: + w ← a_w·w and −w (3, 4, 4); conductance_lif (exponential Euler, as Brian2):
#: g = g_L + g_e + g_i, v∞ = (c + g_e·E_e + g_i·E_i + I)/g, a = exp(−g·dt/C), v ← v∞ + a·(v − v∞), spike test.
NEURON_OPS: dict[str, tuple[int, int, int]] = {
    "lif": (2, 3, 2),
    "adaptive_lif": (3, 4, 4),
    "conductance_lif": (5 + EXP_OPS[0], 8 + EXP_OPS[1], 2),
}


@dataclass(frozen=True)
class CpuEnergy:
    """Energy per float32 operation and per 32-bit memory read on a CPU (pJ), with the source."""

    name: str = "CPU, float32, 45 nm (Horowitz 2014)"
    add_pj: float = 0.9
    mul_pj: float = 3.7
    #: (largest working set in bytes, pJ per 32-bit read): 8 KB, 32 KB, 1 MB caches (10, 20, 100 pJ per 64 bit)
    read_pj: tuple[tuple[int, float], ...] = ((8 * 1024, 5.0), (32 * 1024, 10.0), (1024 * 1024, 50.0))
    dram_read_pj: float = 640.0
    source: str = HOROWITZ_2014

    def read_energy_pj(self, working_set_bytes: int) -> float:
        """pJ per 32-bit read from the smallest memory level that holds `working_set_bytes`."""
        for size, pj in self.read_pj:
            if working_set_bytes <= size:
                return pj
        return self.dram_read_pj


@dataclass(frozen=True)
class DenseCost:
    """Float32 work of one time step of a network run as dense arithmetic (hand counts, `dense_step_cost`)."""

    macs: int  # Σ over dense blocks of rows × columns (one multiply, one add, one weight read each)
    muls: int  # neuron, synapse-state and read-out multiplies outside the matrix–vector products
    adds: int
    state_accesses: int  # 32-bit state reads + writes outside the matrix–vector products
    weight_words: int  # 32-bit weights held (= macs)

    @property
    def flops(self) -> int:
        return 2 * self.macs + self.muls + self.adds

    def working_set_bytes(self) -> int:
        """Weights plus state (each state word is read once and written once per step)."""
        return 4 * (self.weight_words + self.state_accesses // 2)

    def update_pj(self, cpu: CpuEnergy) -> float:
        """pJ per step of everything but the synaptic products (neuron and synapse-state updates)."""
        read = cpu.read_energy_pj(self.working_set_bytes())
        return self.muls * cpu.mul_pj + self.adds * cpu.add_pj + self.state_accesses * read

    def energy_pj(self, cpu: CpuEnergy) -> float:
        """pJ per step, dense: every MAC is a multiply, an add and a weight read."""
        read = cpu.read_energy_pj(self.working_set_bytes())
        return self.macs * (cpu.mul_pj + cpu.add_pj + read) + self.update_pj(cpu)

    def event_energy_pj(self, spike_ops: float, graded_ops: float, cpu: CpuEnergy) -> float:
        """pJ per step, event-driven instead: a spike's synaptic op is an add and two reads (weight, target
        index); a graded op (gap, sigmoid) a multiply, an add and two reads (weight, presynaptic value)."""
        read = cpu.read_energy_pj(self.working_set_bytes())
        spikes = spike_ops * (cpu.add_pj + 2 * read)
        return spikes + graded_ops * (cpu.mul_pj + cpu.add_pj + 2 * read) + self.update_pj(cpu)


def dense_step_cost(network: ir.Network) -> DenseCost:
    """Count the float32 operations of one step of `network` as dense arithmetic.

    Each projection is a dense block of its distinct targets × distinct sources (conductance synapses: one
    block per sign, into g_e and g_i; graded sigmoid: two, for Σw·σ and Σw·E·σ; gap junctions: the square
    block of the neurons they join, G·v). Per target of a spiking projection: decay and input (1 mul, 1 add,
    2 state accesses); gap: −g·v into v (1 mul, 2 adds); graded: a sigmoid per source (exp, a division, 2
    adds) and E·g − g·v per target (1 mul, 2 adds). Neurons: `NEURON_OPS`. Plasticity and delays: not counted.
    """
    macs = muls = adds = state = 0
    for block in network.blocks:
        m, a, s = NEURON_OPS[block.model]
        k = len(block.indices)
        muls, adds, state = muls + m * k, adds + a * k, state + s * k
    for p in network.projections:
        pre, post, w = np.asarray(p.pre), np.asarray(p.post), np.asarray(p.weight)
        if p.synapse == "gap_junction":
            k = np.unique(np.concatenate([pre, post])).size
            macs, muls, adds = macs + k * k, muls + k, adds + 2 * k
        elif p.synapse == "graded_sigmoid":
            n_pre, n_post = np.unique(pre).size, np.unique(post).size
            macs += 2 * n_pre * n_post
            muls += n_pre * (EXP_OPS[0] + 2) + n_post
            adds += n_pre * (EXP_OPS[1] + 2) + 2 * n_post
        else:
            groups = (w > 0, w < 0) if p.synapse == "exp_conductance" else (np.ones(w.shape, bool),)
            for g in groups:
                n_pre, n_post = np.unique(pre[g]).size, np.unique(post[g]).size
                macs += n_pre * n_post
                muls, adds, state = muls + n_post, adds + n_post, state + 2 * n_post
    return DenseCost(macs=macs, muls=muls, adds=adds, state_accesses=state, weight_words=macs)


@dataclass(frozen=True)
class InferenceEnergy:
    """Per-step counts and energies (pJ) on the chip and on a CPU; per inference and per second derived."""

    steps_per_inference: int
    dt: float
    synaptic_ops: float  # spike-driven, mean per step (the report's count)
    graded_ops: float  # gap-junction and sigmoid messages, every step
    neuron_updates: float
    chip_pj: float  # the report's per-step energy + graded_pj
    chip_graded_pj: float  # graded messages, not in the report's per-step figure
    chip_name: str
    cpu_macs: float
    cpu_flops: float
    cpu_dense_pj: float
    cpu_event_pj: float
    cpu_name: str
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def inferences_per_second(self) -> float:
        return 1.0 / (self.steps_per_inference * self.dt)

    def per_step(self) -> dict[str, float]:
        return {
            "synaptic_ops": self.synaptic_ops + self.graded_ops,
            "neuron_updates": self.neuron_updates,
            "chip_energy_j": self.chip_pj * 1e-12,
            "chip_graded_energy_j": self.chip_graded_pj * 1e-12,
            "cpu_macs": self.cpu_macs,
            "cpu_flops": self.cpu_flops,
            "cpu_dense_energy_j": self.cpu_dense_pj * 1e-12,
            "cpu_event_energy_j": self.cpu_event_pj * 1e-12,
        }

    def per_inference(self) -> dict[str, float]:
        return {k: v * self.steps_per_inference for k, v in self.per_step().items()}

    def per_second(self) -> dict[str, float]:
        return {k: v / self.dt for k, v in self.per_step().items()}

    @property
    def ratio_dense(self) -> float:
        """CPU dense energy / chip energy (same network, same steps)."""
        return self.cpu_dense_pj / self.chip_pj

    @property
    def ratio_event(self) -> float:
        """CPU event-driven energy / chip energy."""
        return self.cpu_event_pj / self.chip_pj

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps_per_inference": self.steps_per_inference,
            "dt": self.dt,
            "inferences_per_second": self.inferences_per_second,
            "per_inference": self.per_inference(),
            "per_second": self.per_second(),
            "spike_driven_synaptic_ops_per_step": self.synaptic_ops,
            "graded_synaptic_ops_per_step": self.graded_ops,
            "ratio_cpu_dense_to_chip": self.ratio_dense,
            "ratio_cpu_event_to_chip": self.ratio_event,
            "energy_is_estimate": True,
            "chip": self.chip_name,
            "cpu": self.cpu_name,
            "sources": dict(self.sources),
        }

    def summary_line(self) -> str:
        """One line: energy per inference on the chip and on the CPU, and their ratio."""
        i = self.per_inference()
        return (
            f"{_joules(i['chip_energy_j'])} per inference ({self.steps_per_inference * self.dt * 1e3:g} ms) on "
            f"{self.chip_name} vs {_joules(i['cpu_dense_energy_j'])} as dense float on a CPU "
            f"({self.ratio_dense:.2g}×, estimate)"
        )

    def to_table(self) -> str:
        """Plain-text table: per inference and per second, chip vs CPU."""
        i, s = self.per_inference(), self.per_second()
        rows = [
            ("synaptic ops (chip, spikes × fan-out + graded)", "synaptic_ops", "{:,.0f}"),
            ("neuron updates", "neuron_updates", "{:,.0f}"),
            ("energy on the chip (J)", "chip_energy_j", "{:.3e}"),
            ("  of which graded messages (J)", "chip_graded_energy_j", "{:.3e}"),
            ("CPU dense MACs", "cpu_macs", "{:,.0f}"),
            ("CPU dense energy (J)", "cpu_dense_energy_j", "{:.3e}"),
            ("CPU event-driven energy (J)", "cpu_event_energy_j", "{:.3e}"),
        ]
        head = f"{'ESTIMATE':48} {'per inference':>14} {'per second':>14}"
        lines = [
            f"Energy per inference ({self.steps_per_inference} steps of {self.dt * 1e3:g} ms, "
            f"{self.inferences_per_second:g} inferences/s): {self.chip_name} vs {self.cpu_name}",
            head,
        ]
        lines += [f"{label:48} {fmt.format(i[k]):>14} {fmt.format(s[k]):>14}" for label, k, fmt in rows]
        lines.append(f"{'CPU dense / chip':48} {self.ratio_dense:>14.3g}")
        lines.append(f"{'CPU event-driven / chip':48} {self.ratio_event:>14.3g}")
        lines.append(
            "chip = the report's per-step energy + graded (gap, sigmoid) messages sent every step, which the "
            "report's spike-driven count leaves out"
        )
        return "\n".join(lines)


def _joules(x: float) -> str:
    """3 significant digits in nJ, µJ, mJ or J."""
    for unit, scale in (("nJ", 1e-9), ("µJ", 1e-6), ("mJ", 1e-3)):
        if abs(x) < 1e3 * scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} J"


def inference_energy(
    report: ResourceReport,
    steps_per_inference: int,
    dense: DenseCost,
    profile: HardwareProfile,
    graded_synapses: int = 0,
    cpu: CpuEnergy | None = None,
) -> InferenceEnergy:
    """Per-inference and per-second ops and ESTIMATED energy: the chip (`report` with measured activity, plus
    `graded_synapses` ops every step at the profile's synaptic-op energy) vs the same network on a CPU."""
    if report.activity is None:
        raise ValueError("the report has no activity: pass a spike raster or rates to resource_report")
    if steps_per_inference < 1:
        raise ValueError(f"steps_per_inference = {steps_per_inference} must be ≥ 1")
    cpu = cpu or CpuEnergy()
    syn = float(np.mean(report.activity.synaptic_ops))
    chip = float(report.energy_per_step_pj) + graded_synapses * profile.energy_synaptic_op_pj
    return InferenceEnergy(
        steps_per_inference=int(steps_per_inference),
        dt=report.dt,
        synaptic_ops=syn,
        graded_ops=float(graded_synapses),
        neuron_updates=float(report.n_neurons),
        chip_pj=chip,
        chip_graded_pj=graded_synapses * profile.energy_synaptic_op_pj,
        chip_name=profile.name,
        cpu_macs=float(dense.macs),
        cpu_flops=float(dense.flops),
        cpu_dense_pj=dense.energy_pj(cpu),
        cpu_event_pj=dense.event_energy_pj(syn, graded_synapses, cpu),
        cpu_name=cpu.name,
        sources={"chip": DAVIES_2018 + " (pre-silicon, 0.75 V)", "cpu": cpu.source},
    )
