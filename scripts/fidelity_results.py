"""Fidelity table for every library circuit: Brian2 (float) vs the fixed-point emulator, confirmed in Lava.

Usage: .venv/bin/python scripts/fidelity_results.py [--lava-steps 10000] [--no-lava] [--circuits a b ...]
       [--seeds 3] [--attribution]

Per circuit: Brian2 once (its own duration and target), the emulator twice (quantized with the calibrated
v headroom and with `quantize`'s defaults), and Lava once on the first `--lava-steps` steps of the calibrated
network, compared with the emulator spike by spike and u, v by u, v. The float-vs-float ceiling: Brian2 again
with every weight perturbed by 1e-5 relative (`sensitivity`, `--seeds` seeds: mean and min of ±1 step).
`--attribution` also prints, per current-based circuit, which quantized parameter class moves the spikes
(`attribute`). Circuits that do not lower are listed with the reason. Prints markdown tables
(docs/compiler.md, "Fidelity: Brian2 vs Lava").
"""

from __future__ import annotations

import argparse
import time
import warnings

from wormchip.analysis.fidelity import attribute, fidelity, sensitivity
from wormchip.backends.brian2_backend import run_brian2
from wormchip.circuits.build import build
from wormchip.circuits.loader import library_names, load_spec
from wormchip.errors import UnsupportedFeature
from wormchip.mappers.lower import lower


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lava-steps", type=int, default=10_000, help="steps of the Lava confirmation run")
    parser.add_argument("--no-lava", action="store_true", help="skip the Lava confirmation")
    parser.add_argument("--circuits", nargs="*", default=None, help="default: every library circuit")
    parser.add_argument("--seeds", type=int, default=3, help="perturbed Brian2 runs per circuit (0: skip)")
    parser.add_argument("--attribution", action="store_true", help="print the attribution tables too")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    rows = [
        "| circuit | kind | duration | spikes Brian2 | spikes emulator | count corr. | within ±1 step "
        "| exact step | default quantize: corr. / ±1 step | Brian2 vs Brian2 ±1e-5: ±1 step | Lava == emulator |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    attributions = []
    for name in args.circuits or library_names():
        network = build(load_spec(name))
        try:
            lower(network)
        except UnsupportedFeature as err:
            features = sorted({f for f, _ in err.offenders})
            rows.append(f"| `{name}` | does not lower: {', '.join(features)} | | | | | | | | | |")
            print(f"{name}: does not lower ({features})", flush=True)
            continue
        t0 = time.perf_counter()
        b2 = run_brian2(network)
        cal = fidelity(
            network,
            brian2_result=b2,
            lava=not args.no_lava,
            lava_steps=args.lava_steps,
            headroom="calibrated",
        )
        plain = fidelity(network, brian2_result=b2, headroom="default")
        lava = "not run" if cal.lava_identical is None else f"{cal.lava_identical} ({cal.lava_steps} steps)"
        kind = "conductance" if cal.conductance_based else "CUBA"
        ceiling = [sensitivity(network, brian2_result=b2, seed=k)["within_1step"] for k in range(args.seeds)]
        shown = (
            f"{100 * sum(ceiling) / len(ceiling):.1f} % (min {100 * min(ceiling):.1f} %)" if ceiling else "-"
        )
        rows.append(
            f"| `{name}` | {kind} | {cal.duration_s:g} s | {cal.spikes_brian2} | {cal.spikes_emulator} "
            f"| {cal.count_correlation:.4f} | {100 * cal.within_1step:.1f} % | {100 * cal.exact_step:.1f} % "
            f"| {plain.count_correlation:.4f} / {100 * plain.within_1step:.1f} % | {shown} | {lava} |"
        )
        if args.attribution and not cal.conductance_based:
            table = attribute(network, brian2_result=b2)
            attributions.append((name, table))
        print(f"{name}: done in {time.perf_counter() - t0:.0f} s; {rows[-1]}", flush=True)
    print()
    print("\n".join(rows))
    if attributions:
        names = [n for n, _ in attributions]
        print("\n| quantized | " + " | ".join(f"`{n}`" for n in names) + " |")
        print("|---|" + "---|" * len(names))
        for label in attributions[0][1].index:
            cells = [f"{100 * t.loc[label, 'within_1step']:.1f} %" for _, t in attributions]
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
