"""`compare` on runs with known relations: identical, jittered by a step, mismatched names/dt/duration."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from wormchip.analysis import Comparison, compare
from wormchip.result import Result, Trace

DT = 1e-4
DURATION = 2.0
NAMES = ["AVAL", "AVAR", "AVBL", "PVCL", "RIML"]


def make_run(seed: int = 0, names: list[str] = NAMES, dt: float = DT, duration: float = DURATION) -> Result:
    """Poisson-like run with spikes on the dt grid, at least 5 steps apart, and a tau_eff trace."""
    rng = np.random.default_rng(seed)
    spikes = {}
    for i, name in enumerate(names):
        n_steps = int(round(duration / dt))
        steps = np.unique(rng.integers(1, n_steps - 5, rng.poisson((5 + 10 * i) * duration)))
        spikes[name] = steps[np.diff(steps, prepend=-10) >= 5] * dt  # >= 5 steps apart
    times = np.arange(0.0, duration, 0.1)
    tau = Trace(times, list(names), np.full((len(times), len(names)), 0.02), unit="s")
    return Result(list(names), duration, dt, spikes, traces={"tau_eff": tau})


def shifted(run: Result, steps: int) -> Result:
    """Copy of `run` with every spike moved by `steps` time steps."""
    moved = {n: t + steps * run.dt for n, t in run.spike_times.items()}
    return Result(run.neuron_names, run.duration, run.dt, moved, traces=run.traces)


def test_identical_runs_agree_perfectly() -> None:
    run = make_run()
    comp = compare(run, run, labels=("brian2", "lava"))
    table = comp.per_neuron
    assert list(table.index) == NAMES
    assert (table["count_brian2"] == table["count_lava"]).all()
    assert np.allclose(table["van_rossum"], 0.0, atol=1e-6)
    assert (table["victor_purpura"] == 0.0).all()
    assert (table["coincidence_1step"] == 1.0).all()
    assert (table["coincidence_window"] == 1.0).all()
    s = comp.summary
    assert s["count_correlation"] == pytest.approx(1.0)
    assert s["fraction_within_1step"] == {"brian2": 1.0, "lava": 1.0}
    assert s["mean_van_rossum"] == pytest.approx(0.0, abs=1e-6)
    assert s["population_similarity"] == pytest.approx(1.0)
    assert s["tau_eff"]["lava"] == {"median": pytest.approx(0.02), "unit": "s"}


def test_one_step_jitter_is_within_one_step_and_distances_match_closed_forms() -> None:
    run = make_run(1)
    comp = compare(run, shifted(run, 1), tau_s=0.01, q_hz=100.0, window_s=DT / 2)
    assert comp.summary["fraction_within_1step"] == {"a": 1.0, "b": 1.0}
    assert comp.summary["fraction_within_window"] == {"a": 0.0, "b": 0.0}
    assert (compare(run, shifted(run, 2)).per_neuron["coincidence_1step"] == 0.0).all()
    # Shifting every spike by DT costs q*DT per spike in Victor-Purpura (q*DT < 2).
    counts = comp.per_neuron["count_a"]
    assert np.allclose(comp.per_neuron["victor_purpura"], 100.0 * DT * counts)


def test_only_common_neurons_are_compared() -> None:
    a = make_run(2, names=["AVAL", "AVAR", "AVBL"])
    b = make_run(3, names=["AVBL", "RIML", "AVAL"])
    comp = compare(a, b)
    assert list(comp.per_neuron.index) == ["AVAL", "AVBL"]
    assert comp.summary["only_in"] == {"a": ["AVAR"], "b": ["RIML"]}
    with pytest.raises(ValueError, match="no neuron name in common"):
        compare(a, make_run(4, names=["X"]))


def test_mismatched_dt_needs_an_explicit_step() -> None:
    a, b = make_run(5), make_run(5, dt=1e-3)
    with pytest.raises(ValueError, match="different dt"):
        compare(a, b)
    comp = compare(a, b, step_s=1e-3)
    assert comp.params["step_s"] == 1e-3
    assert comp.params["dt_s"] == {"a": 1e-4, "b": 1e-3}


def test_different_durations_are_cut_to_the_shorter() -> None:
    long = make_run(6, duration=DURATION)
    short = Result(
        long.neuron_names,
        1.0,
        DT,
        {n: t[t <= 1.0] for n, t in long.spike_times.items()},
    )
    comp = compare(long, short)
    assert comp.params["t_stop_s"] == 1.0
    assert (comp.per_neuron["count_a"] == comp.per_neuron["count_b"]).all()
    assert comp.summary["fraction_within_1step"] == {"a": 1.0, "b": 1.0}


def test_to_dict_is_strict_json() -> None:
    run = make_run(7)
    silent = Result(run.neuron_names, DURATION, DT, {n: np.array([]) for n in run.neuron_names})
    out = compare(silent, run).to_dict()  # NaNs (empty A, constant counts) must become null
    text = json.dumps(out, allow_nan=False)
    back = json.loads(text)
    assert back["summary"]["count_correlation"] is None
    assert back["per_neuron"][0]["neuron"] == "AVAL"
    assert set(back) == {"labels", "params", "summary", "per_neuron"}


def test_figures_have_labelled_axes_with_units() -> None:
    comp: Comparison = compare(make_run(8), shifted(make_run(8), 3), labels=("ref", "test"))
    figures = comp.figures()
    assert set(figures) == {"raster", "rate_scatter"}
    for fig in figures.values():
        assert isinstance(fig, Figure)
        fig.savefig(io.BytesIO(), format="png")
        for ax in fig.axes:
            assert ax.get_xlabel() and ax.get_ylabel()
    raster_ax = figures["raster"].axes[0]
    assert raster_ax.get_xlabel() == "time (s)"
    scatter_ax = figures["rate_scatter"].axes[0]
    assert scatter_ax.get_xlabel() == "firing rate, ref (Hz)"
    assert scatter_ax.get_ylabel() == "firing rate, test (Hz)"
