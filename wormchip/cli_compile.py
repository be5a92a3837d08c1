"""CLI commands of the compiler: `wormchip compile` (resource report) and `wormchip export` (NIR)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _compile(args: argparse.Namespace) -> int:
    from wormchip.pipeline import compile_circuit
    from wormchip.preflight import check_output

    check_output(args.out)
    energy = None
    if args.per_inference:
        from wormchip.closed_loop.episode import run_episode
        from wormchip.pipeline import closed_loop_energy

        episode = run_episode(
            args.circuit, args.per_inference, on="emulator", seed=args.seed, duration=args.duration
        )
        compiled, energy = closed_loop_energy(
            args.circuit, episode.result, episode.control_period, target=args.target, method=args.method
        )
    else:
        compiled = compile_circuit(
            args.circuit, target=args.target, method=args.method, duration=args.duration, force=args.force
        )
    report = compiled.report
    summary = report.to_dict()
    if energy is not None:
        summary["per_inference"] = {"world": args.per_inference, "seed": args.seed, **energy.to_dict()}
    summary["quantization"] = {
        name: {"max_rel": e.max, "rms_rel": e.rms} for name, e in compiled.quantization.errors.items()
    }
    summary["approximations"] = [
        {"feature": a.feature, "elements": list(a.elements), "note": a.note}
        for a in compiled.lowered.approximations
    ]
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compile.json").write_text(json.dumps(summary, indent=1, default=float))
        from wormchip.mappers.report import plot_core_map

        plot_core_map(
            compiled.partition, compiled.placement, compiled.profile, compiled.graph, compiled.rates
        ).savefig(out / "core_map.png", dpi=110)
        summary["files"] = {"report": str(out / "compile.json"), "core_map": str(out / "core_map.png")}
    if args.json:
        print(json.dumps(summary, default=float))
        return 0
    print(report.to_table())
    if energy is not None:
        print(f"closed loop in {args.per_inference} (emulator, seed {args.seed}); see docs/compiler.md")
        print(energy.to_table())
    if compiled.lowered.approximations:
        print("approximations (see docs/compiler.md):")
        for a in compiled.lowered.approximations:
            print(f"  {a.feature}: {a.note} ({len(a.elements)} element(s))")
    for kind, path in summary.get("files", {}).items():
        print(f"  {kind}: {path}")
    return 0


def add_compile(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compile", help="compile a circuit for Loihi-style cores and print the resource and energy report"
    )
    parser.add_argument("circuit", help="library circuit name or YAML spec file")
    parser.add_argument("--target", default="loihi2", help="hardware profile: loihi1, loihi2 or a YAML file")
    parser.add_argument(
        "--method",
        default="metis",
        choices=["metis", "contiguous", "best"],
        help="neuron-to-core partitioner (best: METIS and contiguous, the one with fewer cores, then less traffic)",
    )
    parser.add_argument(
        "--duration",
        help="run length used to measure firing rates (default: the spec's); with --per-inference, the episode's "
        "world time (default: the binding's)",
    )
    parser.add_argument(
        "--per-inference",
        metavar="WORLD",
        help="measure activity in a closed-loop episode in WORLD (a world the spec binds) on the emulator and "
        "report ops and energy per inference (one control period) and per second, against a CPU",
    )
    parser.add_argument("--seed", type=int, default=0, help="world seed of the --per-inference episode")
    parser.add_argument("--out", help="folder for compile.json and core_map.png")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--force", action="store_true", help="run even if the estimated memory or time exceeds this machine"
    )
    parser.set_defaults(handler=_compile)


def _export(args: argparse.Namespace) -> int:
    import warnings

    import nir

    from wormchip.mappers.nir_export import to_nir, unsupported
    from wormchip.mappers.nir_rockpool import to_rockpool
    from wormchip.pipeline import build_circuit
    from wormchip.preflight import check_output

    path = check_output(args.out, kind="file")
    network = build_circuit(args.circuit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # listed below instead of as a Python warning
        graph = to_nir(network)
    if args.convention == "rockpool":
        graph = to_rockpool(graph)
    path.parent.mkdir(parents=True, exist_ok=True)
    nir.write(path, graph)
    missing = unsupported(nir.read(path))
    print(f"{path}: NIR graph of {network.name} ({network.size} neurons, {args.convention} convention)")
    if missing:
        print("not expressible in NIR (also in the graph metadata):")
        for item in missing:
            print(f"  - {item}")
    return 0


def add_export(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a circuit to another format (NIR)")
    parser.add_argument("circuit", help="library circuit name or YAML spec file")
    parser.add_argument("--format", default="nir", choices=["nir"], help="export format")
    parser.add_argument("--out", required=True, help="output file, e.g. tap.nir")
    parser.add_argument(
        "--convention",
        default="wormchip",
        choices=["wormchip", "rockpool"],
        help="wormchip: NIR's equations in SI units (default); rockpool: as Rockpool's from_nir reads it "
        "(docs/backends.md)",
    )
    parser.set_defaults(handler=_export)
