"""The stepping session: one backend-neutral way to run a circuit a control period at a time (closed loop).

Beside its run-to-completion call, each backend offers a session: `advance(steps, current)` holds the
injected current (amperes per neuron) for `steps` time steps and returns what a motor read-out needs (spike
counts of the period, v at its end); `close()` ends the run and returns the shared `Result` of everything
simulated so far. Worlds never see which backend runs them (`wormchip.closed_loop`).

Fixed-point backends (emulator, Lava) take the current as the LIF bias register: `BiasMap` turns amperes
into `bias_mant << bias_exp` with the quantizer's own per-neuron voltage scale, so the emulator and Lava
receive the same integers and stay bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from wormchip.result import Result


@dataclass
class PeriodOutput:
    """What one control period produced: spikes per neuron, and v − E_L (volts) at its last step."""

    counts: np.ndarray
    v_rel: np.ndarray


class Session(Protocol):
    """A run that advances on request; see the module docstring."""

    n_neurons: int
    dt: float

    def advance(self, steps: int, current: np.ndarray) -> PeriodOutput:
        """Hold `current` (A per neuron) for `steps` steps; return the period's output."""
        ...

    def close(self) -> Result:
        """Stop the run and return the `Result` of every step simulated."""
        ...


class BiasMap:
    """Amperes injected per neuron → the fixed-point bias register (mantissa, exponent) per neuron.

    A current I held over a step moves v by I·κ volts (`lower`'s exponential-Euler κ), so the bias in v units
    is (base + I·κ)/s with `base` the lowered network's own bias (I_bias, E_L offsets) and s the quantizer's
    voltage scale; it is split into mantissa and exponent exactly as `quantize` splits the static bias.
    """

    def __init__(self, base: np.ndarray, kappa: np.ndarray, v_scale: np.ndarray, names: tuple[str, ...]):
        self.base = np.asarray(base, dtype=float)
        self.kappa = np.asarray(kappa, dtype=float)
        self.v_scale = np.asarray(v_scale, dtype=float)
        self.names = names

    def __call__(self, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bias_mant, bias_exp) for `current` (A per neuron)."""
        from wormchip.mappers.quantize import bias_mant_exp

        units = (self.base + np.asarray(current, dtype=float) * self.kappa) / self.v_scale
        return bias_mant_exp("closed-loop bias", units, self.names)
