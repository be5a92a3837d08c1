"""Brian2 backend plasticity vs the rules' closed forms: STDP window, Tsodyks–Markram depression, reward-
modulated STDP, homeostatic scaling to a target rate, and structural plasticity's pruning/regrowth limits."""

from __future__ import annotations

import numpy as np
import pytest

from wormchip.backends.brian2_backend import run_brian2
from wormchip.circuits.build import build
from wormchip.circuits.loader import from_dict
from wormchip.result import Result

pytest.importorskip("brian2")


def _run(spec: dict) -> Result:
    """Build a spec given as a dict and run it with the numpy target (no compilation)."""
    spec.setdefault("name", "plasticity")
    spec.setdefault("run", {}).setdefault("target", "numpy")
    return run_brian2(build(from_dict(spec)))


def _pair_sum(pre: np.ndarray, post: np.ndarray, a_plus: float, a_minus: float, tau: float) -> float:
    """All-to-all pair-based STDP: Σ A+ e^(−Δ/τ) over post-after-pre pairs + Σ A− e^(−Δ/τ) over pre-after-post."""
    d = post[None, :] - pre[:, None]  # t_post − t_pre
    return float(np.sum(np.where(d > 0, a_plus * np.exp(-d / tau), a_minus * np.exp(d / tau))))


def _phased_pairs(offsets_ms: list[float], start_ms: float = 50.0, stop_ms: float | None = None) -> dict:
    """One presynaptic cell P and postsynaptic cells Q<k>, all driven by the same step current, Q<k> switched on
    `offsets_ms[k]` later than P: identical periods, so every post spike follows a pre spike by offsets_ms[k]."""
    stimuli = [
        {
            "name": name,
            "kind": "step",
            "targets": [cell],
            "amplitude": "0.08 nA",
            "start": f"{start_ms + off} ms",
            **({"duration": f"{stop_ms - start_ms} ms"} if stop_ms is not None else {}),
        }
        for name, cell, off in [("sP", "P", 0.0)] + [(f"s{k}", f"Q{k}", o) for k, o in enumerate(offsets_ms)]
    ]
    return {
        "populations": [
            {"name": "pre", "cells": ["P"]},
            {"name": "post", "cells": [f"Q{k}" for k in range(len(offsets_ms))]},
        ],
        "stimuli": stimuli,
    }


def test_stdp_all_to_all_pairs_match_rule() -> None:
    """Repeated pairings: each final weight equals w0 + w_max Σ_pairs A e^(−|Δt|/τ) over all recorded pairs."""
    offsets = [-40.0, -20.0, -10.0, -5.0, 5.0, 10.0, 20.0, 40.0]
    spec = _phased_pairs(offsets)
    spec["connections"] = [
        {
            "name": "c",
            "source": ["pre"],
            "target": ["post"],
            "weight_scale": "0.001 pA",
            "edges": [{"pre": "P", "post": f"Q{k}"} for k in range(len(offsets))],
            "plasticity": ["s"],
        }
    ]
    spec["plasticity"] = [
        {"name": "s", "rule": "stdp"}
    ]  # defaults: A± = 0.01/−0.0105, τ± = 20 ms, w_max = 2 w0
    spec["run"] = {"dt": "0.1 ms", "duration": "1 s"}
    res = _run(spec)
    w0, w_max = 1e-15, 2e-15
    weights = res.weights["c"]
    assert weights.unit == "A"
    pre = res.spike_times["P"]
    assert len(pre) > 10
    for k, off in enumerate(offsets):
        post = res.spike_times[f"Q{k}"]
        paired = pre[pre + off * 1e-3 < 0.99]  # the last post partner may fall after the run
        lag = np.min(np.abs(post[:, None] - (paired[None, :] + off * 1e-3)), axis=0)
        assert np.all(lag < 0.25e-3)  # the pairing is as designed: a post spike off ms after each pre spike
        trace = weights.channel(f"P->Q{k}")
        t_last = weights.times[-1]  # monitor samples precede the step's spikes: count spikes before it
        expected = w0 + w_max * _pair_sum(pre[pre < t_last], post[post < t_last], 0.01, -0.0105, 0.02)
        assert trace[-1] == pytest.approx(expected, rel=1e-6, abs=0), off
        assert trace[0] == pytest.approx(w0)
        assert abs(trace[-1] - w0) > 0.05 * w0


