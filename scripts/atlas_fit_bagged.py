"""Copy the bagged atlas-fit studies (`wormchip atlas-fit --bag B`) into docs/figures for docs/results.md.

    .venv/bin/python scripts/atlas_fit_bagged.py --cache out/atlas_fit_bag4 [--strains wt unc31] [--out docs/figures]

Per strain: the cached study's JSON (held-out scores, baselines, and the fold models carried to spikes and the
chip: `spiking_r`, `float_rate_r`, `fixed_point_r`) and its held-out figure, as <out>/atlas_fit_<strain>_bag<B>.json
and _heldout.png, beside the one-fit-per-fold study of scripts/atlas_fit_results.py.
Data: Randi et al. (2023) Nature 623:406 via the wormneuroatlas package's funatlas.h5 (wormchip/atlasfit).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from wormchip.atlasfit import figures  # noqa: E402
from wormchip.atlasfit.run import load_cached  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strains", nargs="+", default=["wt", "unc31"])
    parser.add_argument("--cache", required=True, help="the --out folder of `wormchip atlas-fit --bag B`")
    parser.add_argument("--out", default="docs/figures")
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
        print(
            f"{strain}, bag {result['bag']}: heldout_r {result['heldout_r']:.3f}, spiking_r "
            f"{result['spiking_r']:.3f}, fixed_point_r {result['fixed_point_r']:.3f} (float rate "
            f"{result['float_rate_r']:.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
