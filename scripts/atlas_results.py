"""Regenerate the "Biology vs model: the signal-propagation atlas" figures of docs/results.md.

    .venv/bin/python scripts/atlas_results.py [--circuit whole_worm] [--shuffles 100] [--seed 0]
        [--measure v_free] [--glutamate inhibitory|excitatory] [--out docs/figures]

Writes <out>/atlas_<measure>.json (all statistics, null summaries, p values, wt vs unc-31, timing) and, for
the default measure, <out>/atlas_null.png and <out>/atlas_scatter.png. Data: Randi et al. (2023) Nature
623:406, via the wormneuroatlas package's funatlas.h5 (see wormchip/analysis/atlas.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from wormchip.analysis.atlas import atlas_compare, plot_null, plot_scatter  # noqa: E402
from wormchip.circuits.build import build  # noqa: E402
from wormchip.circuits.loader import load_spec  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circuit", default="whole_worm")
    parser.add_argument("--shuffles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", default="v_free", choices=["v_free", "v", "rate"])
    parser.add_argument(
        "--glutamate", choices=["inhibitory", "excitatory"], help="override the circuit's glutamate sign"
    )
    parser.add_argument("--out", default="docs/figures")
    parser.add_argument("--no-figures", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} runs, {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr, flush=True)

    network = None
    if args.glutamate:
        spec = load_spec(args.circuit)
        for conn in spec.connections:
            conn.glutamate = args.glutamate
        network = build(spec)
    comparison = atlas_compare(
        args.circuit,
        shuffles=args.shuffles,
        seed=args.seed,
        measure=args.measure,
        progress=progress,
        network=network,
    )
    print(file=sys.stderr)
    data = comparison.to_dict()
    suffix = f"_glutamate_{args.glutamate}" if args.glutamate else ""
    (out / f"atlas_{args.measure}{suffix}.json").write_text(json.dumps(data, indent=1) + "\n")
    if not args.no_figures and not args.glutamate:
        plot_null(comparison).savefig(out / "atlas_null.png", dpi=80)
        plot_scatter(comparison).savefig(out / "atlas_scatter.png", dpi=80)
    summary = {k: data[k] for k in ("pairs", "sign_agreement", "spearman_r", "auc", "null_p")}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
