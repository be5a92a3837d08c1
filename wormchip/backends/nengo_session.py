"""Nengo's stepping session: the reference simulator advanced one control period at a time.

The same model as `run_nengo` (one ensemble of `WormchipCells`, Brian2's equations in one operator), with the
injected current a `Node` that returns the session's current array, so `advance` sets the array and calls
`Simulator.run_steps(period)`; spikes reach a sink node that counts them, v is read from the simulator's
`voltage` signal. Nengo reproduces Brian2's step arithmetic, so its closed loop matches Brian2's (tested).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from wormchip import ir
from wormchip.backends.nengo_backend import _spike_times, _versions, check_supported
from wormchip.backends.session import PeriodOutput
from wormchip.result import Result


class NengoSession:
    """Advance an IR network in Nengo period by period (see `Session`)."""

    def __init__(self, network: ir.Network) -> None:
        import nengo

        from wormchip.backends.nengo_cells import NetworkDynamics, WormchipCells

        check_supported(network)
        self.network = network
        self.n_neurons, self.dt = network.size, network.dt
        n = network.size
        self.current = np.zeros(n)
        self.counts = np.zeros(n, dtype=np.int64)
        self.spikes: list[tuple[int, np.ndarray]] = []  # (Brian2 step, cells that spiked)
        self.step = 0
        self.started = time.perf_counter()
        e_l = np.zeros(n)
        for block in network.blocks:
            e_l[block.indices] = block.params["E_L"]
        self.e_l = e_l
        model = nengo.Network(label=network.name, seed=network.seed)
        with model:
            ens = nengo.Ensemble(n, 1, neuron_type=WormchipCells(NetworkDynamics(network)), gain=np.ones(n),
                                 bias=np.zeros(n), label="cells")  # fmt: skip
            node = nengo.Node(lambda t: self.current, size_out=n, label="sensors")
            nengo.Connection(node, ens.neurons, synapse=None)
            nengo.Connection(ens.neurons, nengo.Node(self._sink, size_in=n, label="spikes"), synapse=None)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Non-finite values detected in `max_rates`")
            self.sim = nengo.Simulator(model, dt=network.dt, seed=network.seed, progress_bar=False)
        self.voltage = self.sim.signals[self.sim.model.sig[ens.neurons]["voltage"]]

    def _sink(self, t: float, x: np.ndarray) -> None:
        hit = np.flatnonzero(x)
        if len(hit):
            self.counts[hit] += 1
            self.spikes.append((int(round(t / self.dt)) - 1, hit))

    def advance(self, steps: int, current: np.ndarray) -> PeriodOutput:
        """Run `steps` steps with `current` (A per neuron) injected."""
        self.current[:] = current
        self.counts[:] = 0
        self.sim.run_steps(steps)
        self.step += steps
        return PeriodOutput(counts=self.counts.copy(), v_rel=np.asarray(self.voltage) - self.e_l)

    def close(self) -> Result:
        """Close the simulator; the spikes of every step run."""
        self.sim.close()
        result = Result(
            neuron_names=list(self.network.names),
            duration=self.step * self.dt,
            dt=self.dt,
            spike_times=_spike_times(self.network, self.spikes),
        )
        result.metadata.update(
            {
                **self.network.metadata,
                "backend": "nengo",
                "seed": self.network.seed,
                "wall_s": time.perf_counter() - self.started,
                "versions": _versions(),
            }  # fmt: skip
        )
        return result
