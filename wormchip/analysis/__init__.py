"""Spike and population metrics for wormchip runs, and `compare` for two runs (Elephant/Neo underneath)."""

from wormchip.analysis.compare import Comparison, compare
from wormchip.analysis.metrics import (
    coincidence_fraction,
    coincident_count,
    count_correlation,
    fano_factor,
    firing_rate,
    isi_cv,
    spike_metrics,
    to_spiketrain,
    van_rossum,
    victor_purpura,
)
from wormchip.analysis.population import (
    PCATrajectory,
    pca_trajectory,
    population_similarity,
    procrustes_similarity,
    smoothed_rates,
    tau_eff_summary,
)

__all__ = [
    "Comparison",
    "PCATrajectory",
    "coincidence_fraction",
    "coincident_count",
    "compare",
    "count_correlation",
    "fano_factor",
    "firing_rate",
    "isi_cv",
    "pca_trajectory",
    "population_similarity",
    "procrustes_similarity",
    "smoothed_rates",
    "spike_metrics",
    "tau_eff_summary",
    "to_spiketrain",
    "van_rossum",
    "victor_purpura",
]
