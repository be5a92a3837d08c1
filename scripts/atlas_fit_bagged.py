"""The bagged atlas fit (`wormchip atlas-fit --bag B`) carried to spikes and the chip, for docs/results.md.

    .venv/bin/python scripts/atlas_fit_bagged.py --cache out/atlas_fit_bag4 [--strains wt unc31] [--out docs/figures]

Per strain: the cached bagged study's JSON and held-out figure copied to <out>/atlas_fit_<strain>_bag<B>.json
and _heldout.png. For wt, then: each fold's bag is refitted exactly as the study fitted it (same α, share and
seeds), every member becomes a LIF network (`wormchip.atlasfit.spiking`), and the fold's spiking prediction is its
members' mean, as the linear one is; the fixed-point (emulator = Lava) members likewise, on spike-rate changes
beside the float LIF scored so → <out>/atlas_fit_spiking_bag<B>.json.
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

from wormchip.analysis.atlas import _strict  # noqa: E402
from wormchip.atlasfit import evaluate as ev  # noqa: E402
from wormchip.atlasfit import figures, spiking  # noqa: E402
from wormchip.atlasfit.run import load_cached, setup  # noqa: E402

KINDS = ("linear", "spiking", "float_rate", "fixed_point")


def bagged_spiking_check(result: dict) -> dict:
    """Held-out r of the bagged fold models: linear, spiking (free potential), float LIF and chip spike rates."""
    t0 = time.perf_counter()
    _, structure, data = setup("whole_worm", "wt")
    folds = ev.stimulus_folds(data.stimulated, result["folds"], np.random.default_rng(result["seed"]))
    pred = {kind: np.full(len(data.mean), np.nan) for kind in KINDS}
    with threadpool_limits(1):
        pairs = ev.fold_pairs(data.stim, folds)
        settings = zip(result["alphas"], result["bag_fractions"], pairs)
        for k, (alpha, fraction, (train, test)) in enumerate(settings):
            model = ev._fit_bagged(structure, data, train, alpha, result["bag"], fraction, result["seed"] + k)
            members = model.members if isinstance(model, ev.Bagged) else (model,)
            resp, stim = data.resp[test], data.stim[test]
            runs = {
                "linear": [m.predict(resp, stim) for m in members],
                "spiking": [spiking.spiking_predictions(m, resp, stim) for m in members],
                "float_rate": [spiking.rate_predictions(m, resp, stim, "float") for m in members],
                "fixed_point": [spiking.rate_predictions(m, resp, stim, "emulator") for m in members],
            }
            for kind, values in runs.items():
                pred[kind][test] = np.mean(values, axis=0)
            print(
                f"  bagged spiking check: fold {k + 1}/{len(pairs)} ({len(members)} members)", file=sys.stderr
            )
    r = {kind: ev.pearson(p, data.mean) for kind, p in pred.items()}
    return {
        "bag": result["bag"],
        "bag_fractions": result["bag_fractions"],
        "linear_heldout_r": r["linear"],
        "study_heldout_r": result["heldout_r"],
        "spiking_r": r["spiking"],
        "spiking_fraction": r["spiking"] / r["linear"],
        "pulse_pA": spiking.PROTOCOL_KW["amplitude"] * 1e12,
        "float_rate_r": r["float_rate"],
        "fixed_point_r": r["fixed_point"],
        "fixed_point_fraction": r["fixed_point"] / r["float_rate"],
        "fixed_point_over_spiking": r["fixed_point"] / r["spiking"],
        "wall_s": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strains", nargs="+", default=["wt", "unc31"])
    parser.add_argument("--cache", required=True, help="the --out folder of `wormchip atlas-fit --bag B`")
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--no-spiking", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for strain in args.strains:
        cached = load_cached(Path(args.cache), strain)
        if cached is None or cached[0].get("bag", 1) < 2:
            print(
                f"no bagged {strain} study under {args.cache}: run `wormchip atlas-fit --bag 4 --out {args.cache}`"
            )
            return 2
        result, arrays = cached
        stem = f"atlas_fit_{strain}_bag{result['bag']}"
        (out / f"{stem}.json").write_text(json.dumps(result, indent=1))
        figures.plot_heldout(result, arrays).savefig(out / f"{stem}_heldout.png", dpi=110)
        print(f"{strain}, bag {result['bag']}: heldout_r {result['heldout_r']:.3f}")
        if strain == "wt" and not args.no_spiking:
            report = _strict(bagged_spiking_check(result))
            (out / f"atlas_fit_spiking_bag{result['bag']}.json").write_text(json.dumps(report, indent=1))
            print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
