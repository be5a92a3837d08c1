"""The backend-neutral network description (IR): small frozen dataclasses of SI floats and index arrays.

Produced from a `CircuitSpec` by `wormchip.circuits.build`; consumed by every backend and compiler pass.
The IR knows no backend. Neurons are one flat, named list; each `NeuronBlock` gives a model and per-neuron
parameters to a set of them, so a backend can build one group per model (fewer objects = faster runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class NeuronBlock:
    """Neurons `indices` (into `Network.names`) share `model`; `params[p][k]` is neuron k's value (SI)."""

    model: str
    indices: np.ndarray
    params: dict[str, np.ndarray]


@dataclass(frozen=True)
class PlasticityRule:
    """A plasticity rule attached to a projection; `params` in SI, `modulators` as neuron indices."""

    name: str
    rule: str
    params: dict[str, float]
    modulators: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reward_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reward_amounts: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass(frozen=True)
class Projection:
    """Synapses of one model: `pre[k] → post[k]` with signed `weight[k]` (A for currents, S for conductances).

    Gap junctions are stored once per pair; backends add both directions.
    """

    name: str
    synapse: str
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    params: dict[str, float]
    plasticity: tuple[PlasticityRule, ...] = ()

    @property
    def size(self) -> int:
        return int(len(self.pre))


@dataclass(frozen=True)
class SpikeInput:
    """External spike trains (e.g. Poisson input): source k spikes at `times[k]` onto neuron `target[k]`."""

    name: str
    synapse: str
    target: np.ndarray
    weight: np.ndarray
    spike_times: tuple[np.ndarray, ...]
    params: dict[str, float]


@dataclass(frozen=True)
class CurrentInput:
    """Injected current: `values[t, k]` amperes into neuron `target[k]` during [t·dt, (t+1)·dt)."""

    dt: float
    target: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class ProbeSpec:
    """Record `variables` of neurons `indices` every `dt` seconds."""

    variables: tuple[str, ...]
    indices: np.ndarray
    dt: float


@dataclass(frozen=True)
class SensorBinding:
    """Observation `observation` (name or index in the world) → `gain`·clip(rectified x) amperes into
    `targets`; see `schema.Sensor`."""

    observation: str | int
    targets: np.ndarray
    encoding: str
    gain: float
    offset: float
    clip: tuple[float, float]


@dataclass(frozen=True)
class MotorBinding:
    """Neurons `plus` (minus `minus`) → action component `action`; see `schema.Motor`. Times in s."""

    action: str | int
    readout: str
    plus: np.ndarray
    minus: np.ndarray
    window: float
    gain: float
    offset: float
    filter: float | None


@dataclass(frozen=True)
class WorldBinding:
    """The circuit's sensors and motors in world `world`; `spec_index` locates it in the spec (errors)."""

    world: str
    params: dict
    control_period: float
    duration: float
    sensors: tuple[SensorBinding, ...]
    motors: tuple[MotorBinding, ...]
    spec_index: int = 0


@dataclass(frozen=True)
class Network:
    """A complete, backend-neutral network ready to run."""

    name: str
    names: tuple[str, ...]
    blocks: tuple[NeuronBlock, ...]
    projections: tuple[Projection, ...]
    current: CurrentInput | None
    spike_inputs: tuple[SpikeInput, ...]
    probes: tuple[ProbeSpec, ...]
    dt: float
    duration: float
    seed: int
    target: str = "auto"
    metadata: dict = field(default_factory=dict)
    bindings: tuple[WorldBinding, ...] = ()

    @property
    def size(self) -> int:
        return len(self.names)

    def index(self) -> dict[str, int]:
        """Neuron name → index."""
        return {n: i for i, n in enumerate(self.names)}

    def model_of(self) -> np.ndarray:
        """Model name per neuron (object array)."""
        out = np.empty(self.size, dtype=object)
        for block in self.blocks:
            out[block.indices] = block.model
        return out
