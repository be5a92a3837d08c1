"""`atlas_fit`: the whole study for one strain (ceiling, fit, held-out evaluations, baselines, shuffles), cached.

Results go to `<out>/atlas_fit_<strain>.json` (the numbers, JSON keys as in docs/results.md) and
`<out>/atlas_fit_<strain>.npz` (per-pair predictions of the model and every baseline),
so figures are redrawn from the cache without refitting. BLAS runs on one thread: a 302 × 302 LU took 54 ms
with OpenBLAS's two threads on this loaded 2-core machine and 1.7 ms with one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from wormchip import ir
from wormchip.analysis.atlas import ATLAS_CITATION, STRAINS, _strict, empirical_p
from wormchip.atlasfit import evaluate as ev
from wormchip.atlasfit import spiking
from wormchip.atlasfit.data import AtlasFitError, TrialData, load_trials, reproducibility
from wormchip.atlasfit.model import Structure

Progress = Callable[[str, int, int], None]
FIT_CITATION = (
    "Creamer MS, Leifer AM, Pillow JW (2024) Bridging the gap between the connectome and whole-brain "
    "activity in C. elegans. bioRxiv doi:10.1101/2024.09.22.614271"
)


def setup(circuit: str | ir.Network, strain: str) -> tuple[ir.Network, Structure, TrialData]:
    """Built network, its structure (edges, classes; touch-circuit signs imposed) and the strain's atlas pairs
    in its neuron order."""
    from wormchip import worm_connectome
    from wormchip.circuits.build import build
    from wormchip.circuits.loader import load_spec

    if strain not in STRAINS:
        raise AtlasFitError(f"unknown strain {strain!r}; choose one of {', '.join(STRAINS)}")
    network = circuit if isinstance(circuit, ir.Network) else build(load_spec(circuit))
    connectome = worm_connectome.load()
    known = set(connectome.neurons)
    if not any(n in known for n in network.names):
        raise AtlasFitError(
            f"circuit {network.name!r} has none of the atlas neurons (named as connectome neurons, e.g. AVAL); "
            "use whole_worm"
        )
    classes = [connectome.neuron_class(n) if n in known else n for n in network.names]
    data = load_trials(strain, tuple(network.names))
    return network, Structure.from_network(network, classes).with_touch_signs(), data


def atlas_fit(
    circuit: str | ir.Network = "whole_worm",
    strain: str = "wt",
    folds: int = 5,
    shuffles: int = 20,
    seed: int = 0,
    splits: int = 3,
    inner_k: int = 2,
    progress: Progress | None = None,
    bag: int = 4,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Run the study; returns (JSON-ready numbers, per-pair arrays). `progress(label, done, total)`. `bag` > 1:
    each fold's model (real, all-to-all and shuffled alike) may be a bag of that many fits to random shares of
    its training stimulations, the share (`evaluate.BAG_FRACTIONS`) chosen by the nested CV."""
    from wormchip.analysis.perturbation import perturb
    from wormchip.analysis.shuffle import shuffle_network

    t0 = time.perf_counter()
    network, structure, data = setup(circuit, strain)
    if shuffles < 0:
        raise AtlasFitError(f"--shuffles must be ≥ 0, not {shuffles}")
    if bag < 1:
        raise AtlasFitError(f"--bag must be ≥ 1 (1: no bagging), not {bag}")
    rng = np.random.default_rng(seed)
    outer = ev.stimulus_folds(data.stimulated, folds, rng)
    total = 2 * folds + splits + shuffles + 3
    done = 0

    def step(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(label, done, total)

    with threadpool_limits(1):
        repro = reproducibility(data.trials, splits=20, seed=seed)
        ceiling = repro["ceiling"]
        bagging = {"bag": bag, "fractions": ev.BAG_FRACTIONS}
        real = ev.crossval(
            structure, data, outer, ev.ALPHAS, inner_k, seed, step=lambda: step("fit (nested CV)"), **bagging
        )
        tests = [test for _, test in ev.fold_pairs(data.stim, outer)]
        translated = spiking.heldout_translation(real.models, tests, data.resp, data.stim)
        step("spiking and chip")
        alpha_trials = float(np.exp(np.median(np.log(real.alphas))))
        trial_runs = []
        for s in range(splits):
            trial_runs.append(
                ev.heldout_trials(structure, data, alpha_trials, np.random.default_rng([seed, s]))
            )
            step("held-out trials")
        free = ev.crossval(
            Structure.all_to_all(structure.names, structure.classes), data, outer, ev.ALPHAS, inner_k, seed,
            step=lambda: step("all-to-all fit"), sign_prior=False, **bagging,
        )  # fmt: skip
        response = perturb(network, data.stimulated).response["v_free"]
        column = np.full(structure.n, -1)
        column[data.stimulated] = np.arange(len(data.stimulated))
        unfitted = response[data.resp, column[data.stim]]
        step("unfitted model")
        null_r, null_trials = [], []
        for k, child in enumerate(np.random.SeedSequence(seed).spawn(shuffles)):
            shuffled = Structure.from_network(
                shuffle_network(network, np.random.default_rng(child)), structure.classes
            ).with_touch_signs()
            run = ev.crossval(
                shuffled, data, outer, [[a] for a in real.alphas], inner_k, seed,
                bag=bag, fractions=[[f] for f in real.fractions],
            )  # fmt: skip
            null_r.append(ev.pearson(run.prediction, data.mean))
            tr = ev.heldout_trials(shuffled, data, alpha_trials, np.random.default_rng([seed, k % splits]))
            null_trials.append(tr["fraction"])
            step(f"shuffle {k + 1}/{shuffles}")
    bias = ev.bias_only(data, outer)
    anat = ev.anatomy(structure, data)
    fraction = float(np.mean([t["fraction"] for t in trial_runs]))
    main = ev.scores(real.prediction, data, ceiling)
    baselines = {
        "anatomy": ev.scores(anat, data, ceiling),
        "unfitted": ev.scores(unfitted, data, ceiling),
        "bias_only": ev.scores(bias, data, ceiling),
        "unconstrained": {
            **ev.scores(free.prediction, data, ceiling),
            "alphas": free.alphas,
            "bag_fractions": free.fractions,
        },
        "shuffled_fit": {
            "n": shuffles,
            "r": null_r,
            "r_mean": float(np.mean(null_r)) if null_r else float("nan"),
            "r_max": float(np.max(null_r)) if null_r else float("nan"),
            "p": empirical_p(main["r"], np.array(null_r)),
            "trials_fraction": null_trials,
            "trials_fraction_max": float(np.max(null_trials)) if null_trials else float("nan"),
            "trials_p": empirical_p(fraction, np.array(null_trials)),
        },
    }
    result = {
        "strain": strain,
        "circuit": network.name,
        "folds": folds,
        "inner_folds": inner_k,
        "shuffles": shuffles,
        "seed": seed,
        "pairs": int(len(data.mean)),
        "stimulated": int(len(data.stimulated)),
        "winsor_limits": list(data.limits),
        "reproducibility": repro,
        "ceiling": ceiling,
        "heldout_r": main["r"],
        "fraction_of_ceiling": main["fraction_of_ceiling"],
        "heldout_r_over_half_r": main["r"] / repro["half_r"],
        "auc": main["auc"],
        "sign_agreement": main["sign_agreement"],
        "sign_chance": main["sign_chance"],
        "spiking_r": ev.pearson(translated["spiking"], data.mean),
        "float_rate_r": ev.pearson(translated["float_rate"], data.mean),
        "fixed_point_r": ev.pearson(translated["fixed_point"], data.mean),
        "alphas": real.alphas,
        "bag": bag,
        "bag_fractions": real.fractions,
        "fraction_of_reproducibility": fraction,
        "heldout_trials_fraction": fraction,
        "heldout_trials": {"alpha": alpha_trials, "splits": trial_runs},
        "baselines": baselines,
        "wall_s": time.perf_counter() - t0,
        "citation": [ATLAS_CITATION, FIT_CITATION],
    }
    arrays = {
        "resp": data.resp,
        "stim": data.stim,
        "measured": data.mean,
        "q": data.q,
        "model": real.prediction,
        "anatomy": anat,
        "unfitted": unfitted,
        "bias_only": bias,
        "unconstrained": free.prediction,
        **{f"model_{kind}": values for kind, values in translated.items()},
    }
    return _strict(result), arrays


def cache_paths(out: Path, strain: str) -> tuple[Path, Path]:
    return out / f"atlas_fit_{strain}.json", out / f"atlas_fit_{strain}.npz"


def save(out: Path, result: dict, arrays: dict[str, np.ndarray]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    js, npz = cache_paths(out, result["strain"])
    js.write_text(json.dumps(result, indent=1, allow_nan=False))
    np.savez_compressed(npz, **arrays)


def cached_study(out: Path, strain: str, settings: dict) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The cached study of `strain` under `out` if it ran with `settings` (one from before bagging counts as
    `bag` 1), else None."""
    cached = load_cached(out, strain)
    if cached is None or any(cached[0].get(k, 1 if k == "bag" else None) != v for k, v in settings.items()):
        return None
    return cached


def load_cached(out: Path, strain: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    """The cached study of `strain` under `out`, or None."""
    js, npz = cache_paths(out, strain)
    if not (js.exists() and npz.exists()):
        return None
    with np.load(npz) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(js.read_text()), arrays
