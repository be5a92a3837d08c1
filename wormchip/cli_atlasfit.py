"""`wormchip atlas-fit`: fit the whole-worm model to the Randi et al. 2023 atlas and score it on held-out
experiments (`wormchip.atlasfit`); results cached under --out, so re-plotting does not refit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

STRAIN_NAMES = {"wt": "wt", "unc-31": "unc31", "unc31": "unc31"}
KEYS = ("heldout_r", "fraction_of_ceiling", "auc", "sign_agreement", "fraction_of_reproducibility", "ceiling")


def _atlas_fit(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from wormchip.atlasfit import figures
    from wormchip.atlasfit.data import AtlasFitError
    from wormchip.atlasfit.run import atlas_fit, cached_study, save
    from wormchip.preflight import check_output

    if args.strain not in STRAIN_NAMES:
        raise AtlasFitError(f"unknown strain {args.strain!r}; choose wt or unc-31")
    strain = STRAIN_NAMES[args.strain]
    out = Path(args.out)
    check_output(str(out))
    wanted = {
        "strain": strain,
        "folds": args.folds,
        "shuffles": args.shuffles,
        "seed": args.seed,
        "bag": args.bag,
    }
    cached = None if args.refit else cached_study(out, strain, wanted)
    if cached is not None:
        result, arrays = cached
    else:
        with Progress(transient=True, disable=args.json or not sys.stderr.isatty()) as progress:
            task = progress.add_task("atlas fit", total=None)
            result, arrays = atlas_fit(
                args.circuit, strain, args.folds, args.shuffles, args.seed,
                progress=lambda label, done, total: progress.update(
                    task, description=f"atlas fit: {label}", completed=done, total=total
                ),
                bag=args.bag,
            )  # fmt: skip
        save(out, result, arrays)
    files = {}
    for name, fig in (
        ("heldout", figures.plot_heldout(result, arrays)),
        ("trials", figures.plot_trials(result)),
    ):
        files[name] = str(out / f"atlas_fit_{strain}_{name}.png")
        fig.savefig(files[name], dpi=110)
    if args.json:
        print(json.dumps({**result, "files": files}))
        return 0
    print(f"atlas fit ({strain}): {result['pairs']} pairs, {result['stimulated']} stimulated neurons")
    for key in KEYS:
        print(f"  {key:<28} {result[key]:.3f}")
    for name, b in result["baselines"].items():
        if name == "shuffled_fit" and not b["n"]:
            print(f"  baseline {name:<19} none (--shuffles 0)")
            continue
        value = b.get("r_max", b.get("r"))
        print(f"  baseline {name:<19} r = {value:.3f}" + (" (best shuffle)" if "r_max" in b else ""))
    print(f"  fit wall time              {result['wall_s']:.0f} s; results in {out}")
    return 0


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def add_atlas_fit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "atlas-fit",
        aliases=["fit-atlas"],
        help="fit the whole-worm model to the Randi et al. 2023 atlas; held-out scores vs baselines",
    )
    parser.add_argument("--strain", default="wt", help="wt (default) or unc-31")
    parser.add_argument("--folds", type=_count, default=5, help="folds over stimulated neurons (default 5)")
    parser.add_argument("--shuffles", type=_count, default=20, help="shuffled-connectome fits (default 20)")
    parser.add_argument("--seed", type=_count, default=0, help="seed for folds, splits and shuffles")
    parser.add_argument(
        "--bag",
        type=_count,
        default=4,
        help="fits per bagged model (default 4; 1: one fit per fold); whether a fold bags, each fit seeing half "
        "its training stimulations, is chosen by nested CV",
    )
    parser.add_argument("--circuit", default="whole_worm", help="circuit whose wiring is fitted")
    parser.add_argument("--out", default="out/atlas_fit", help="folder for the cached results and figures")
    parser.add_argument("--refit", action="store_true", help="fit again even if cached results exist")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_atlas_fit)
