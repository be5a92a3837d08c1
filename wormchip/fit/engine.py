"""`fit(spec)`: CMA-ES (the `cma` package) over a spec's free parameters, candidates evaluated as Dask tasks.

One generation: CMA-ES asks for `popsize` points of [0, 1]ⁿ (bounded), each becomes a complete candidate spec
(`ParameterSpace.apply`), Dask evaluates them (`Evaluator`, one task per candidate, retried elsewhere if a
worker dies), CMA-ES is told the negated scores. After every generation the whole state (the optimizer, NumPy's
global random state that CMA-ES draws from, every candidate and its score) is written to one checkpoint file,
and the best candidate so far as a complete spec (`best_spec.yaml`). `resume=True` continues from it. Seeded
CMA-ES and deterministic evaluations (fixed world seeds) make the result independent of where, when, or how
many times a task ran: a fit with a killed worker or a resumed fit ends with the same best score (tested).

Where: an embedded `distributed.LocalCluster` of `workers` processes (one thread each; default: one per core),
or an existing cluster (`scheduler="tcp://host:port"`; start one with `dask scheduler` and `dask worker`, or on
SLURM/PBS with dask-jobqueue).
"""

from __future__ import annotations

import math
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wormchip import ir
from wormchip.circuits.schema import CircuitSpec
from wormchip.errors import WormchipError
from wormchip.fit.objectives import Evaluation, Evaluator, check_objectives
from wormchip.fit.params import ParameterSpace

CHECKPOINT = "fit_state.pkl"
BEST_SPEC = "best_spec.yaml"
CONNECT_TIMEOUT_S = 10.0
Progress = Callable[[int, int, float], None]  # generation done, generations, best score


class FitError(WormchipError):
    """A fit cannot start or continue (unreachable scheduler, checkpoint of another spec, ...)."""


@dataclass
class FitState:
    """Everything needed to continue a fit: pickled after each generation."""

    spec_hash: str
    es: object  # cma.CMAEvolutionStrategy
    numpy_random: tuple
    generation: int = 0
    evaluations: list[dict] = field(default_factory=list)  # generation, x, score, terms, wall_s
    best_score: float = -math.inf
    best_x: list[float] | None = None
    history: list[dict] = field(default_factory=list)  # per generation: best, median, best so far
    wall_s: float = 0.0  # time spent in generations, over every run of this fit (resumes included)


@dataclass
class FitResult:
    """What a fit produced: the best candidate (score, values, complete spec) and how the search went."""

    best_score: float
    best_values: dict
    best_spec: CircuitSpec
    generations: int
    evaluations: int
    evals_per_s: float
    wall_s: float
    history: list[dict]
    files: dict[str, str] = field(default_factory=dict)


def spec_hash(spec: CircuitSpec, network_transform: Callable | None = None) -> str:
    """The identity of a fit: the spec's hash, and the transform's qualified name when there is one."""
    from wormchip.circuits.build import spec_hash as build_hash

    if network_transform is None:
        return build_hash(spec)
    return f"{build_hash(spec)}|{network_transform.__module__}.{network_transform.__qualname__}"


def open_client(workers: int | None = None, scheduler: str | None = None):
    """A Dask client: of an existing cluster (`scheduler`) or of an embedded local one (`workers` processes)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as err:
            raise FitError(f"--scheduler {scheduler}: cannot reach a Dask scheduler ({err}); start one with "
                           "`dask scheduler` and `dask worker ADDRESS`") from None  # fmt: skip
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1", silence_logs=50)  # fmt: skip
    return Client(cluster)


def _save(state: FitState, path: Path) -> None:
    """Write the checkpoint atomically (a crash mid-write leaves the previous one)."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(state, f)
    os.replace(tmp, path)


