"""Open a stepping session of a circuit on any backend (brian2, emulator, lava) for a closed loop.

For the fixed-point backends the circuit is lowered and quantized here with the sensors in mind: the
voltage scale must leave room for the largest sensor current (`Encoder.max_current`), so quantization sees
the bias at +max and −max, and the headroom below rest is calibrated in a float run that holds the bias at
0, +max and −max for `CALIBRATION_S` each (five membrane time constants of 20 ms). Emulator and Lava then get the same `FixedPointNetwork` and the same
`BiasMap`, so they stay bit-identical.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from wormchip import ir
from wormchip.backends.session import BiasMap, Session
from wormchip.errors import WormchipError

CLOSED_LOOP_BACKENDS = ("brian2", "nengo", "emulator", "lava")
CALIBRATION_S = 0.1  # per bias level in the headroom calibration run


def fixed_point_for_loop(network: ir.Network, max_current: np.ndarray):
    """Lower and quantize `network` for a closed loop: (FixedPointNetwork, BiasMap)."""
    from wormchip.mappers.lower import lower
    from wormchip.mappers.quantize import calibrated_headroom, quantize

    lowered = lower(network)
    kappa = np.asarray(lowered.metadata["kappa_v_per_a"], dtype=float)
    base = lowered.bias
    swing = np.asarray(max_current, dtype=float) * kappa
    hold = max(1, int(round(CALIBRATION_S / network.dt)))
    calibration = replace(
        lowered, steps=3 * hold, bias_schedule=((hold, base + swing), (2 * hold, base - swing))
    )
    headroom = calibrated_headroom(calibration)
    sizing = replace(lowered, bias_schedule=((1, base + swing), (2, base - swing)))
    fixed, report = quantize(sizing, v_headroom=headroom)
    fixed = replace(fixed, bias_schedule=())
    bias_map = BiasMap(base, kappa, report.v_scale, lowered.names)
    mant, exp = bias_map(np.zeros(network.size))
    if not (np.array_equal(mant, fixed.bias_mant) and np.array_equal(exp, fixed.bias_exp)):
        raise RuntimeError("closed-loop bias map disagrees with the quantized bias (internal error)")
    return fixed, bias_map


def open_session(
    network: ir.Network,
    on: str,
    period_steps: int,
    max_steps: int,
    max_current: np.ndarray,
    brian2_mode: str = "operation",
    timeout_s: float = 60.0,
) -> Session:
    """A `Session` of `network` on backend `on`, for up to `max_steps` steps in periods of `period_steps`."""
    if on not in CLOSED_LOOP_BACKENDS:
        raise WormchipError(f"closed loop runs on {', '.join(CLOSED_LOOP_BACKENDS)}, not {on!r}")
    network = replace(network, current=None, spike_inputs=(), duration=max_steps * network.dt)
    if on == "brian2":
        from wormchip.backends.brian2_session import Brian2Session

        return Brian2Session(network, period_steps, max_steps, mode=brian2_mode)
    if on == "nengo":
        from wormchip.backends.nengo_session import NengoSession

        return NengoSession(network)
    fixed, bias_map = fixed_point_for_loop(network, max_current)
    if on == "emulator":
        from wormchip.backends.emulator_session import EmulatorSession

        return EmulatorSession(fixed, max_steps, bias_map)
    from wormchip.backends.lava_session import LavaSession

    return LavaSession(fixed, max_steps, bias_map, timeout_s=timeout_s)
