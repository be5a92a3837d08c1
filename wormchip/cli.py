"""``wormchip`` command line. Each subcommand is registered by its own ``_add_<name>(subparsers)`` function.

User errors (WormchipError, bad arguments) print one line ``wormchip: error: ...`` on stderr and exit 2;
``--debug`` (anywhere on the command line) re-raises them to show the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from wormchip.errors import WormchipError

Handler = Callable[[argparse.Namespace], int]


class _UsageError(WormchipError):
    """Argument parsing failed (argparse would otherwise print usage and call sys.exit)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{message} (see '{self.prog} --help')")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every `finally` runs (e.g. the Lava worker's process group is reaped)."""

    signum = signal.SIGTERM


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM kills at once (Lava's worker cleans up itself)
    raise _Terminated()


def _print_connectome_summary(summary: dict) -> None:
    print(f"{summary['title']} [{summary['dataset']}]")
    print(f"  {summary['citation']}")
    print(f"  neurons: {summary['neurons']} ({summary['connected_neurons']} with at least one connection)")
    print(f"  chemical: {summary['chemical_edges']} edges, {summary['chemical_contacts']} contacts")
    print(f"  gap junctions: {summary['gap_edges']} pairs, {summary['gap_contacts']} contacts")
    print(f"  weights: {summary['weights']}")
    signs = summary["sign_counts"]
    rules = ", ".join(f"{rule} {n}" for rule, n in summary["sign_rules"].items())
    print(f"  signs: {signs['excitatory']} excitatory, {signs['inhibitory']} inhibitory (rules: {rules})")


def _connectome(args: argparse.Namespace) -> int:
    from wormchip.worm_connectome import load

    summary = load(args.dataset).summary()
    if args.json:
        print(json.dumps(summary))
    else:
        _print_connectome_summary(summary)
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from wormchip.worm_connectome import list_datasets

    for info in list_datasets():
        print(f"{info.key:<14} {info.title}")
        print(f"{'':<14} {info.citation}")
    return 0


def _add_datasets(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("datasets", help="list the connectome datasets with citations")
    parser.set_defaults(handler=_datasets)


def _add_connectome(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("connectome", help="summarise one connectome dataset")
    parser.add_argument("--dataset", default="cook2019", help="dataset key (see 'wormchip datasets')")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=_connectome)


def _circuits(args: argparse.Namespace) -> int:
    from wormchip.circuits.loader import library_names, load_spec

    for name in library_names():
        spec = load_spec(name)
        print(f"{name:<16} {textwrap.shorten(spec.metadata.description, 100)}")
    return 0


def _add_circuits(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("circuits", help="list the circuits shipped in the library")
    parser.set_defaults(handler=_circuits)


def _progress(quiet: bool):
    """A rich progress bar on stderr (hidden with --json or when stderr is not a terminal)."""
    from rich.progress import Progress

    return Progress(transient=True, disable=quiet or not sys.stderr.isatty())


def _run_summary(result, files: dict) -> dict:
    """The JSON object `simulate` and `run` print."""
    return {
        "circuit": result.metadata.get("circuit"),
        "backend": result.metadata.get("backend", "brian2"),
        "duration_s": result.duration,
        "dt_s": result.dt,
        "seed": result.metadata.get("seed"),
        "target": result.metadata.get("target"),
        "target_choice": result.metadata.get("target_choice"),
        "spike_counts": result.spike_counts(),
        "rates_hz": result.rates_hz(),
        "wall_s": result.metadata.get("wall_s", result.metadata.get("wall_time_s")),
        "files": {k: str(v) for k, v in files.items()},
    }


def _print_run(summary: dict, n_neurons: int) -> None:
    active = {n: c for n, c in summary["spike_counts"].items() if c}
    wall = summary["wall_s"]
    where = summary["target"] or summary["backend"]
    print(f"{summary['circuit']}: {summary['duration_s']:g} s simulated in {wall:.2f} s ({where})")
    if (summary.get("target_choice") or "").startswith("auto"):
        print(f"  {summary['target_choice']}")
    print(f"  {sum(active.values())} spikes from {len(active)} of {n_neurons} neurons")
    for name, count in sorted(active.items(), key=lambda x: -x[1])[:12]:
        print(f"  {name:<8} {count:>6} spikes  {summary['rates_hz'][name]:8.2f} Hz")
    for kind, path in summary["files"].items():
        print(f"  {kind}: {path}")


def _notice(line: str) -> None:
    """A one-line notice on stderr (e.g. a long estimated run), so long work never starts silently."""
    print(f"wormchip: {line}", file=sys.stderr)


def _stage_shower(progress, task, label: str) -> Callable[[str], None]:
    """Show each stage of a Lava run in the progress bar's text and advance the bar one stage at a time."""

    def show(text: str) -> None:
        from wormchip.backends.lava_runner import STAGES  # only imported once a Lava run reports

        progress.update(task, description=f"{label}: {text}", advance=1 / len(STAGES))

    return show


def _ablate_list(text: str | None) -> list[str] | None:
    return [a.strip() for a in text.split(",") if a.strip()] if text else None


def _simulate(args: argparse.Namespace) -> int:
    """`simulate` is `run --on brian2` with output in out/<circuit>."""
    args.on, args.cores_for = "brian2", None
    args.out = args.out or f"out/{Path(args.circuit).stem}"
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from wormchip import plots
    from wormchip.pipeline import run_circuit
    from wormchip.preflight import check_output

    out = check_output(args.out or f"out/{Path(args.circuit).stem}-{args.on}")
    with _progress(args.json) as progress:
        task = progress.add_task(f"running {args.circuit} on {args.on}", total=1.0)
        result = run_circuit(
            args.circuit,
            on=args.on,
            duration=args.duration,
            dt=args.dt,
            seed=args.seed,
            ablate=_ablate_list(args.ablate),
            target=args.target,
            report=lambda done: progress.update(task, completed=done),
            cores_for=args.cores_for,
            force=args.force,
            notify=_notice,
            stage=_stage_shower(progress, task, f"running {args.circuit} on {args.on}"),
        )
    files = {"result": result.save(out / "result.h5")}
    fig = plots.raster(result)
    files["raster"] = out / "raster.png"
    fig.savefig(files["raster"], dpi=120)
    plt.close(fig)
    summary = _run_summary(result, files)
    if args.json:
        print(json.dumps(summary))
    else:
        _print_run(summary, len(result.neuron_names))
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("circuit", help="library circuit name (see 'wormchip circuits') or a YAML spec file")
    parser.add_argument("--duration", help="simulated time with unit, e.g. '2 s' (default: the spec's)")
    parser.add_argument("--dt", help="time step with unit, e.g. '0.1 ms' (default: the spec's)")
    parser.add_argument("--seed", type=int, help="random seed (default: the spec's)")
    parser.add_argument("--ablate", help="comma-separated neurons or classes to remove, e.g. AVD,PVC")
    parser.add_argument("--out", help="output folder for result.h5 and raster.png (default: out/<circuit>)")
    parser.add_argument(
        "--target", choices=["numpy", "cython", "cpp_standalone", "auto"], help="Brian2 code target"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--force", action="store_true", help="run even if the estimated memory or time exceeds this machine"
    )


def _add_run(subparsers: argparse._SubParsersAction) -> None:
    from wormchip.pipeline import BACKENDS

    parser = subparsers.add_parser(
        "run", help="run a circuit on brian2, nengo, lava or emulator (the last two: compiled fixed point)"
    )
    _add_run_options(parser)
    parser.add_argument("--on", choices=BACKENDS, default="brian2", help="backend (default: brian2)")
    parser.add_argument(
        "--cores-for",
        metavar="TARGET",
        help="with --on lava: partition for TARGET (loihi1, loihi2, FILE) and run one Lava process group per core",
    )
    parser.set_defaults(handler=_run)


def _add_simulate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulate", help="run a circuit in Brian2 (library name or YAML file)")
    _add_run_options(parser)
    parser.set_defaults(handler=_simulate)


def _demo(args: argparse.Namespace) -> int:
    from wormchip.demo import run_demo
    from wormchip.preflight import check_output

    check_output(args.out)
    run_demo(out=args.out, shuffles=args.shuffles)
    return 0


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="the flagship pipeline end to end; writes out/demo/report.html (a few minutes)"
    )
    parser.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    parser.add_argument("--shuffles", type=int, default=20, help="null shuffles for the atlas comparison")
    parser.set_defaults(handler=_demo)


def _version_line() -> str:
    """`wormchip --version`: the package version and the Python running it."""
    from wormchip import __version__

    return f"wormchip {__version__} (Python {sys.version.split()[0]})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wormchip", description="C. elegans-inspired spiking circuits.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("--version", action="version", version=_version_line())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    from wormchip import cli_analysis, cli_compile, cli_episode, cli_fit, cli_interop

    for add in (
        _add_datasets,
        _add_connectome,
        _add_circuits,
        _add_simulate,
        _add_run,
        cli_compile.add_compile,
        cli_compile.add_export,
        cli_interop.add_import,
        cli_analysis.add_compare,
        cli_analysis.add_atlas_compare,
        __import__("wormchip.cli_atlasfit").cli_atlasfit.add_atlas_fit,
        cli_episode.add_episode,
        cli_fit.add_fit,
        cli_fit.add_sweep,
        _add_demo,
    ):
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script passes it to sys.exit)."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # honoured anywhere on the line, also when parsing fails
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main_thread else None
    try:
        args = build_parser().parse_args([arg for arg in argv if arg != "--debug"])
        handler: Handler = args.handler
        return handler(args)
    except WormchipError as error:
        if debug:
            raise
        print(f"wormchip: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: the `finally` blocks have cleaned up
        if debug:
            raise
        signum = getattr(interrupt, "signum", signal.SIGINT)
        print(f"wormchip: interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        return 128 + signum
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly (recipe from the Python docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())
