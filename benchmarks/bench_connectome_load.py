"""Cold (first, reads the snapshot) and warm (cached) load time of each connectome dataset.

Run: ``python benchmarks/bench_connectome_load.py``. Import time of wormchip/scipy is reported separately
(process start excluded from the load figures).
"""

import time

t0 = time.perf_counter()
from wormchip.worm_connectome import DATASETS, load  # noqa: E402

import_s = time.perf_counter() - t0


def timed(key: str) -> float:
    start = time.perf_counter()
    load(key)
    return time.perf_counter() - start


def main() -> None:
    print(f"import wormchip.worm_connectome: {import_s * 1e3:7.1f} ms")
    keys = ["cook2019"] + [k for k in DATASETS if k != "cook2019"]
    for key in keys:
        cold, warm = timed(key), timed(key)
        default = " (default)" if key == "cook2019" else ""
        print(f"{key:<14} cold {cold * 1e3:7.2f} ms   warm {warm * 1e6:7.1f} us{default}")


if __name__ == "__main__":
    main()
