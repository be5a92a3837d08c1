"""`wormchip.units.parse_quantity`: every dimension and prefix, and clear errors."""

from __future__ import annotations

import math

import pytest

from wormchip import units
from wormchip.units import EXAMPLES, PREFIXES, UNIT_DIMENSIONS, UnitError, parse_quantity


@pytest.mark.parametrize("base", sorted(UNIT_DIMENSIONS))
@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_every_dimension_and_prefix(base: str, prefix: str) -> None:
    dimension = UNIT_DIMENSIONS[base]
    value = parse_quantity(f"2.5 {prefix}{base}", dimension)
    assert math.isclose(value, 2.5 * PREFIXES[prefix], rel_tol=1e-12)


@pytest.mark.parametrize(
    "text, dimension, expected",
    [
        ("20 ms", "time", 0.02),
        ("-65 mV", "voltage", -0.065),
        ("0.5 nA", "current", 0.5e-9),
        ("1 nS", "conductance", 1e-9),
        ("200 pF", "capacitance", 200e-12),
        ("10 Hz", "frequency", 10.0),
        ("2 kHz", "frequency", 2000.0),
        ("100 Mohm", "resistance", 1e8),
        ("1 kΩ", "resistance", 1e3),
        ("5 µs", "time", 5e-6),  # micro sign
        ("5 μs", "time", 5e-6),  # Greek mu
        ("5 us", "time", 5e-6),
        ("1e-3 s", "time", 1e-3),
        (".5 s", "time", 0.5),
        ("+3.s", "time", 3.0),
        ("  7ms  ", "time", 0.007),
        ("1 mS", "conductance", 1e-3),  # milli-siemens, not a time
        ("1 Ms", "time", 1e6),
        ("0.5", "dimensionless", 0.5),
        (0.25, "dimensionless", 0.25),
        (-2, "dimensionless", -2.0),
        ("20ms", "time", 0.02),
    ],
)
def test_values(text: object, dimension: str, expected: float) -> None:
    assert math.isclose(parse_quantity(text, dimension), expected, rel_tol=1e-12)


def test_examples_parse_as_their_dimension() -> None:
    for dimension, example in EXAMPLES.items():
        parse_quantity(example, dimension)


@pytest.mark.parametrize(
    "value, dimension, message",
    [
        ("5 mV", "time", "'5 mV' is a voltage; expected a time, e.g. '20 ms'"),
        ("5 ms", "dimensionless", "'5 ms' is a time; expected a dimensionless, e.g. '0.5'"),
        (20, "time", "missing unit: expected a time, e.g. '20 ms', got 20"),
        (2.5, "voltage", "missing unit: expected a voltage, e.g. '-65 mV', got 2.5"),
        ("20", "time", "missing unit in '20': expected a time, e.g. '20 ms'"),
        ("5 furlongs", "time", "unknown unit 'furlongs'"),
        ("5 xs", "time", "unknown unit 'xs'"),
        ("ms", "time", "cannot parse 'ms' as a quantity; expected e.g. '20 ms'"),
        ("", "time", "cannot parse '' as a quantity"),
        ("20 ms ms", "time", "cannot parse"),
        ("2,5 ms", "time", "cannot parse"),
        ("١٢ ms", "time", "cannot parse"),  # non-ASCII digits
        (True, "dimensionless", "expected a dimensionless quantity, e.g. '0.5', got True"),
        (None, "time", "expected a time quantity string, e.g. '20 ms', got None"),
        ([1], "time", "expected a time quantity string"),
        ("1e400 ms", "time", "'1e400 ms' is not a finite number"),
        (float("nan"), "dimensionless", "not a finite number"),
        (float("inf"), "dimensionless", "not a finite number"),
        (10**400, "dimensionless", "not a finite number"),
        ("1 ms", "weight", "unknown dimension 'weight'"),
    ],
)
def test_errors(value: object, dimension: str, message: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_quantity(value, dimension)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_no_dead_formatter() -> None:
    """`format_quantity` was unused (specs keep quantities as written) and has been removed."""
    assert not hasattr(units, "format_quantity")
