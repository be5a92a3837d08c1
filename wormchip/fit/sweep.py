"""`sweep(spec, grid, metric)`: a parameter grid evaluated on the fitting machinery (Dask tasks).

Every combination of the grid's values becomes a candidate spec (`set_value` at each path) scored by one
objective (a world metric over closed-loop episodes); the result is a tidy table (one row per combination:
each parameter's value, the metric) and a line plot (one parameter) or heatmap (two).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from wormchip.circuits.errors import Problem, SpecError
from wormchip.circuits.schema import CircuitSpec, Objective
from wormchip.fit.engine import evaluate_task, open_client
from wormchip.fit.objectives import Evaluator, check_objectives
from wormchip.fit.params import set_value


def parse_grid(items: list[str]) -> dict[str, list[str | float]]:
    """`["PATH=v1,v2", ...]` → {path: [values]}; numbers stay numbers, quantities stay strings."""
    grid: dict[str, list[str | float]] = {}
    for item in items:
        path, sep, values = item.partition("=")
        if not sep or not path or not values:
            raise SpecError([Problem(["--param"], "expected PATH=v1,v2,…", item)])
        parsed: list[str | float] = []
        for text in values.split(","):
            text = text.strip()
            try:
                parsed.append(float(text))
            except ValueError:
                parsed.append(text)
        grid[path] = parsed
    return grid


def sweep(
    spec: CircuitSpec,
    grid: dict[str, list[str | float]],
    objective: Objective,
    on: str = "emulator",
    base_dir: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
) -> pd.DataFrame:
    """Evaluate every combination of `grid` on `objective`; one row per combination."""
    check_objectives(spec, [objective], base_dir, option="--metric")
    combos = list(itertools.product(*grid.values()))
    candidates = []
    for combo in combos:  # every path checked before any work
        candidate = spec
        for path, value in zip(grid, combo):
            candidate = set_value(candidate, path, value)
        candidates.append(candidate.model_dump(mode="json"))
    evaluator = Evaluator([objective], on, base_dir)
    own = client is None
    client = client or open_client(workers, scheduler)
    try:
        remote = client.scatter(evaluator, broadcast=True)
        results = client.gather(
            client.map(evaluate_task, [remote] * len(candidates), candidates, pure=False, retries=3)
        )
    finally:
        if own:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    rows = []
    for combo, result in zip(combos, results):
        rows.append({**dict(zip(grid, combo)), objective.metric: next(iter(result.terms.values()))})
    return pd.DataFrame(rows)


def sweep_figure(table: pd.DataFrame, metric: str):
    """A line plot (one swept parameter) or a heatmap (two)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = [c for c in table.columns if c != metric]
    fig, ax = plt.subplots(figsize=(5, 3.8))
    if len(params) == 1:
        ax.plot(range(len(table)), table[metric], "o-")
        ax.set_xticks(range(len(table)), [str(v) for v in table[params[0]]], rotation=30)
        ax.set_xlabel(params[0])
        ax.set_ylabel(metric)
    else:
        grid = table.pivot_table(index=params[0], columns=params[1], values=metric, sort=False)
        image = ax.imshow(grid.values, aspect="auto", origin="lower", cmap="viridis")
        ax.set_yticks(range(len(grid.index)), [str(v) for v in grid.index])
        ax.set_xticks(range(len(grid.columns)), [str(v) for v in grid.columns], rotation=30)
        ax.set_ylabel(params[0])
        ax.set_xlabel(params[1])
        fig.colorbar(image, label=metric)
    fig.tight_layout()
    return fig


def save_sweep(table: pd.DataFrame, metric: str, out: Path) -> dict[str, str]:
    """Write sweep.csv and sweep.png into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "sweep.csv", index=False)
    sweep_figure(table, metric).savefig(out / "sweep.png", dpi=110)
    return {"table": str(out / "sweep.csv"), "figure": str(out / "sweep.png")}
