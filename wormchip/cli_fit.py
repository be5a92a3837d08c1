"""The `wormchip fit` and `wormchip sweep` commands: CMA-ES fits and parameter sweeps on Dask."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def _where(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers", type=_positive_int, help="local Dask worker processes (default: one per core)"
    )
    group.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://10.0.0.1:8786")


def _fit(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from wormchip.fit.engine import convergence_figure, fit
    from wormchip.preflight import check_output

    out = check_output(args.out)
    with Progress(transient=True, disable=args.json or not sys.stderr.isatty()) as progress:
        task = progress.add_task("fit", total=None)

        def report(done: int, total: int, best: float) -> None:
            progress.update(task, completed=done, total=total, description=f"fit: best {best:.4g}")

        result = fit(
            args.spec,
            generations=args.generations,
            popsize=args.popsize,
            workers=args.workers,
            scheduler=args.scheduler,
            resume=args.resume,
            out=out,
            report=report,
        )
    summary = {
        "best_score": result.best_score,
        "generations": result.generations,
        "evaluations": result.evaluations,
        "evals_per_s": result.evals_per_s,
        "best_spec": result.files.get("best_spec"),
        "best_values": result.best_values,
        "wall_s": result.wall_s,
    }
    if out is not None:
        convergence_figure(result.history).savefig(Path(out) / "convergence.png", dpi=110)
        summary["files"] = {**result.files, "convergence": str(Path(out) / "convergence.png")}
        (Path(out) / "fit.json").write_text(json.dumps(summary, indent=1))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"best score {result.best_score:.5g} after {result.generations} generations, {result.evaluations} "
          f"evaluations ({result.evals_per_s:.2f}/s, {result.wall_s:.1f} s)")  # fmt: skip
    for label, value in result.best_values.items():
        print(f"  {label:<44} {value}")
    for kind, path in summary.get("files", {}).items():
        print(f"  {kind}: {path}")
    return 0


def add_fit(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit", help="fit a spec's free parameters (its `fit` section) with CMA-ES on Dask"
    )
    parser.add_argument("spec", help="YAML spec with a `fit` section (or a library circuit that has one)")
    parser.add_argument("--generations", type=_positive_int, help="generations (default: the spec's)")
    parser.add_argument(
        "--popsize", type=_positive_int, help="candidates per generation (default: the spec's)"
    )
    _where(parser)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--out", help="folder for the checkpoint, best_spec.yaml, fit.json, convergence.png")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_fit)


def _sweep(args: argparse.Namespace) -> int:
    from wormchip.circuits.schema import Objective
    from wormchip.fit.sweep import parse_grid, save_sweep, sweep
    from wormchip.preflight import check_output
    from wormchip.simulate import prepare

    out = check_output(args.out)
    grid = parse_grid(args.param)
    spec, base = prepare(args.spec)
    objective = Objective(
        metric=args.metric, world=args.world, episodes=args.episodes, duration=args.duration
    )
    table = sweep(spec, grid, objective, on=args.on, base_dir=str(base) if base else None,
                  workers=args.workers, scheduler=args.scheduler)  # fmt: skip
    files = save_sweep(table, args.metric, Path(out)) if out is not None else {}
    if args.json:
        print(json.dumps({"rows": table.to_dict(orient="records"), "files": files}))
        return 0
    print(table.to_string(index=False))
    for kind, path in files.items():
        print(f"  {kind}: {path}")
    return 0


def add_sweep(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sweep", help="evaluate a world metric over a parameter grid (Dask)")
    parser.add_argument("spec", help="library circuit or YAML spec with world bindings")
    parser.add_argument("--param", action="append", required=True, metavar="PATH=v1,v2",
                        help="a parameter path and its values (repeat for a grid)")  # fmt: skip
    parser.add_argument("--metric", required=True, help="world metric, e.g. chemotaxis_index, or return")
    parser.add_argument("--world", help="binding's world (default: the first)")
    parser.add_argument("--episodes", type=_positive_int, default=2, help="episodes per point (seeds 0 …)")
    parser.add_argument("--duration", help="episode length with unit (default: the binding's)")
    parser.add_argument("--on", default="emulator", choices=["brian2", "emulator"], help="backend")
    _where(parser)
    parser.add_argument("--out", help="folder for sweep.csv and sweep.png")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=_sweep)
