"""Regenerate the numbers and figures of "A whole-worm model fitted to the atlas" (docs/results.md; the text is by hand).

    .venv/bin/python scripts/atlas_fit_results.py [--strains wt unc31] [--folds 5] [--shuffles 20] [--seed 0]
        [--cache out/atlas_fit] [--out docs/figures] [--no-spiking]

Per strain: the study of `wormchip atlas-fit` (cached under --cache; a cached study with the same settings is
reused, so re-plotting does not refit), its JSON copied to <out>/atlas_fit_<strain>.json and its figures
<out>/atlas_fit_<strain>_heldout.png and _trials.png. For wt, then: the spiking check (the fold models as LIF
networks, scored on the same held-out pairs; also at other pulse amplitudes, and the mean-v / free-potential
ratio of stimulated neurons that rules out electrical gap junctions), the library spec
wormchip/circuits/library/whole_worm_fitted.yaml (fit on all wt pairs), its liveliness and its anterior and
posterior touch runs (free potential from the batched LIF, spike rates on Brian2 and the emulator) →
<out>/atlas_fit_spiking.json and atlas_fit_spiking.png; the fixed-point (emulator = Lava) fold models are scored
on spike-rate changes, beside the float LIF scored so.
Data: Randi et al. (2023) Nature 623:406 via the wormneuroatlas package's funatlas.h5 (wormchip/atlasfit).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from wormchip.analysis.atlas import ATLAS_CITATION, _strict  # noqa: E402
from wormchip.atlasfit import evaluate as ev  # noqa: E402
from wormchip.atlasfit import figures, spiking  # noqa: E402
from wormchip.atlasfit.run import FIT_CITATION, atlas_fit, cached_study, save, setup  # noqa: E402
from wormchip.circuits.loader import from_dict, library_path, to_yaml  # noqa: E402

LIBRARY = Path(library_path("whole_worm")).with_name("whole_worm_fitted.yaml")
TOUCH_CITATION = (
    "Chalfie M, Sulston JE, White JG, Southgate E, Thomson JN, Brenner S (1985) The neural circuit for touch "
    "sensitivity in Caenorhabditis elegans. J Neurosci 5:956-964"
)
SWEEP_PA = (20, 80, 320)  # other pulse amplitudes scored beside spiking.PROTOCOL_KW's 160 pA
ROOT = Path(__file__).resolve().parents[1]


def study(strain: str, args: argparse.Namespace) -> tuple[dict, dict]:
    cache = Path(args.cache)
    cached = cached_study(
        cache, strain, {"folds": args.folds, "shuffles": args.shuffles, "seed": args.seed, "bag": 1}
    )
    if cached is not None:
        return cached
    result, arrays = atlas_fit(
        "whole_worm", strain, args.folds, args.shuffles, args.seed,
        progress=lambda label, done, total: print(f"  {strain}: {label} ({done}/{total})", file=sys.stderr),
        bag=1,  # one fit per fold: the tables' first column and the library spec; bagged: atlas_fit_bagged.py
    )  # fmt: skip
    save(cache, result, arrays)
    return result, arrays


def mean_v_ratio(model, stimulated: np.ndarray) -> np.ndarray:
    """Change of mean membrane potential ÷ change of free potential of each stimulated neuron (its own pulse):
    what an electrical gap junction from it would pass, relative to the graded signal."""
    from wormchip.analysis.perturbation import PerturbationProtocol, perturb

    network, where = spiking.network_of(model)
    res = perturb(network, where[stimulated], PerturbationProtocol(**spiking.PROTOCOL_KW))
    own = where[stimulated], np.arange(len(stimulated))
    return res.response["v"][own] / res.response["v_free"][own]


def linear_touch(model) -> dict[str, dict[str, float]]:
    """Steady-state x of each command interneuron in the fitted linear model for a unit drive into the touch
    cells of each site: whether the fitted network itself gives a touch the right sign."""
    from wormchip.circuits.build import TOUCH_SITES

    names = list(model.structure.names)
    out = {}
    for site in spiking.AGONISTS:
        u = np.zeros(len(names))
        u[
            [k for k, n in enumerate(names) if n.rstrip("LR") in TOUCH_SITES[site] or n in TOUCH_SITES[site]]
        ] = 1.0
        x = np.linalg.solve(model.matrix(), u)
        out[site] = {n: float(x[names.index(n)]) for n in spiking.COMMAND}
    return out


def spiking_check(result: dict, out: Path) -> dict:
    """Held-out spiking r (fold models as LIF networks), the library spec, liveliness, touch on two backends."""
    t0 = time.perf_counter()
    network, structure, data = setup("whole_worm", "wt")
    folds = ev.stimulus_folds(data.stimulated, result["folds"], np.random.default_rng(result["seed"]))
    kinds = ("linear", "spiking", "float_rate", "fixed_point", *(f"spiking_{a:g}pA" for a in SWEEP_PA))
    pred = {kind: np.full(len(data.mean), np.nan) for kind in kinds}
    kappa = []
    silent: dict[str, list[int]] = {"nominal": [], "operating_point": []}
    with threadpool_limits(1):
        pairs = ev.fold_pairs(data.stim, folds)
        models = []
        for k, (alpha, (train, test)) in enumerate(zip(result["alphas"], pairs)):
            model = ev._fit(structure, data, train, alpha)
            models.append(model)
            resp, stim = data.resp[test], data.stim[test]
            pred["linear"][test] = model.predict(resp, stim)
            for amplitude in SWEEP_PA:
                kw = {**spiking.PROTOCOL_KW, "amplitude": amplitude * 1e-12}
                pred[f"spiking_{amplitude:g}pA"][test] = spiking.spiking_predictions(model, resp, stim, kw)
            kappa.append(mean_v_ratio(model, np.unique(stim)))
            for label, bias in (("nominal", spiking.synapses(model)[3]), ("operating_point", None)):
                silent[label].append(
                    int(np.sum(spiking.spontaneous_rates(*spiking.network_of(model, bias)) == 0))
                )
            print(f"  spiking check: fold {k + 1}/{len(pairs)}", file=sys.stderr)
        pred.update(spiking.heldout_translation(models, [test for _, test in pairs], data.resp, data.stim))
        full = ev._fit(structure, data, np.arange(len(data.mean)), result["heldout_trials"]["alpha"])
    r = {kind: ev.pearson(p, data.mean) for kind, p in pred.items()}
    r_linear, r_spiking = r["linear"], r["spiking"]
    provenance = (
        f"wormchip.atlasfit, all {len(data.mean)} wt pairs of the atlas (winsorized trial means), tie=class, "
        "touch-circuit signs as bounds (Chalfie et al. 1985), gap prior, stability margin, "
        f"alpha={full.info['alpha']:g}, L-BFGS {full.info['iterations']} iterations; held-out r of the same fit "
        f"{result['heldout_r']:.3f}; biases at the tonic operating point after {spiking.OPERATING_STEPS} Newton "
        "steps (scripts/atlas_fit_results.py)"
    )
    spec = from_dict(spiking.spec_dict(full, provenance, [ATLAS_CITATION, FIT_CITATION, TOUCH_CITATION]))
    LIBRARY.write_text(
        "# whole_worm with weights fitted to the Randi et al. 2023 signal-propagation atlas (wormchip.atlasfit).\n"
        "# Generated by scripts/atlas_fit_results.py; do not edit by hand.\n" + to_yaml(spec)
    )
    classes = list(structure.classes)
    live = spiking.alive(full, data.stimulated, classes)
    atlas_classes = sorted({classes[i] for i in data.resp[data.q < 0.05]})
    touch = {
        site: {on: spiking.touch_reach(str(LIBRARY), on, site) for on in ("free", "brian2", "emulator")}
        for site in spiking.AGONISTS
    }
    change = {
        site: {on: spiking.agonist_change(rates, site) for on, rates in runs.items()}
        for site, runs in touch.items()
    }
    kappa = np.concatenate(kappa)
    report = {
        "linear_heldout_r": r_linear,
        "spiking_r": r_spiking,
        "spiking_fraction": r_spiking / r_linear,
        "pulse_pA": spiking.PROTOCOL_KW["amplitude"] * 1e12,
        "amplitude_sweep": {
            f"{a:g}": {"r": r[f"spiking_{a:g}pA"], "fraction": r[f"spiking_{a:g}pA"] / r_linear}
            for a in SWEEP_PA
        },
        "mean_v_over_free_potential": {
            "median": float(np.median(kappa)),
            "p10": float(np.percentile(kappa, 10)),
            "p90": float(np.percentile(kappa, 90)),
        },
        "silent_neurons_per_fold": silent,
        "full_fit_min_eigenvalue": float(np.linalg.eigvals(full.matrix()).real.min()),
        "linear_touch": linear_touch(full),
        "float_rate_r": r["float_rate"],
        "fixed_point_r": r["fixed_point"],
        "fixed_point_fraction": r["fixed_point"] / r["float_rate"],
        "atlas_responding_classes": len(atlas_classes),
        "silent_atlas_classes": sorted(set(atlas_classes) & set(live["silent"])),
        "touch": touch,
        "touch_agonist_change": change,
        "spec": str(LIBRARY.relative_to(ROOT)),
        "wall_s": time.perf_counter() - t0,
    }
    (out / "atlas_fit_spiking.json").write_text(json.dumps(_strict(report), indent=1))
    figures.plot_spiking(report).savefig(out / "atlas_fit_spiking.png", dpi=110)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strains", nargs="+", default=["wt", "unc31"])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--shuffles", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="out/atlas_fit")
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--no-spiking", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for strain in args.strains:
        result, arrays = study(strain, args)
        (out / f"atlas_fit_{strain}.json").write_text(json.dumps(result, indent=1))
        figures.plot_heldout(result, arrays).savefig(out / f"atlas_fit_{strain}_heldout.png", dpi=110)
        figures.plot_trials(result).savefig(out / f"atlas_fit_{strain}_trials.png", dpi=110)
        print(
            f"{strain}: heldout_r {result['heldout_r']:.3f}, trials fraction {result['heldout_trials_fraction']:.3f}"
        )
        if strain == "wt" and not args.no_spiking:
            print(json.dumps(spiking_check(result, out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
