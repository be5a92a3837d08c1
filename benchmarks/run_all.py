"""Run every benchmark in benchmarks/ at its quick size and print one table (issue 16's deliverable).

Each `bench_*.py` runs in its own process with `--quick --json FILE` and contributes its summary rows (what,
wormchip, baseline, ratio min/median/max over interleaved pairs, goal, met); a script without a quick mode,
or one that fails or runs past `--timeout`, gets a row saying so. The whole run takes about 5 minutes on the
2-core development machine (under 10 by design); the machine's load (`os.getloadavg`) is printed with it,
since every figure depends on it.

    .venv/bin/python benchmarks/run_all.py [--only atlas quantized_scale] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import HEADER, Row

HERE = Path(__file__).resolve().parent


def run_one(script: Path, timeout_s: float) -> tuple[list[Row], float]:
    """The rows of one benchmark's quick run (or one row saying why there are none), and its wall time."""
    name = script.stem.removeprefix("bench_")
    if "--quick" not in script.read_text():
        return [Row(name, "not run: no --quick mode", "—", None, "—", None)], 0.0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wormchip-bench-") as folder:
        out_file = Path(folder) / "rows.json"
        try:
            out = subprocess.run(
                [sys.executable, str(script), "--quick", "--json", str(out_file)],
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            return [
                Row(name, f"timed out after {timeout_s:g} s", "—", None, "—", None)
            ], time.perf_counter() - t0
        wall = time.perf_counter() - t0
        if out.returncode or not out_file.exists():
            last = (out.stderr.strip() or out.stdout.strip()).splitlines()[-1:] or ["no output"]
            return [Row(name, f"failed (exit {out.returncode}): {last[0][:120]}", "—", None, "—", None)], wall
        rows = [
            Row(**{**r, "ratio": tuple(r["ratio"]) if r["ratio"] else None})
            for r in json.loads(out_file.read_text())
        ]
    return rows, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="benchmark names without bench_ (default: all)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per benchmark")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    load = os.getloadavg()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    t0 = time.perf_counter()
    rows: list[Row] = []
    for script in scripts:
        print(f"running {script.name} --quick …", end=" ", flush=True)
        got, wall = run_one(script, args.timeout)
        print(f"{wall:.0f} s", flush=True)
        rows += got
    load = os.getloadavg()
    print(
        f"\nall benchmarks: {time.perf_counter() - t0:.0f} s; load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    print(HEADER)
    for row in rows:
        print(row.line())


if __name__ == "__main__":
    main()
