"""CLI command `wormchip import`: a NIR graph from another tool → a wormchip YAML spec (registered by `cli.py`).

`run`, `compile` and `compare` also take a `.nir` file directly (`simulate.load_circuit`); this command
writes the imported spec so that it can be read, edited (e.g. given stimuli) and versioned.
"""

from __future__ import annotations

import argparse
import textwrap


def _import(args: argparse.Namespace) -> int:
    from wormchip.circuits.build import build
    from wormchip.circuits.loader import to_yaml
    from wormchip.preflight import check_output
    from wormchip.simulate import import_nir

    out = check_output(args.out, kind="file")
    spec, notes = import_nir(args.file)
    network = build(spec)  # a spec that does not build is reported now, not when it is first run
    header = [f"Imported by `wormchip import {args.file}`; edit freely."] + [f"Note: {n}" for n in notes]
    lines = [f"# {line}" for text in header for line in textwrap.wrap(text, 106)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n" + to_yaml(spec), encoding="utf-8")
    synapses = sum(p.size for p in network.projections)
    print(
        f"{out}: {spec.name}, {network.size} neurons in {len(spec.populations)} population(s), "
        f"{synapses} synapses in {len(spec.connections)} connection(s)"
    )
    for note in notes:
        print(f"  note: {note}")
    return 0


def add_import(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("import", help="import a NIR graph (CubaLIF + Linear) as a YAML spec")
    parser.add_argument("file", help="NIR file (.nir), e.g. written by snnTorch, Norse, Rockpool or wormchip")
    parser.add_argument("--out", required=True, help="output YAML spec, e.g. net.yaml")
    parser.set_defaults(handler=_import)
