"""Parse physical quantities written in specs ("20 ms", "-65 mV", "1 nS") into SI floats.

Backend-neutral on purpose: specs and the IR carry plain SI floats; the Brian2 backend re-attaches Brian2
units. Parsing is a regular expression over a fixed table (never `eval`), so a spec file cannot run code.
"""

from __future__ import annotations

import re

#: SI base unit symbol → dimension name used in the model registry.
UNIT_DIMENSIONS: dict[str, str] = {
    "s": "time",
    "V": "voltage",
    "A": "current",
    "S": "conductance",
    "F": "capacitance",
    "Hz": "frequency",
    "ohm": "resistance",
    "Ohm": "resistance",
}
PREFIXES: dict[str, float] = {
    "": 1.0,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
}
#: An example unit per dimension, for error messages ("expected a time, e.g. '20 ms'").
EXAMPLES: dict[str, str] = {
    "time": "20 ms",
    "voltage": "-65 mV",
    "current": "0.5 nA",
    "conductance": "1 nS",
    "capacitance": "200 pF",
    "frequency": "10 Hz",
    "resistance": "100 Mohm",
    "dimensionless": "0.5",
}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-zµ]*)\s*$")


class UnitError(ValueError):
    """A quantity string that cannot be parsed or has the wrong dimension."""


def _split_unit(symbol: str) -> tuple[float, str]:
    """'mV' → (1e-3, 'voltage'); longest base-unit match first so 'ms' is milli-second, 'S' siemens."""
    for base in sorted(UNIT_DIMENSIONS, key=len, reverse=True):
        if symbol.endswith(base):
            prefix = symbol[: -len(base)]
            if prefix in PREFIXES:
                return PREFIXES[prefix], UNIT_DIMENSIONS[base]
    raise UnitError(
        f"unknown unit '{symbol}' (known: {', '.join(sorted(set(UNIT_DIMENSIONS)))} with SI prefixes)"
    )


def parse_quantity(value: str | int | float, dimension: str) -> float:
    """Return `value` in SI units, checking it has `dimension` (a key of EXAMPLES).

    Plain numbers are accepted only for dimensionless parameters, so "tau_m: 20" (seconds? ms?) is an error.
    """
    if isinstance(value, bool):
        raise UnitError(f"expected a {dimension} quantity, e.g. '{EXAMPLES[dimension]}', got {value!r}")
    if isinstance(value, int | float):
        if dimension == "dimensionless":
            return float(value)
        raise UnitError(f"missing unit: expected a {dimension}, e.g. '{EXAMPLES[dimension]}', got {value!r}")
    if not isinstance(value, str):
        raise UnitError(
            f"expected a {dimension} quantity string, e.g. '{EXAMPLES[dimension]}', got {value!r}"
        )
    match = _QUANTITY.match(value)
    if not match:
        raise UnitError(f"cannot parse {value!r} as a quantity; expected e.g. '{EXAMPLES[dimension]}'")
    number, symbol = float(match.group(1)), match.group(2)
    if not symbol:
        if dimension == "dimensionless":
            return number
        raise UnitError(f"missing unit in {value!r}: expected a {dimension}, e.g. '{EXAMPLES[dimension]}'")
    scale, found = _split_unit(symbol)
    if dimension == "dimensionless" or found != dimension:
        raise UnitError(f"{value!r} is a {found}; expected a {dimension}, e.g. '{EXAMPLES[dimension]}'")
    return number * scale


def format_quantity(value_si: float, dimension: str) -> str:
    """Inverse of `parse_quantity` for round-tripping specs: SI float → a readable string."""
    if dimension == "dimensionless":
        return repr(float(value_si))
    base = next(b for b, d in UNIT_DIMENSIONS.items() if d == dimension)
    if value_si == 0:
        return f"0 {base}"
    for prefix in ("G", "M", "k", "", "m", "u", "n", "p"):
        scale = PREFIXES[prefix]
        if abs(value_si) >= scale * 0.999999:
            return f"{value_si / scale:.12g} {prefix}{base}"
    return f"{value_si / 1e-12:.12g} p{base}"
