"""Quantization error, ours vs nengo-loihi's discretization, for every library circuit that lowers.

Usage: .venv/bin/python benchmarks/bench_quantize.py [--json PATH]   (`--quick` is the same: it takes seconds)

Per circuit and parameter: max and RMS relative error of both methods and the RMS ratio ours / nengo-loihi
(< 1: ours is better). Errors are what one spike, one bias register, one threshold delivers (see
`wormchip/mappers/quantize.py`); "dc_gain" is the settled voltage per unit bias (decay and bias together).
Gap junctions are not part of nengo-loihi; its "gap" row uses our gap quantizer at its voltage scale.
"""

from __future__ import annotations

import argparse
import time
import warnings

from common import Row, add_arguments, report, spread

from wormchip.circuits.build import build
from wormchip.circuits.loader import library_names, library_path, load_spec
from wormchip.errors import UnsupportedFeature
from wormchip.mappers.lower import lower
from wormchip.mappers.quantize import quantize, quantize_nengo_loihi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    ratios = []
    for name in library_names():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = build(load_spec(name), base_dir=library_path(name).parent)
        try:
            lowered = lower(net)
        except UnsupportedFeature as err:
            print(f"\n## {name}: does not lower ({len(err.offenders)} unsupported element(s))")
            continue
        t0 = time.perf_counter()
        _, ours = quantize(lowered)
        t_ours = time.perf_counter() - t0
        _, base = quantize_nengo_loihi(lowered)
        print(f"\n## {name}: {lowered.n_neurons} neurons, quantize {t_ours * 1e3:.0f} ms")
        print("| parameter | n | ours max | ours RMS | nengo-loihi max | nengo-loihi RMS | RMS ratio |")
        print("|---|---|---|---|---|---|---|")
        for key, e in ours.errors.items():
            b = base.errors[key]
            ratio = f"{e.rms / b.rms:.2f}" if b.rms > 1e-12 else "—"
            if b.rms > 1e-12:
                ratios.append(e.rms / b.rms)
            print(f"| {key} | {e.n} | {e.max:.2e} | {e.rms:.2e} | {b.max:.2e} | {b.rms:.2e} | {ratio} |")
        print(f"blocks (weight_exp): ours {ours.weight_exps}, nengo-loihi {base.weight_exps}")
        if ours.notes or base.notes:
            print(f"notes: ours {ours.notes}; nengo-loihi {base.notes}")
    spread_ = spread(ratios)
    report(
        [
            Row(
                f"quantization RMS error, ours / nengo-loihi, {len(ratios)} (circuit, parameter) pairs",
                "ours",
                "nengo-loihi discretize",
                spread_,
                "— (no goal; < 1: ours finer)",
                None,
            )
        ],
        args.json,
    )


if __name__ == "__main__":
    main()
