"""CLI commands of the analysis layer: `wormchip compare` and `wormchip atlas-compare`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _notice(line: str) -> None:
    """A one-line notice on stderr (a long estimated run)."""
    print(f"wormchip: {line}", file=sys.stderr)


def _compare(args: argparse.Namespace) -> int:
    from wormchip.analysis.compare import compare
    from wormchip.pipeline import run_circuit
    from wormchip.preflight import check_output

    check_output(args.out)
    results = []
    for on in (args.a, args.b):
        results.append(
            run_circuit(
                args.circuit,
                on=on,
                duration=args.duration,
                target=args.target,
                force=args.force,
                notify=_notice,
            )
        )
    # The same backend twice is a determinism check; the runs still need distinct labels.
    labels = (args.a, args.b) if args.a != args.b else (f"{args.a}-1", f"{args.b}-2")
    comparison = compare(*results, labels=labels)
    summary = comparison.to_dict()
    summary["circuit"] = args.circuit
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(summary, indent=1))
        files = {}
        for name, fig in comparison.figures().items():
            files[name] = str(out / f"{name}.png")
            fig.savefig(files[name], dpi=110)
        summary["files"] = files
    if args.json:
        print(json.dumps(summary))
        return 0
    s = comparison.summary
    print(f"{args.circuit}: {labels[0]} vs {labels[1]}")
    for key, value in s.items():
        if isinstance(value, float):
            print(f"  {key:<32} {value:.4g}")
        elif isinstance(value, int | str):
            print(f"  {key:<32} {value}")
    for kind, path in summary.get("files", {}).items():
        print(f"  {kind}: {path}")
    return 0


def add_compare(subparsers: argparse._SubParsersAction) -> None:
    from wormchip.pipeline import BACKENDS

    parser = subparsers.add_parser("compare", help="run a circuit on two backends and compare the runs")
    parser.add_argument("circuit", help="library circuit name or YAML spec file")
    parser.add_argument("--a", default="brian2", choices=BACKENDS, help="first backend (default brian2)")
    parser.add_argument("--b", required=True, choices=BACKENDS, help="second backend")
    parser.add_argument("--duration", help="simulated time with unit (default: the spec's)")
    parser.add_argument("--target", choices=["numpy", "cython", "cpp_standalone"], help="Brian2 code target")
    parser.add_argument("--out", help="folder for compare.json and figures")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--force", action="store_true", help="run even if the estimated memory or time exceeds this machine"
    )
    parser.set_defaults(handler=_compare)


def _atlas_compare(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from wormchip.analysis.atlas import atlas_compare
    from wormchip.preflight import check_output, check_shuffles

    check_output(args.out)
    check_shuffles(args.shuffles, force=args.force, notify=_notice)
    with Progress(transient=True, disable=args.json or not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"atlas comparison ({args.shuffles} shuffles)", total=args.shuffles + 1)
        comparison = atlas_compare(
            circuit=args.circuit,
            shuffles=args.shuffles,
            seed=args.seed,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    summary = comparison.to_dict()
    if args.out:
        from wormchip.analysis.atlas import plot_null, plot_scatter

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "atlas.json").write_text(json.dumps(summary, indent=1))
        for name, fig in (("atlas_null", plot_null(comparison)), ("atlas_scatter", plot_scatter(comparison))):
            fig.savefig(out / f"{name}.png", dpi=110)
        summary["files"] = {"report": str(out / "atlas.json")}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(
        f"{args.circuit} vs Randi et al. 2023 atlas ({summary['pairs']} measured pairs, {args.shuffles} shuffles)"
    )
    for key in ("sign_agreement", "spearman_r", "auc"):
        p, value = summary["null_p"].get(key), summary[key]
        text = f"{value:.3f}" if value is not None else "undefined"
        if p is not None:
            text += f"   null p = {p:.3g}"
        elif args.shuffles == 0:
            text += "   null p undefined (0 shuffles)"
        print(f"  {key:<16} {text}")
    return 0


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0, got {value}")
    return value


def _seed(text: str) -> int:
    """A seed within the bounds a spec's `run.seed` accepts."""
    from wormchip.circuits.schema import MAX_SEED

    value = _non_negative(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be ≤ {MAX_SEED:,}, got {value}")
    return value


def add_atlas_compare(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "atlas-compare",
        help="simulate the Randi et al. 2023 signal-propagation experiment and compare with the measured atlas",
    )
    parser.add_argument("--circuit", default="whole_worm", help="circuit to perturb (default whole_worm)")
    parser.add_argument(
        "--shuffles", type=_non_negative, default=100, help="degree-preserving null shuffles (default 100)"
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed for the shuffles")
    parser.add_argument("--out", help="folder for atlas.json and figures")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--force", action="store_true", help="run even if the estimated time exceeds the limit (1 h)"
    )
    parser.set_defaults(handler=_atlas_compare)
