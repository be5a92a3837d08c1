"""Parse physical quantities written in specs ("20 ms", "-65 mV", "1 nS") into SI floats.

Backend-neutral on purpose: specs and the IR carry plain SI floats; the Brian2 backend re-attaches Brian2
units. Parsing is a regular expression over a fixed table (never `eval`), so a spec file cannot run code.
"""

from __future__ import annotations

import math
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
    "Ω": "resistance",
}
PREFIXES: dict[str, float] = {
    "": 1.0,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,  # micro sign U+00B5
    "μ": 1e-6,  # Greek mu U+03BC
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
_QUANTITY = re.compile(r"^\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµμΩ]*)\s*$")


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
    Infinite or NaN values are errors.
    """
    if dimension not in EXAMPLES:
        raise UnitError(f"unknown dimension {dimension!r} (known: {', '.join(EXAMPLES)})")
    example = EXAMPLES[dimension]
    if isinstance(value, bool):
        raise UnitError(f"expected a {dimension} quantity, e.g. '{example}', got {value!r}")
    if isinstance(value, int | float):
        if dimension != "dimensionless":
            raise UnitError(f"missing unit: expected a {dimension}, e.g. '{example}', got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match:
            raise UnitError(f"cannot parse {value!r} as a quantity; expected e.g. '{example}'")
        number, symbol = float(match.group(1)), match.group(2)
        if not symbol:
            if dimension != "dimensionless":
                raise UnitError(f"missing unit in {value!r}: expected a {dimension}, e.g. '{example}'")
        else:
            scale, found = _split_unit(symbol)
            if dimension == "dimensionless" or found != dimension:
                raise UnitError(f"{value!r} is a {found}; expected a {dimension}, e.g. '{example}'")
            number *= scale
    else:
        raise UnitError(f"expected a {dimension} quantity string, e.g. '{example}', got {value!r}")
    if not math.isfinite(number):
        raise UnitError(f"{value!r} is not a finite number; expected e.g. '{example}'")
    return number


def unit_of(value: str) -> tuple[str, float, str]:
    """The unit written in a quantity string: '0.2 nA' → ('nA', 1e-9, 'current'); a plain number → ('', 1,
    'dimensionless'). Used to write a changed value back in the unit the user chose."""
    match = _QUANTITY.match(value)
    if not match:
        raise UnitError(f"cannot parse {value!r} as a quantity")
    symbol = match.group(2)
    if not symbol:
        return "", 1.0, "dimensionless"
    scale, dimension = _split_unit(symbol)
    return symbol, scale, dimension
