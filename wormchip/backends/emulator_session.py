"""The emulator's stepping session: the numba step loop advanced one control period at a time.

The kernel keeps its state in `KernelState` arrays between calls, so a run in chunks computes the same
integers as one long run (tested); each period's injected current becomes the bias register (`BiasMap`),
exactly as `LavaSession` sets Lava's `bias_mant`/`bias_exp` Vars, so both stay bit-identical.

Plastic blocks (stdp, reward_stdp) learn in the kernel; `modulate(amount)` adds a world's reward to the neuromodulator D of
every reward_stdp block at the first step of the next period (D += amount, as a reward pulse of the spec at
that step), like `Brian2Session.modulate` (which raises D one step earlier).
"""

from __future__ import annotations

import time

import numpy as np

from wormchip.backends.emulator import (
    KernelState,
    _kernel,
    _Prepared,
    numba,
    plastic_weight_traces,
    result_from_raster,
)
from wormchip.backends.session import BiasMap, PeriodOutput
from wormchip.errors import UnsupportedOnBackend
from wormchip.mappers.fixed_point import FixedPointNetwork
from wormchip.result import Result

NEVER = np.iinfo(np.int64).max  # a bias "change step" no run reaches


class EmulatorSession:
    """Advance a `FixedPointNetwork` period by period for up to `max_steps` steps (see `Session`)."""

    def __init__(self, net: FixedPointNetwork, max_steps: int, bias_map: BiasMap) -> None:
        if numba is None:
            raise UnsupportedOnBackend("emulator closed loop", ["needs numba, which is not installed"])
        self.net, self.bias_map = net, bias_map
        self.n_neurons, self.dt = net.n_neurons, net.dt
        self.max_steps = max_steps
        self.prep = _Prepared(net, max_steps, whole_drive=False)  # input drive computed per period
        self.args = list(self.prep.kernel_args())
        self.state = KernelState(self.prep)
        self.increments = self.prep.increments()  # reward blocks' D increments per step (modulate adds)
        self.step = 0
        self.rasters: list[np.ndarray] = []
        self.started = time.perf_counter()
        self._no_record = np.zeros((0, self.n_neurons), dtype=np.int32)

    def modulate(self, amount: float) -> None:
        """Add `amount` to D of every reward_stdp block at the next step (refused without one)."""
        if not self.net.reward_plastic:
            raise UnsupportedOnBackend("emulator closed loop reward", ["a reward needs a reward_stdp rule"])
        if self.step < self.max_steps:
            for b, block in enumerate(self.net.reward_plastic):
                self.increments[b, self.step] += block.reward_increment(amount)

    def advance(self, steps: int, current: np.ndarray) -> PeriodOutput:
        """Run `steps` steps with `current` (A per neuron) as the bias."""
        if self.step + steps > self.max_steps:
            raise ValueError(
                f"session opened for {self.max_steps} steps; cannot advance to {self.step + steps}"
            )
        mant, exp = self.bias_map(current)
        args = self.args
        args[1] = steps
        args[5] = (mant.astype(np.int64) << exp)[None, :]
        args[6] = np.array([0, NEVER], dtype=np.int64)
        args[7] = self.prep.drive(self.step, self.step + steps)
        self.state.chunk_args(args, self.step, self.step + steps, self.increments)
        raster = np.zeros((steps, self.n_neurons), dtype=bool)
        rec = self._no_record
        _kernel()(*args, raster, rec, rec, rec, self.step, *self.state.arrays())
        self.step += steps
        self.rasters.append(raster)
        v_rel = self.state.v.astype(float) * self.bias_map.v_scale
        return PeriodOutput(counts=raster.sum(axis=0), v_rel=v_rel)

    def close(self) -> Result:
        """The spikes of every step run so far."""
        raster = np.concatenate(self.rasters) if self.rasters else np.zeros((0, self.n_neurons), dtype=bool)
        result = result_from_raster(
            self.net,
            raster,
            {},
            {
                "backend": "emulator",
                "engine": "numba",
                "steps": self.step,
                "wall_time_s": time.perf_counter() - self.started,
            },
        )
        if self.net.plastic or self.net.reward_plastic:  # initial and final weights, as run_lava reports
            initial = [b.weights for b in (*self.net.plastic, *self.net.reward_plastic)]
            result.weights = plastic_weight_traces(
                self.net, [(0, initial), (self.step, self.state.weights())]
            )
        return result
