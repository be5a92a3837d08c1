"""Shared by the benchmark scripts: interleaved timing against a baseline, and the rows of `run_all.py`'s table.

A benchmark measures wormchip and its baseline alternately in one process (a, b, b, a, …: the machine is
shared, so load drifts between measurements) and reports min/median/max of the per-pair ratios. With
`--json PATH` it also writes its table rows (`Row`) there, which is how `run_all.py` collects them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Row:
    """One line of the summary table: what was measured, the two sides, their ratio, the goal and verdict."""

    what: str
    wormchip: str
    baseline: str
    ratio: tuple[float, float, float] | None  # min, median, max over interleaved pairs
    goal: str
    met: bool | None  # None: no goal, or not decidable here

    def line(self) -> str:
        ratio = "—" if self.ratio is None else "/".join(f"{r:.3g}" for r in self.ratio)
        met = {True: "yes", False: "NO", None: "—"}[self.met]
        return f"| {self.what} | {self.wormchip} | {self.baseline} | {ratio} | {self.goal} | {met} |"


HEADER = "| what | wormchip | baseline | ratio min/median/max | goal | met |\n|---|---|---|---|---|---|"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark takes: `--quick` (the size run_all.py uses) and `--json PATH`."""
    parser.add_argument("--quick", action="store_true", help="small sizes, for run_all.py (< 2 minutes)")
    parser.add_argument("--json", metavar="PATH", help="also write the summary rows as JSON to PATH")


def timed(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(
    ours: Callable[[], object], baseline: Callable[[], object], pairs: int
) -> tuple[list[float], list[float]]:
    """Time `ours` and `baseline` alternately, `pairs` times each, swapping which goes first every pair."""
    a, b = [], []
    for k in range(pairs):
        if k % 2:
            b.append(timed(baseline))
            a.append(timed(ours))
        else:
            a.append(timed(ours))
            b.append(timed(baseline))
    return a, b


def spread(values: list[float]) -> tuple[float, float, float]:
    """(min, median, max)."""
    return min(values), statistics.median(values), max(values)


def seconds(values: list[float]) -> str:
    """'min/median/max s' of timings."""
    return "/".join(f"{v:.3g}" for v in spread(values)) + " s"


def report(rows: list[Row], json_path: str | None) -> None:
    """Print the rows as a Markdown table; write them to `json_path` if given."""
    print(HEADER)
    for row in rows:
        print(row.line())
    if json_path:
        with open(json_path, "w") as f:
            json.dump([asdict(r) for r in rows], f)
