"""YAML ↔ Python round-trips are exact, and both sides build to identical IR arrays."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wormchip.circuits.build import build
from wormchip.circuits.loader import library_names, load_spec, parse_spec, to_yaml
from wormchip.circuits.schema import (
    CircuitSpec,
    Connection,
    Edge,
    Metadata,
    Plasticity,
    Population,
    Probe,
    RandomWiring,
    RewardPulse,
    RunSettings,
    Stimulus,
)


def assert_same(a: object, b: object, where: str = "network") -> None:
    """Recursive equality of IR objects: dataclasses, dicts, sequences, numpy arrays (dtype and values)."""
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), where
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{k}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("name", library_names())
def test_library_yaml_roundtrip(name: str) -> None:
    spec = load_spec(name)
    text = to_yaml(spec)
    again = parse_spec(text)
    assert again == spec
    assert again.to_dict() == spec.to_dict()
    assert to_yaml(again) == text
    assert_same(build(spec), build(again))


def python_spec() -> CircuitSpec:
    """A spec built from pydantic objects, using most fields."""
    return CircuitSpec(
        name="py_made",
        metadata=Metadata(
            description="made in Python: ünïcode, 'quotes', #hash: colon", tags=["x", "null", "1"]
        ),
        populations=[
            Population(name="a", size=5, model="lif", params={"C_m": "120 pF", "I_bias": "0.01 nA"}),
            Population(name="b", cells=["B1", "B2", "yes"], model="conductance_lif", params={"E_e": "5 mV"}),
        ],
        connections=[
            Connection(
                name="ab",
                source=["a"],
                target=["b"],
                random=RandomWiring(p=0.3, p_excitatory=0.25),
                synapse="exp_conductance",
                weight_scale=2,
                params={"tau": "7.5 ms"},
                plasticity=["p1"],
            ),
            Connection(
                name="ba",
                source=["b"],
                target=["a"],
                edges=[Edge(pre="B1", post="a_0", weight=-1.5), Edge(pre="yes", post="a_4", weight=1e-20)],
            ),
        ],
        plasticity=[Plasticity(name="p1", rule="stp", params={"U": 0.25}, reward=[RewardPulse(time="5 ms")])],
        stimuli=[
            Stimulus(name="s", kind="step", targets=["a_1", "B2"], amplitude="0.25 nA", start="1e-3 s"),
            Stimulus(name="q", kind="poisson", targets=["a_2"], rate="40 Hz", synapse="exp_current"),
        ],
        probes=[Probe(variables=["v"], neurons=["a_0", "B1"], dt="0.5 ms")],
        ablations=["a_3"],
        run=RunSettings(dt="0.05 ms", duration="30 ms", seed=7, target="numpy"),
    )


def test_weight_scale_int_is_rejected_at_build_but_roundtrips() -> None:
    spec = python_spec()
    assert parse_spec(to_yaml(spec)) == spec  # the unitless 2 is kept as written (an int)
    assert isinstance(parse_spec(to_yaml(spec)).connections[0].weight_scale, int)


def test_python_spec_roundtrip_and_build() -> None:
    spec = python_spec()
    spec.connections[0].weight_scale = "2 nS"
    again = parse_spec(to_yaml(spec))
    assert again == spec and to_yaml(again) == to_yaml(spec)
    assert_same(build(spec), build(again))
    same_dict = CircuitSpec.model_validate(spec.to_dict())
    assert same_dict == spec


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
QUANTITY = st.one_of(
    TEXT,
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["20 ms", "1e3", "0.5", "yes", "null", "~", "1_000", "0x1F", "2001-01-01", "- x", "#", ""]
    ),
)


@st.composite
def specs(draw: st.DrawFn) -> CircuitSpec:
    """Random schema-valid specs with awkward strings and numbers (not necessarily buildable)."""
    pops = [
        Population(
            name=draw(NAME),
            **draw(
                st.sampled_from(
                    [
                        {"size": draw(st.integers(1, 10**7))},
                        {"cells": draw(st.lists(TEXT, min_size=1, max_size=3))},
                    ]
                )
            ),
            model=draw(TEXT),
            params=draw(st.dictionaries(TEXT, QUANTITY, max_size=3)),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    edges = [
        Edge(pre=draw(TEXT), post=draw(TEXT), weight=draw(st.floats(allow_nan=False, allow_infinity=False)))
    ]
    return CircuitSpec(
        name=draw(st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,8}", fullmatch=True)),
        metadata=Metadata(description=draw(TEXT), citations=draw(st.lists(TEXT, max_size=2))),
        populations=pops,
        connections=[
            Connection(
                name="c", source=[draw(TEXT)], target=[draw(TEXT)], edges=edges, weight_scale=draw(QUANTITY)
            )
        ],
        ablations=draw(st.lists(TEXT, max_size=2)),
        run=RunSettings(dt=draw(QUANTITY), seed=draw(st.integers(0, 2**32 - 1))),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(specs())
def test_random_python_specs_roundtrip(spec: CircuitSpec) -> None:
    """Awkward strings ('null', '1e3', unicode, '#') and numbers survive YAML exactly, types included."""
    again = parse_spec(to_yaml(spec))
    assert again == spec
    assert again.model_dump() == spec.model_dump()
    assert [type(v) for p in again.populations for v in p.params.values()] == [
        type(v) for p in spec.populations for v in p.params.values()
    ]
    assert type(again.run.dt) is type(spec.run.dt)
