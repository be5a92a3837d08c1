"""Fuzzing: malformed specs (mutated library specs, random YAML text, garbage bytes) give SpecError only.

Any other exception, a hang (hypothesis deadline) or a RuntimeWarning from numpy is a bug in the loader,
schema, units or build.
"""

from __future__ import annotations

import copy
import warnings
from datetime import timedelta

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wormchip.circuits.build import build
from wormchip.circuits.errors import SpecError
from wormchip.circuits.loader import from_dict, library_names, load_spec, parse_spec, to_yaml

#: A synthetic spec exercising the build paths the library spec does not (sizes, random wiring, plasticity,
#: poisson/step/pulse/gradient stimuli), kept small so building it is cheap.
SYNTHETIC = """
name: fuzz_base
populations:
  - {name: a, size: 4, model: lif, params: {C_m: "100 pF", g_L: "5 nS"}}
  - {name: b, cells: [ASEL, ASER, X1], model: adaptive_lif}
  - {name: c, size: 3, model: conductance_lif}
connections:
  - {name: r, source: [a], target: [b], random: {p: 0.5, p_excitatory: 0.7}, weight_scale: "0.2 nA",
     plasticity: [learn]}
  - {name: e, source: [b], target: [c], synapse: exp_conductance, weight_scale: "1 nS",
     edges: [{pre: X1, post: c_0, weight: 2}]}
  - {name: g, source: [a], target: [c], synapse: gap_junction, weight_scale: "1 nS",
     edges: [{pre: a_1, post: c_2}]}
plasticity:
  - {name: learn, rule: reward_stdp, params: {eta: "5 Hz"}, reward: [{time: "10 ms", amount: 1}]}
stimuli:
  - {name: s1, kind: step, targets: [a_0], amplitude: "0.3 nA", start: "5 ms"}
  - {name: s2, kind: pulse, targets: [X1, ASEL], amplitude: "0.1 nA", duration: "5 ms"}
  - {name: s3, kind: poisson, targets: [a_1, a_2], rate: "50 Hz", weight: "0.2 nA"}
  - {name: s4, kind: gradient, gradient: {slope: 2.0, frequency: "1 Hz"}}
ablations: [a_3]
probes:
  - {variables: [v, I_syn], neurons: [a_0, X1], dt: "1 ms"}
run: {dt: "0.1 ms", duration: "50 ms", seed: 3}
"""
CONNECTOME = """
name: fuzz_connectome
populations:
  - {name: cmd, neurons: [AVA, AVB], model: lif}
  - {name: touch, neurons: [ALM, PLM], model: lif}
connections:
  - {name: chem, source: [touch, cmd], target: [cmd], from_connectome: chemical}
  - {name: gap, source: [touch], target: [cmd], from_connectome: gap, synapse: gap_junction,
     weight_scale: "0.1 nS"}
stimuli:
  - {name: t, kind: touch, site: both, amplitude: "0.5 nA"}
probes: [{variables: [v]}]
run: {duration: "20 ms"}
"""
#: Explicit edge lists are cut to this many entries: whole_worm_fitted lists ~4,800 edges, and mutating,
#: dumping and re-parsing all of them took ~9 s per example (the deadline is 5 s); every edge goes through
#: the same code, so the first few hundred exercise it as well. (ncp's 252 stay whole.)
MAX_FUZZ_EDGES = 256


def _trimmed(spec: dict) -> dict:
    for connection in spec.get("connections") or []:
        if connection.get("edges"):
            connection["edges"] = connection["edges"][:MAX_FUZZ_EDGES]
    return spec


LIBRARY = [_trimmed(load_spec(n).to_dict()) for n in library_names()]
BASES = [*LIBRARY, yaml.safe_load(SYNTHETIC), yaml.safe_load(CONNECTOME)]
BASE_TEXTS = [to_yaml(from_dict(d)) for d in LIBRARY] + [SYNTHETIC, CONNECTOME]
MAX_BUILD_SIZE = 10**5

QUANTITIES = [
    "20 ms", "5 mV", "-65 mV", "0.5 nA", "1 nS", "100 pF", "10 Hz", "1 Mohm", "5", "0 s", "-3 ms",
    "1e9 s", "1e-9 s", "1e400 ms", "nan ms", "inf", "5 furlongs", "ms", "", "  ", "5 μs", "2 kHz", "20 ms ms",
]  # fmt: skip
NAMES = [
    "lif",
    "lif2",
    "exp_current",
    "gap_junction",
    "stdp",
    "AVA",
    "AVAX",
    "a",
    "b",
    "zz",
    "sensory",
    "all",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([0, -1, 10**7, 10**8, 2**64, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(QUANTITIES),
    st.sampled_from(NAMES),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(NAMES)), inner),
    ),
    max_leaves=8,
)


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts/lists."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for k, value in enumerate(data):
            out += _paths(value, (*prefix, k))
    return out


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict:
    """A library/base spec with 1–3 random mutations: delete, replace, add a key, or duplicate an item."""
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths))
        if not path:
            continue
        *head, last = path
        parent = data
        for part in head:
            parent = parent[part]
        action = draw(st.sampled_from(["delete", "replace", "replace", "add", "duplicate"]))
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(VALUES)
        elif action == "add" and isinstance(parent[last], dict):
            parent[last][
                draw(st.one_of(st.text(max_size=10), st.sampled_from(["tau_mem", "sizes", "p"])))
            ] = draw(VALUES)
        elif action == "add" and isinstance(parent[last], list):
            parent[last].append(draw(VALUES))
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
    return data


@st.composite
def yaml_texts(draw: st.DrawFn) -> str | bytes:
    """Random YAML text: edits of a valid spec's text, arbitrary text, garbage bytes."""
    kind = draw(st.sampled_from(["edit", "text", "bytes"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    text = draw(st.sampled_from(BASE_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 20))
        insert = draw(
            st.one_of(
                st.text(max_size=10), st.sampled_from([": ", "- ", "\n", "  ", "&a ", "*a", "!!", "{", "["])
            )
        )
        text = text[:at] + insert + text[at + cut :]
    return text


def _check(text: str | bytes) -> None:
    """Parse and (when parsing succeeds and it is cheap) build; only SpecError may escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dt warnings are a legitimate outcome
        warnings.simplefilter("error", RuntimeWarning)  # numpy overflow/invalid: a bug
        try:
            spec = parse_spec(text, source="fuzz.yaml")
        except SpecError as err:
            assert err.problems and str(err).startswith("fuzz.yaml")
            return
        if any((p.size or 0) > MAX_BUILD_SIZE for p in spec.populations):
            return
        try:
            build(spec)
        except SpecError as err:
            assert err.problems and str(err)


FUZZ = settings(
    max_examples=500,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)


@FUZZ
@given(mutated_specs())
def test_mutated_specs_give_spec_error(data: dict) -> None:
    """Mutated library specs, dumped to YAML, parse and build to a network or a SpecError."""
    _check(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@settings(FUZZ, max_examples=200)
@given(yaml_texts())
def test_random_yaml_gives_spec_error(text: str | bytes) -> None:
    """Random and edited YAML text and garbage bytes give a spec or a SpecError."""
    _check(text)


def test_bases_are_valid() -> None:
    """The fuzz bases themselves build (else the mutations would test nothing)."""
    for text in BASE_TEXTS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert build(parse_spec(text)).size > 0