def fit(
    spec: CircuitSpec | str | Path,
    *,
    generations: int | None = None,
    popsize: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    resume: bool = False,
    out: str | Path | None = None,
    objective: Callable[[CircuitSpec], float] | None = None,
    report: Progress | None = None,
    network_transform: Callable[[ir.Network], ir.Network] | None = None,
) -> FitResult:
    """Fit `spec`'s free parameters to its objectives (see the module docstring). `objective`: an extra
    Python term `f(spec) -> float` added to the score; `network_transform`: IR → IR applied to every
    candidate's network (e.g. `transforms.current_based`: train the current-based twin with the same
    parameters, bounds and seed). Both must be importable by the workers; a transform is part of the
    checkpoint's identity (`--resume` refuses a checkpoint made without it, or with another)."""
    import cma

    from wormchip.circuits.loader import to_yaml
    from wormchip.simulate import prepare

    spec, base = prepare(spec) if not isinstance(spec, CircuitSpec) else (spec, None)
    settings = spec.fit
    space = ParameterSpace(spec)  # unknown paths, reversed bounds: errors before any work
    space.apply(space.x0())
    if len(space.x0()) < 2:
        raise FitError(
            f"fit: CMA-ES needs at least 2 free parameters, the spec frees {len(space.x0())}; for one, scan it "
            "with `wormchip sweep` instead"
        )
    check_objectives(spec, base_dir=str(base) if base else None)  # unknown metrics, unbound worlds
    generations = generations or settings.generations
    out_dir = Path(out) if out else None
    checkpoint = out_dir / CHECKPOINT if out_dir else None
    identity = spec_hash(spec, network_transform)
    state = _load(checkpoint, identity) if resume else None
    if state is None:
        options = {"bounds": [0.0, 1.0], "seed": settings.seed, "verbose": -9}
        if popsize or settings.popsize:
            options["popsize"] = popsize or settings.popsize
        np.random.seed(settings.seed)
        es = cma.CMAEvolutionStrategy(space.x0(), settings.sigma, options)
        state = FitState(identity, es, np.random.get_state())
    evaluator = Evaluator(
        list(settings.objectives), settings.on, str(base) if base else None, objective, network_transform
    )
    own_client = client is None
    client = client or open_client(workers, scheduler)
    try:
        remote = client.scatter(evaluator, broadcast=True)
        while state.generation < generations:
            started = time.perf_counter()
            np.random.set_state(state.numpy_random)
            xs = state.es.ask()
            drawn = np.random.get_state()
            candidates = [space.apply(x).model_dump(mode="json") for x in xs]
            futures = client.map(evaluate_task, [remote] * len(candidates), candidates, pure=False, retries=3)
            results: list[Evaluation] = client.gather(futures)
            scores = [r.score for r in results]
            np.random.set_state(drawn)  # whatever ran meanwhile in this process, CMA-ES continues its stream
            state.es.tell(xs, [-s for s in scores])
            state.numpy_random = np.random.get_state()
            for x, r in zip(xs, results):
                state.evaluations.append({"generation": state.generation, "x": list(map(float, x)),
                                          "score": r.score, "terms": r.terms, "wall_s": r.wall_s})  # fmt: skip
            k = int(np.argmax(scores))
            if scores[k] > state.best_score:
                state.best_score, state.best_x = float(scores[k]), list(map(float, xs[k]))
            state.history.append({"generation": state.generation, "best": float(max(scores)),
                                  "median": float(np.median(scores)), "best_so_far": state.best_score})  # fmt: skip
            state.generation += 1
            state.wall_s += time.perf_counter() - started
            if checkpoint is not None:
                out_dir.mkdir(parents=True, exist_ok=True)
                _save(state, checkpoint)
                (out_dir / BEST_SPEC).write_text(to_yaml(space.apply(np.array(state.best_x))))
            if report is not None:
                report(state.generation, generations, state.best_score)
    finally:
        if own_client:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
    best_x = np.array(state.best_x)
    result = FitResult(
        best_score=state.best_score,
        best_values=space.values(best_x),
        best_spec=space.apply(best_x),
        generations=state.generation,
        evaluations=len(state.evaluations),
        evals_per_s=len(state.evaluations) / state.wall_s if state.wall_s > 0 else math.nan,
        wall_s=state.wall_s,
        history=state.history,
    )
    if out_dir is not None:
        result.files = {"checkpoint": str(checkpoint), "best_spec": str(out_dir / BEST_SPEC)}
    return result


def evaluate_task(evaluator: Evaluator, candidate: dict) -> Evaluation:
    """One Dask task: score one candidate."""
    import warnings

    warnings.simplefilter("ignore")  # workers' dependency warnings must not flood the client's terminal
    return evaluator(candidate)


def _load(checkpoint: Path | None, identity: str) -> FitState | None:
    """The saved state of this spec's fit, or None when there is none yet."""
    if checkpoint is None:
        raise FitError("--resume needs --out (the folder holding the checkpoint)")
    if not checkpoint.exists():
        return None
    try:
        with open(checkpoint, "rb") as f:
            state = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as err:
        raise FitError(f"cannot read checkpoint {checkpoint}: {err}") from None
    if state.spec_hash != identity:
        raise FitError(
            f"checkpoint {checkpoint} belongs to another spec or network transform (changed since); use another "
            "--out"
        )
    return state


def convergence_figure(history: list[dict]):
    """Best, median and best-so-far score per generation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    g = [h["generation"] for h in history]
    ax.plot(g, [h["median"] for h in history], label="generation median", color="grey")
    ax.plot(g, [h["best"] for h in history], label="generation best", color="tab:blue")
    ax.plot(g, [h["best_so_far"] for h in history], label="best so far", color="tab:red")
    ax.set_xlabel("generation")
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