def test_stdp_window_single_pairs() -> None:
    """One pre and one post spike per synapse (brief pulses): Δw / w_max = A+ e^(−Δt/τ+) for Δt > 0 and
    A− e^(Δt/τ−) for Δt < 0, sampling the STDP window at ±5…±60 ms."""
    offsets = [-60.0, -30.0, -15.0, -5.0, 5.0, 15.0, 30.0, 60.0]
    cells = [f"Q{k}" for k in range(len(offsets))]
    # A 0.5 nA pulse of 4 ms gives exactly one spike, 3.25 ms after its start (the next would need 5.25 ms).
    pulses = [("P", 100.0)] + [(c, 100.0 + off) for c, off in zip(cells, offsets)]
    res = _run(
        {
            "populations": [{"name": "pre", "cells": ["P"]}, {"name": "post", "cells": cells}],
            "connections": [
                {
                    "name": "c",
                    "source": ["pre"],
                    "target": ["post"],
                    "weight_scale": "0.001 pA",
                    "edges": [{"pre": "P", "post": c} for c in cells],
                    "plasticity": ["s"],
                }
            ],
            "plasticity": [{"name": "s", "rule": "stdp", "params": {"tau_minus": "30 ms"}}],
            "stimuli": [
                {
                    "name": f"s_{c}",
                    "kind": "pulse",
                    "targets": [c],
                    "amplitude": "0.5 nA",
                    "start": f"{t0} ms",
                    "duration": "4 ms",
                }
                for c, t0 in pulses
            ],
            "run": {"dt": "0.1 ms", "duration": "250 ms"},
        }
    )
    w0, w_max = 1e-15, 2e-15
    (t_pre,) = res.spike_times["P"]
    for c, off in zip(cells, offsets):
        (t_post,) = res.spike_times[c]
        delta = t_post - t_pre
        assert delta == pytest.approx(off * 1e-3, abs=0.15e-3)
        rule = 0.01 * np.exp(-delta / 0.02) if delta > 0 else -0.0105 * np.exp(delta / 0.03)
        dw = (res.weights["c"].channel(f"P->{c}")[-1] - w0) / w_max
        assert dw == pytest.approx(rule, rel=1e-6), off


def test_tsodyks_markram_steady_state_depression() -> None:
    """Regular presynaptic spikes (period T) deliver w·U·x_n with x_n → x* = (1−e^(−T/τ_d))/(1−(1−U)e^(−T/τ_d))."""
    u_, tau_d, tau_s, w, dt = 0.5, 0.2, 5e-3, 0.1e-9, 1e-4
    res = _run(
        {
            "populations": [
                {"name": "pre", "cells": ["P"], "params": {"I_bias": "0.11 nA"}},
                {"name": "post", "cells": ["Q"]},
            ],
            "connections": [
                {
                    "name": "c",
                    "source": ["pre"],
                    "target": ["post"],
                    "weight_scale": "0.1 nA",
                    "edges": [{"pre": "P", "post": "Q"}],
                    "plasticity": ["d"],
                }
            ],
            "plasticity": [
                {"name": "d", "rule": "stp", "params": {"U": 0.5, "tau_d": "200 ms", "tau_f": "1 ms"}}
            ],
            "probes": [{"variables": ["I_syn"], "neurons": ["Q"], "dt": "0.1 ms"}],
            "run": {"dt": "0.1 ms", "duration": "600 ms"},
        }
    )
    i_syn = res.traces["I_syn"].channel("Q")
    steps = np.rint(res.spike_times["P"] / dt).astype(int)
    decay = np.exp(-dt / tau_s)
    jumps = (i_syn[steps + 1] - decay * i_syn[steps]) / w  # delivered efficacy u·x per spike
    period = float(np.mean(np.diff(res.spike_times["P"])))
    e = np.exp(-period / tau_d)
    x_star = (1 - e) / (1 - (1 - u_) * e)
    assert jumps[0] == pytest.approx(u_, rel=1e-6)
    assert jumps[-1] == pytest.approx(u_ * x_star, rel=1e-3)  # ≈ 0.5 × 0.21
    # The whole sequence follows the recursion x ← 1 − (1 − (1 − U) x) e^(−ISI/τ_d).
    x, predicted = 1.0, []
    for isi in np.r_[0.0, np.diff(res.spike_times["P"])]:
        if isi:
            x = 1 - (1 - (1 - u_) * x) * np.exp(-isi / tau_d)
        predicted.append(u_ * x)
    np.testing.assert_allclose(jumps, predicted, rtol=1e-3)


