"""Cold (first, reads the snapshot) and warm (cached) load time of each connectome dataset.

Run: ``python benchmarks/bench_connectome_load.py [--json PATH]`` (`--quick` is the same: it takes a second).
Import time of wormchip/scipy is reported separately (process start excluded from the load figures).
"""

import argparse
import time

from common import Row, add_arguments, report

t0 = time.perf_counter()
from wormchip.worm_connectome import DATASETS, load  # noqa: E402

import_s = time.perf_counter() - t0


def timed(key: str) -> float:
    start = time.perf_counter()
    load(key)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    print(f"import wormchip.worm_connectome: {import_s * 1e3:7.1f} ms")
    keys = ["cook2019"] + [k for k in DATASETS if k != "cook2019"]
    rows = []
    for key in keys:
        cold, warm = timed(key), timed(key)
        default = " (default)" if key == "cook2019" else ""
        print(f"{key:<14} cold {cold * 1e3:7.2f} ms   warm {warm * 1e6:7.1f} us{default}")
        rows.append(
            Row(
                f"connectome load {key}, cold / warm",
                f"{cold * 1e3:.2f} ms / {warm * 1e6:.1f} us",
                "—",
                None,
                "—",
                None,
            )
        )
    report(rows, args.json)


if __name__ == "__main__":
    main()
