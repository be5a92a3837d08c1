"""Library circuits: behaviour from the literature, determinism, and every circuit builds and runs."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.backends.brian2_backend import run_brian2
from wormchip.circuits.build import build
from wormchip.circuits.loader import library_names, load_spec, parse_spec, to_yaml
from wormchip.circuits.ncp import HEADER, ncp_spec
from wormchip.simulate import prepare


def _window_counts(result, start: float, stop: float) -> dict[str, int]:
    return {n: int(np.sum((t >= start) & (t < stop))) for n, t in result.spike_times.items()}


@pytest.fixture(scope="module")
def tap_runs():
    """tap_withdrawal under anterior touch, posterior touch and no touch (numpy target: no compile)."""
    runs = {}
    for site in ("anterior", "posterior", None):
        spec = load_spec("tap_withdrawal")
        if site is None:
            spec.stimuli = []
        else:
            spec.stimuli[0].site = site
        runs[site] = run_brian2(build(spec), target="numpy")
    return runs


def test_anterior_touch_drives_reversal(tap_runs):
    """Chalfie et al. 1985: anterior touch (ALM, AVM) → AVD → AVA: backward, AVA above AVB."""
    counts = _window_counts(tap_runs["anterior"], 0.1, 0.35)
    assert counts["AVA"] >= 10 and counts["AVB"] == 0, counts
    assert counts["AVD"] > 0 and counts["REV"] > counts["FWD"], counts


def test_posterior_touch_drives_forward(tap_runs):
    """Posterior touch (PLM) → PVC → AVB: forward, AVB and PVC above AVA."""
    counts = _window_counts(tap_runs["posterior"], 0.1, 0.35)
    assert counts["AVB"] >= 10 and counts["PVC"] > counts["AVA"], counts
    assert counts["FWD"] > counts["REV"], counts


def test_no_touch_is_quiet(tap_runs):
    """Without touch the command neurons stay below threshold: the responses above are touch-evoked."""
    counts = tap_runs[None].spike_counts()
    assert counts["AVA"] == 0 and counts["AVB"] == 0, counts


def test_liquid_time_constant_shortens_when_driven(tap_runs):
    """τ_eff = C/(g_L + Σg) of AVA during anterior touch is shorter than before it (conductance input)."""
    tau = tap_runs["anterior"].traces["tau_eff"]
    rest = tau.channel("AVA")[(tau.times > 0.05) & (tau.times < 0.1)].mean()
    driven = tau.channel("AVA")[(tau.times > 0.15) & (tau.times < 0.3)].mean()
    assert rest == pytest.approx(100e-12 / (5e-9), rel=0.05)  # C_m/g_L = 20 ms at rest, no gap on AVA
    assert driven < 0.8 * rest, (rest, driven)


def test_same_seed_same_spikes():
    spec = load_spec("ncp")
    spec.run.duration = "300 ms"
    a = run_brian2(build(spec), target="numpy")
    b = run_brian2(build(spec), target="numpy")
    assert sum(a.spike_counts().values()) > 0
    for name in a.neuron_names:
        np.testing.assert_array_equal(a.spike_times[name], b.spike_times[name])
    spec.run.seed += 1
    c = run_brian2(build(spec), target="numpy")
    assert any(not np.array_equal(a.spike_times[n], c.spike_times[n]) for n in a.neuron_names)


@pytest.mark.parametrize("name", library_names())
def test_library_circuit_builds_and_runs(name):
    """Every shipped circuit validates, round-trips through YAML, and produces spikes in a short run."""
    spec, _ = prepare(name, duration="200 ms")
    assert parse_spec(to_yaml(spec)) == spec
    network = build(spec)
    assert network.size > 0
    result = run_brian2(network, target="numpy")
    assert sum(result.spike_counts().values()) > 0


def test_whole_worm_has_all_neurons_and_signed_synapses():
    """Cook 2019: 3,709 chemical pairs incl. 38 autapses, 1,105 gap pairs incl. 14 self-pairs (dropped)."""
    from wormchip import worm_connectome

    network = build(load_spec("whole_worm"))
    connectome = worm_connectome.load("cook2019")
    assert network.size == 302
    chemical, gap = network.projections
    autapses = int((connectome.chemical.diagonal() > 0).sum())
    assert (chemical.size, autapses) == (3709 - 38, 38)
    assert gap.size == 1105 - int((connectome.gap.diagonal() > 0).sum()) == 1091
    assert (chemical.weight > 0).any() and (chemical.weight < 0).any()
    assert (gap.pre < gap.post).all()
    # The weight of AVDR→AVAR is its contact count × 10 pA, positive (ACh).
    index = network.index()
    k = np.flatnonzero((chemical.pre == index["AVDR"]) & (chemical.post == index["AVAR"]))
    assert chemical.weight[k] == pytest.approx(
        connectome.chemical[connectome.neurons.index("AVDR"), connectome.neurons.index("AVAR")] * 10e-12
    )


def test_ncp_library_file_is_the_generator_output():
    """ncp.yaml must equal ncp_spec() (regenerate with `python -m wormchip.circuits.ncp`)."""
    text = load_spec("ncp")
    assert text == ncp_spec()
    assert to_yaml(ncp_spec()).startswith("name: ncp") and HEADER.startswith("#")
    edges = ncp_spec().connections[0].edges
    assert 250 <= len(edges) <= 260  # the NCP paper's 32→12→6→1 policy has 253 synapses


def test_touch_response_from_the_connectome():
    """Cook wiring, Chalfie's sign model + Wicks 1996 command-interneuron signs: anterior touch → AVD → AVA with
    AVB silent (reversal); posterior touch → PVC → AVB with AVA silent (forward)."""
    counts = {}
    for site in ("anterior", "posterior"):
        spec = load_spec("touch_response")
        spec.stimuli[0].site = site
        window = _window_counts(run_brian2(build(spec), target="numpy"), 0.1, 0.35)
        counts[site] = {c: window[f"{c}L"] + window[f"{c}R"] for c in ("AVA", "AVB", "AVD", "PVC")}
    front, back = counts["anterior"], counts["posterior"]
    assert front["AVD"] > 20 and front["AVA"] >= 10 and front["AVB"] == 0 and front["PVC"] == 0, counts
    assert back["PVC"] > 20 and back["AVB"] >= 10 and back["AVA"] == 0 and back["AVD"] < front["AVD"], counts


def test_touch_response_without_the_wicks_signs_misses_forward():
    """The sign overrides matter: with transmitter signs only, AVA out-fires AVB under posterior touch."""
    spec = load_spec("touch_response")
    spec.stimuli[0].site = "posterior"
    spec.connections[0].sign_overrides = []
    window = _window_counts(run_brian2(build(spec), target="numpy"), 0.1, 0.35)
    assert window["AVAL"] + window["AVAR"] > window["AVBL"] + window["AVBR"], window