def test_reward_stdp_changes_weights_only_after_reward() -> None:
    """Pairings build eligibility c; w moves only once reward D arrives, by η w_max ∫ c D dt (closed forms)."""
    offsets = [5.0, -5.0]
    spec = _phased_pairs(offsets, start_ms=50.0, stop_ms=350.0)
    edges = [{"pre": "P", "post": f"Q{k}"} for k in range(len(offsets))]
    spec["connections"] = [
        {
            "name": name,
            "source": ["pre"],
            "target": ["post"],
            "weight_scale": "0.001 pA",
            "edges": edges,
            "plasticity": [rule],
        }
        for name, rule in (("rewarded", "r1"), ("rewarded_more", "r2"), ("unrewarded", "r0"))
    ]
    spec["plasticity"] = [
        {"name": "r1", "rule": "reward_stdp", "reward": [{"time": "500 ms", "amount": 1.0}]},
        {
            "name": "r2",
            "rule": "reward_stdp",
            "reward": [{"time": "500 ms", "amount": 0.5}, {"time": "700 ms", "amount": 2.0}],
        },
        {"name": "r0", "rule": "reward_stdp"},
    ]
    spec["run"] = {"dt": "0.1 ms", "duration": "1.2 s"}
    res = _run(spec)
    w0, w_max, eta, tau_c, tau_d, tau = 1e-15, 2e-15, 10.0, 1.0, 0.2, 0.02
    pre = res.spike_times["P"]
    grid = np.arange(0, 1.2, 1e-5)

    def eligibility(post: np.ndarray) -> np.ndarray:
        c = np.zeros_like(grid)
        for tp in post:  # post spike: c += Σ_pre A+ e^(−Δ/τ+)
            c += (
                (grid >= tp)
                * np.exp(-(grid - tp) / tau_c)
                * np.sum(0.01 * np.exp(-(tp - pre[pre < tp]) / tau))
            )
        for tq in pre:  # pre spike: c += Σ_post A− e^(−Δ/τ−)
            c += (
                (grid >= tq)
                * np.exp(-(grid - tq) / tau_c)
                * np.sum(-0.0105 * np.exp(-(tq - post[post < tq]) / tau))
            )
        return c

    def dopamine(pulses: list[tuple[float, float]]) -> np.ndarray:
        return sum(a * (grid >= t) * np.exp(-(grid - t) / tau_d) for t, a in pulses)

    for conn, pulses in (("rewarded", [(0.5, 1.0)]), ("rewarded_more", [(0.5, 0.5), (0.7, 2.0)])):
        trace = res.weights[conn]
        for k in range(len(offsets)):
            post = res.spike_times[f"Q{k}"]
            w = trace.channel(f"P->Q{k}")
            before = trace.times <= 0.5
            np.testing.assert_array_equal(w[before], w0)  # no reward yet: eligibility alone changes nothing
            c = eligibility(post)
            t_end = trace.times[-1]
            sel = grid < t_end
            expected = w0 + eta * w_max * np.trapz((c * dopamine(pulses))[sel], grid[sel])
            assert w[-1] == pytest.approx(expected, rel=0.01), (conn, k)
            assert np.sign(w[-1] - w0) == np.sign(c[np.searchsorted(grid, 0.5)])  # sign of eligibility
    assert res.weights["rewarded"].channel("P->Q0")[-1] > w0  # pre→post: potentiated
    assert res.weights["rewarded"].channel("P->Q1")[-1] < w0  # post→pre: depressed
    np.testing.assert_array_equal(res.weights["unrewarded"].values, w0)


def test_homeostatic_scaling_reaches_target_rate() -> None:
    """Two cells start far above and far below 10 Hz; scaling their input weights brings both to ~10 Hz."""
    n_pre = 10
    res = _run(
        {
            "populations": [
                {"name": "pre", "size": n_pre, "params": {"I_bias": "0.09 nA"}},
                {"name": "post", "cells": ["HI", "LO"]},
            ],
            "connections": [
                {
                    "name": "c",
                    "source": ["pre"],
                    "target": ["post"],
                    "weight_scale": "0.1 nA",
                    "edges": [{"pre": f"pre_{k}", "post": "HI", "weight": 3.0} for k in range(n_pre)]
                    + [{"pre": f"pre_{k}", "post": "LO", "weight": 0.05} for k in range(n_pre)],
                    "plasticity": ["h"],
                }
            ],
            "plasticity": [
                {"name": "h", "rule": "homeostatic_scaling", "params": {"eta": "1 Hz", "tau_r": "0.5 s"}}
            ],
            # Desynchronise the inputs: each presynaptic cell also gets its own Poisson drive.
            "stimuli": [
                {
                    "name": "noise",
                    "kind": "poisson",
                    "targets": [f"pre_{k}" for k in range(n_pre)],
                    "rate": "200 Hz",
                    "weight": "0.1 nA",
                }
            ],
            "run": {"dt": "0.5 ms", "duration": "12 s"},
        }
    )
    early = {n: np.sum(res.spike_times[n] < 1.0) for n in ("HI", "LO")}
    assert early["HI"] > 20 and early["LO"] < 5  # far from the target at the start
    for cell in ("HI", "LO"):
        late = res.spike_times[cell]
        rate = np.sum(late > 8.0) / 4.0
        assert rate == pytest.approx(10.0, rel=0.15), (cell, rate)


