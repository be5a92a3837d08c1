"""Known-answer checks of the spike and population metrics (Elephant conventions made explicit)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import special_ortho_group

from wormchip.analysis import (
    coincidence_fraction,
    coincident_count,
    count_correlation,
    fano_factor,
    firing_rate,
    isi_cv,
    pca_trajectory,
    population_similarity,
    procrustes_similarity,
    smoothed_rates,
    spike_metrics,
    tau_eff_summary,
    van_rossum,
    victor_purpura,
)
from wormchip.result import Result, Trace

T_STOP = 1.0
TAU = 0.01


def poisson_train(rng: np.random.Generator, rate_hz: float, duration_s: float) -> np.ndarray:
    """Homogeneous Poisson spike times: uniform positions given a Poisson count."""
    return np.sort(rng.uniform(0.0, duration_s, rng.poisson(rate_hz * duration_s)))


def test_identical_trains_have_zero_distance_and_full_coincidence() -> None:
    train = np.array([0.05, 0.1, 0.3, 0.31, 0.7])
    # The van Rossum distance is a square root of a cancelled sum: 0 up to ~1e-7 round-off.
    assert van_rossum(train, train, TAU, T_STOP) == pytest.approx(0.0, abs=1e-6)
    assert victor_purpura(train, train, 100.0, T_STOP) == 0.0
    assert coincidence_fraction(train, train, 0.0) == 1.0
    steps = np.rint(train / 1e-4).astype(int)
    assert coincidence_fraction(steps, steps, 1) == 1.0


def test_van_rossum_round_off_nan_is_zero() -> None:
    train = np.arange(12) * 0.0123 + 0.01  # Elephant returns NaN here: sqrt of a round-off negative
    assert van_rossum(train, train, TAU, T_STOP) == 0.0


@pytest.mark.parametrize("delta", [0.0005, 0.003, 0.01, 0.04])
def test_van_rossum_single_spike_shift_matches_closed_form(delta: float) -> None:
    d = van_rossum([0.3], [0.3 + delta], TAU, T_STOP)
    # Elephant normalises D(empty, one spike) = 1, i.e. D^2 = (2/tau) * integral (f - g)^2 dt with causal
    # exp(-t/tau) kernels, which for two single spikes delta apart is 2 * (1 - exp(-delta/tau)).
    assert d == pytest.approx(np.sqrt(2 * (1 - np.exp(-delta / TAU))), rel=1e-9)
    # The 2001 paper's normalisation (1/tau) * integral is Elephant's divided by sqrt(2): 1 - exp(-delta/tau).
    assert (d / np.sqrt(2)) ** 2 == pytest.approx(1 - np.exp(-delta / TAU), rel=1e-9)


def test_van_rossum_matches_its_defining_integral() -> None:
    """Check the normalisation against the definition itself, by filtering on a fine grid."""
    a, b = np.array([0.2, 0.25, 0.6]), np.array([0.21, 0.5])
    t = np.arange(0.0, 2.0, 1e-6)

    def filtered(train: np.ndarray) -> np.ndarray:
        return sum(np.where(t >= s, np.exp(-(t - s) / TAU), 0.0) for s in train)

    integral = np.sum((filtered(a) - filtered(b)) ** 2) * 1e-6
    assert van_rossum(a, b, TAU, T_STOP) == pytest.approx(np.sqrt(2 / TAU * integral), rel=1e-3)
    assert van_rossum([], [0.5], TAU, T_STOP) == pytest.approx(1.0)


@pytest.mark.parametrize("delta", [0.001, 0.005, 0.0199, 0.03, 0.2])
def test_victor_purpura_single_spike_shift_is_min_of_shift_and_two(delta: float) -> None:
    q = 100.0
    assert victor_purpura([0.3], [0.3 + delta], q, T_STOP) == pytest.approx(min(q * delta, 2.0), abs=1e-12)


def test_victor_purpura_counts_insertions_and_deletions() -> None:
    assert victor_purpura([], [0.1, 0.2, 0.3], 100.0, T_STOP) == 3.0
    assert victor_purpura([0.1], [0.1, 0.9], 100.0, T_STOP) == 1.0


def test_poisson_train_has_unit_fano_and_cv() -> None:
    rng = np.random.default_rng(7)
    duration = 200.0
    train = poisson_train(rng, 50.0, duration)
    assert isi_cv(train) == pytest.approx(1.0, abs=0.05)
    # 400 windows of 0.5 s: the Fano estimate's standard error is about sqrt(2/399) = 0.07.
    assert fano_factor(train, duration, 0.5) == pytest.approx(1.0, abs=0.25)
    assert firing_rate(train, duration) == pytest.approx(len(train) / duration)


def test_regular_train_has_zero_cv_and_zero_fano() -> None:
    train = np.arange(0.0, 10.0, 0.01)
    assert isi_cv(train) == pytest.approx(0.0, abs=1e-9)
    # Windows hold exactly 10 spikes each: spikes on window edges are counted once (half-open bins).
    assert fano_factor(train, 10.0, 0.1) == pytest.approx(0.0, abs=1e-12)


def test_undefined_metrics_are_nan() -> None:
    assert np.isnan(isi_cv([0.5]))
    assert np.isnan(fano_factor([], 1.0, 0.1))
    assert np.isnan(coincidence_fraction([], [0.1], 0.01))
    assert np.isnan(count_correlation([3, 3, 3], [1, 2, 3]))


def test_coincidence_windows_are_inclusive_and_one_sided() -> None:
    dt = 1e-4
    a = np.array([0.1, 0.2, 0.3, 0.4])
    b = a + np.array([dt, -dt, 2 * dt, 0.05])
    assert coincident_count(a, b, dt) == 2  # float shifts of exactly one window count (relative slack)
    steps_a, steps_b = np.rint(a / dt).astype(int), np.rint(b / dt).astype(int)
    assert coincidence_fraction(steps_a, steps_b, 1) == 0.5
    assert coincidence_fraction(steps_a, steps_b, 2) == 0.75
    # Hits of A in B: one spike of B can serve two spikes of A.
    assert coincidence_fraction([0.1, 0.102], [0.101], 0.001) == 1.0
    assert coincidence_fraction([0.101], [0.1, 0.102], 0.001) == 1.0


def test_count_correlation_of_identical_and_scaled_counts() -> None:
    counts = np.array([0, 4, 9, 2, 30])
    assert count_correlation(counts, counts) == pytest.approx(1.0)
    assert count_correlation(counts, 2 * counts + 1) == pytest.approx(1.0)
    assert count_correlation(counts, -counts) == pytest.approx(-1.0)


def test_spike_metrics_table() -> None:
    result = Result(["A", "B"], duration=2.0, dt=1e-3, spike_times={"A": np.arange(0.0, 2.0, 0.1), "B": []})
    table = spike_metrics(result, fano_window_s=0.5)
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", "count"] == 20
    assert table.loc["A", "rate_hz"] == pytest.approx(10.0)
    assert table.loc["A", "isi_cv"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["B", "rate_hz"] == 0.0
    assert np.isnan(table.loc["B", "isi_cv"])


def test_procrustes_similarity_is_one_for_same_shape() -> None:
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=(200, 3)), axis=0)
    rotation = special_ortho_group.rvs(3, random_state=2)
    assert procrustes_similarity(x, x) == pytest.approx(1.0)
    assert procrustes_similarity(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0)
    assert procrustes_similarity(x, x[:, :2] @ rotation[:2, :2]) < 0.999  # a dropped dimension changes shape
    assert procrustes_similarity(x, rng.normal(size=(200, 3))) < 0.5
    with pytest.raises(ValueError, match="time samples"):
        procrustes_similarity(x, x[:-1])


def test_pca_trajectory_is_invariant_to_rotating_neuron_space() -> None:
    rng = np.random.default_rng(3)
    times = np.arange(300) * 1e-3
    latent = np.stack([np.sin(2 * np.pi * 3 * times), np.cos(2 * np.pi * 5 * times)], axis=1)
    rates = latent @ rng.normal(size=(2, 8)) + 0.01 * rng.normal(size=(300, 8))
    names = [f"n{i}" for i in range(8)]
    pca = pca_trajectory(times, rates, names, n_components=3)
    assert pca.scores.shape == (300, 3)
    assert pca.explained_variance_ratio[:2].sum() > 0.99
    rotated = pca_trajectory(times, rates @ special_ortho_group.rvs(8, random_state=4), names, n_components=3)
    assert procrustes_similarity(pca.scores, rotated.scores) == pytest.approx(1.0)


def test_population_similarity_of_a_run_with_itself() -> None:
    rng = np.random.default_rng(5)
    names = [f"n{i}" for i in range(6)]
    spikes = {n: poisson_train(rng, 20.0 + 10 * i, 2.0) for i, n in enumerate(names)}
    run = Result(names, duration=2.0, dt=1e-4, spike_times=spikes)
    times, rates = smoothed_rates(run, sigma_s=0.02, sampling_s=0.002)
    assert rates.shape == (len(times), 6)
    # Kernel rates integrate to the spike count (border losses aside).
    assert rates.sum(axis=0) * 0.002 == pytest.approx([len(spikes[n]) for n in names], rel=0.05)
    assert population_similarity(run, run) == pytest.approx(1.0)
    other = Result(names, 2.0, 1e-4, {n: poisson_train(rng, 30.0, 2.0) for n in names})
    assert population_similarity(run, other) < 0.9


def test_tau_eff_summary() -> None:
    trace = Trace(
        times=[0.0, 0.1, 0.2, 0.3],
        channels=["A", "B"],
        values=[[0.01, 0.02], [0.01, 0.04], [0.01, np.nan], [0.01, 0.06]],
        unit="s",
    )
    table = tau_eff_summary(trace)
    assert table.loc["A", "mean"] == pytest.approx(0.01)
    assert table.loc["A", "std"] == pytest.approx(0.0)
    assert table.loc["B", "median"] == pytest.approx(0.04)
    assert table.loc["B", "max"] == pytest.approx(0.06)
    assert table.loc["all", "min"] == pytest.approx(0.01)
    assert table.loc["all", "mean"] == pytest.approx((4 * 0.01 + 0.12) / 7)
    assert (table["unit"] == "s").all()
