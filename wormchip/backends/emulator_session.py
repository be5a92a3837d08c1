"""The emulator's stepping session: the numba step loop advanced one control period at a time.

The kernel keeps its state in `KernelState` arrays between calls, so a run in chunks computes the same
integers as one long run (tested); each period's injected current becomes the bias register (`BiasMap`),
exactly as `LavaSession` sets Lava's `bias_mant`/`bias_exp` Vars, so both stay bit-identical.

Networks with reward_stdp blocks run on the NumPy loop instead (`numpy_steps`, a generator
advanced step by step; the numba kernel has no reward blocks). `modulate(amount)` adds a world's reward to
the neuromodulator D of every reward_stdp block at the first step of the next period (D += amount, as a
reward pulse of the spec at that step), like `Brian2Session.modulate` (which raises D one step earlier).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from wormchip.backends.emulator import (
    KernelState,
    Learners,
    _kernel,
    _Prepared,
    numba,
    numpy_steps,
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
        if net.plastic:
            raise UnsupportedOnBackend("emulator closed loop", ["plastic (stdp) projections"])
        self.learning = bool(net.reward_plastic)
        if numba is None and not self.learning:
            raise UnsupportedOnBackend("emulator closed loop", ["needs numba, which is not installed"])
        self.net, self.bias_map = net, bias_map
        self.n_neurons, self.dt = net.n_neurons, net.dt
        self.max_steps = max_steps
        self.step = 0
        self.rasters: list[np.ndarray] = []
        self.started = time.perf_counter()
        self._no_record = np.zeros((0, self.n_neurons), dtype=np.int32)
        if self.learning:  # the NumPy loop, advanced step by step; the bias row is written per period
            self.prep = _Prepared(replace(net, bias_schedule=()), max_steps)
            self.raster = np.zeros((max_steps, self.n_neurons), dtype=bool)
            self.learners = Learners(self.prep)
            rec = self._no_record
            self.steps = numpy_steps(self.prep, self.raster, rec, rec, rec, self.learners)
            return
        self.prep = _Prepared(net, max_steps, whole_drive=False)  # input drive computed per period
        self.args = list(self.prep.kernel_args())
        self.state = KernelState(self.prep)

    def modulate(self, amount: float) -> None:
        """Add `amount` to D of every reward_stdp block at the next step (refused without one)."""
        if not self.net.reward_plastic:
            raise UnsupportedOnBackend("emulator closed loop reward", ["a reward needs a reward_stdp rule"])
        if self.step < self.max_steps:
            for inc, block in zip(self.learners.increments, self.net.reward_plastic):
                inc[self.step] += block.reward_increment(amount)

    def advance(self, steps: int, current: np.ndarray) -> PeriodOutput:
        """Run `steps` steps with `current` (A per neuron) as the bias."""
        if self.step + steps > self.max_steps:
            raise ValueError(
                f"session opened for {self.max_steps} steps; cannot advance to {self.step + steps}"
            )
        mant, exp = self.bias_map(current)
        if self.learning:
            self.prep.bias_table[0] = mant.astype(np.int64) << exp
            for _ in range(steps):
                v = next(self.steps)
            raster = self.raster[self.step : self.step + steps]
            self.step += steps
            self.rasters.append(raster)
            return PeriodOutput(counts=raster.sum(axis=0), v_rel=v.astype(float) * self.bias_map.v_scale)
        args = self.args
        args[1] = steps
        args[5] = (mant.astype(np.int64) << exp)[None, :]
        args[6] = np.array([0, NEVER], dtype=np.int64)
        args[7] = self.prep.drive(self.step, self.step + steps)
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
                "engine": "numpy" if self.learning else "numba",
                "steps": self.step,
                "wall_time_s": time.perf_counter() - self.started,
            },
        )
        if self.learning:  # initial weights and those after the last step run, as run_lava reports them
            initial = [b.weights for b in self.net.reward_plastic]
            result.weights = plastic_weight_traces(
                self.net, [(0, initial), (self.step, self.learners.weights())]
            )
        return result