def _structural_spec(edges: list[tuple[str, str, float]], params: dict, duration: str) -> dict:
    """Quiet cells (no spikes), one connection whose weights only decay, so pruning times are closed-form."""
    return {
        "populations": [{"name": "a", "size": 4}, {"name": "b", "size": 3}],
        "connections": [
            {
                "name": "c",
                "source": ["a"],
                "target": ["b"],
                "weight_scale": "0.1 nA",
                "edges": [{"pre": p, "post": q, "weight": w} for p, q, w in edges],
                "plasticity": ["grow"],
            }
        ],
        "plasticity": [{"name": "grow", "rule": "structural", "params": params}],
        "run": {"dt": "0.5 ms", "duration": duration, "target": "numpy"},
    }


def test_structural_plasticity_prunes_regrows_within_limit() -> None:
    """w = w0 e^(−decay t) falls below w_floor·w0 at ln(1/w_floor)/decay; pruned synapses regrow at random free
    slots with w_new·w0, at most regrow_fraction × pruned and never above max_synapses."""
    edges = [("a_0", "b_0", 1.0), ("a_1", "b_1", 1.0), ("a_2", "b_2", 1.0), ("a_3", "b_0", 1.0)]
    params = {
        "interval": "100 ms",
        "w_floor": 0.5,
        "w_new": 0.8,
        "decay": "2 Hz",
        "regrow_fraction": 2.0,
        "max_synapses": 7,
    }
    progress: list[float] = []
    res = run_brian2(
        build(from_dict({"name": "structural", **_structural_spec(edges, params, "1.5 s")})),
        report=progress.append,
    )
    assert progress and progress[-1] == pytest.approx(1.0)
    w0, decay = 0.1e-9, 2.0
    counts = res.traces["synapse_count"]
    n = counts.values[:, 0].astype(int)
    assert np.all(n <= 7)
    # Initial 4 decay below 0.5 w0 after ln 2/2 = 0.35 s → pruned at 0.4 s, 8 allowed but capped at 7 regrow;
    # those (0.8 w0) cross 0.5 w0 after ln 1.6/2 = 0.24 s → pruned at 0.7 s, regrowing into the 5 slots left
    # free (12 pre×post candidates − 7 just pruned), and so on.
    expected = [4, 4, 4, 4, 7, 7, 7, 5, 5, 5, 7, 7, 7, 5, 5, 5]
    np.testing.assert_allclose(counts.times, np.arange(16) * 0.1, atol=1e-9)
    assert n.tolist() == expected
    weights = res.weights["c"]
    assert len(weights.channels) == 12  # 4 synapses + 8 candidate pairs of the connection's neurons
    for t, k in zip(counts.times[:-1], n[:-1]):
        w = weights.values[np.argmin(np.abs(weights.times - t))]
        assert np.count_nonzero(w) == k, t  # inactive slots carry no weight
    w_at = weights.values[np.argmin(np.abs(weights.times - 0.4))]
    np.testing.assert_allclose(w_at[w_at > 0], 0.8 * w0, rtol=1e-9)  # regrown with w_new × mean |w0|
    w_before = weights.values[np.argmin(np.abs(weights.times - 0.399))]
    initial = [weights.channels.index(f"{p}->{q}") for p, q, _ in edges]
    np.testing.assert_allclose(w_before[initial], w0 * np.exp(-decay * 0.399), rtol=1e-3)
    assert np.all(w_before[initial] < 0.5 * w0)
    assert not np.any(w_at[initial])  # the pruned ones did not regrow in the same step


def test_structural_plasticity_caps_initial_count() -> None:
    """max_synapses below the initial count: the weakest synapses are removed before the run starts."""
    edges = [("a_0", "b_0", 1.0), ("a_1", "b_1", 0.5), ("a_2", "b_2", 2.0), ("a_3", "b_0", 1.5)]
    spec = _structural_spec(edges, {"max_synapses": 2, "decay": "0.1 Hz"}, "300 ms")
    res = _run({"name": "structural_cap", **spec})
    assert np.all(res.traces["synapse_count"].values == 2)
    weights = res.weights["c"]
    alive = {c for c, w in zip(weights.channels, weights.values[0]) if w}
    assert alive == {"a_2->b_2", "a_3->b_0"}
