"""Fitting engine throughput: evaluations per second with 2 Dask workers vs 1 (same candidates, same machine),
and Brian2 candidates stacked into one network vs one network per candidate.

Usage: .venv/bin/python benchmarks/bench_fit.py [--quick] [--pairs 3] [--json PATH]

- Workers: the same generation of `--candidates` klinotaxis candidates (random points of the experiment's
  search space, `scripts/experiments/klinotaxis_fit.yaml`, 20 s episodes on the emulator) evaluated through a
  LocalCluster of 2 worker processes and of 1, warm (each worker has run one task), interleaved. Goal ≥ 1.7×.
- Stacked: P klinotaxis circuits in the klinotaxis world on Brian2, run as P separate closed loops vs one
  network holding all P copies (`transforms.stack`) in one closed loop where each copy has its own world.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from common import Row, add_arguments, interleaved, report, seconds, spread

from wormchip.circuits.loader import load_spec
from wormchip.closed_loop.bindings import Decoder, Encoder
from wormchip.closed_loop.episode import prepare_episode, run_prepared
from wormchip.closed_loop.sessions import open_session
from wormchip.fit.engine import evaluate_task, open_client
from wormchip.fit.objectives import Evaluator
from wormchip.fit.params import ParameterSpace
from wormchip.transforms import stack


def _generation(n: int, duration: str) -> tuple[Evaluator, list[dict]]:
    spec = load_spec(Path(__file__).resolve().parents[1] / "scripts/experiments/klinotaxis_fit.yaml")
    space = ParameterSpace(spec)
    rng = np.random.default_rng(0)
    objective = spec.fit.objectives[0].model_copy(update={"episodes": 1, "duration": duration})
    candidates = [space.apply(rng.uniform(0.2, 0.8, space.size)).model_dump(mode="json") for _ in range(n)]
    return Evaluator([objective], "emulator"), candidates


def _evaluate_all(client, remote, candidates) -> None:
    """One generation through `client`, the evaluator scattered once per client (as `fit` does per fit:
    scattering the same object again reuses its key, which the previous call's release can drop mid-run)."""
    client.gather(client.map(evaluate_task, [remote] * len(candidates), candidates, pure=False))


def stacked_closed_loop(copies: int, seconds_: float) -> None:
    """`copies` klinotaxis circuits in one Brian2 network, each steering its own world."""
    network, binding, env, resolved = prepare_episode("klinotaxis")
    big = stack([network] * copies)
    envs = [type(env)(dt=env.dt) for _ in range(copies)]
    period_steps = int(round(binding.control_period / network.dt))
    n_steps = int(round(seconds_ / env.dt))
    encoders = [Encoder(resolved, network.size) for _ in range(copies)]
    decoders = [Decoder(resolved, period_steps * network.dt) for _ in range(copies)]
    max_current = np.tile(encoders[0].max_current(), copies)
    session = open_session(big, "brian2", period_steps, n_steps * period_steps, max_current)
    obs = [e.reset(seed=k)[0] for k, e in enumerate(envs)]
    n = network.size
    for _ in range(n_steps):
        out = session.advance(period_steps, np.concatenate([enc(o) for enc, o in zip(encoders, obs)]))
        for k, e in enumerate(envs):
            action = decoders[k](out.counts[k * n : (k + 1) * n], out.v_rel[k * n : (k + 1) * n])
            obs[k] = e.step(action)[0]
    session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=16)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = []
    duration = "5 s" if args.quick else "20 s"
    evaluator, candidates = _generation(8 if args.quick else args.candidates, duration)
    two, one = open_client(workers=2), open_client(workers=1)
    try:
        remote = {client: client.scatter(evaluator, broadcast=True) for client in (two, one)}
        for client in (two, one):  # warm: imports and the numba kernel loaded in every worker
            _evaluate_all(client, remote[client], candidates[:2])
        t2, t1 = interleaved(lambda: _evaluate_all(two, remote[two], candidates),
                             lambda: _evaluate_all(one, remote[one], candidates), args.pairs)  # fmt: skip
    finally:
        for client in (two, one):
            cluster = client.cluster
            client.close()
            cluster.close()
    speedup = [b / a for a, b in zip(t2, t1)]
    rows.append(Row(f"fit evaluations/s, 2 workers vs 1 ({len(candidates)} klinotaxis candidates, {duration})",
                    seconds(t2), seconds(t1), spread(speedup), "≥ 1.7×", min(speedup) >= 1.7))  # fmt: skip

    copies, length = (2, 1.0) if args.quick else (8, 5.0)
    network, binding, env, resolved = prepare_episode("klinotaxis")
    run_prepared(network, binding, env, resolved, "brian2", 0, "0.2 s")  # compile once
    stacked, separate = interleaved(
        lambda: stacked_closed_loop(copies, length),
        lambda: [run_prepared(network, binding, env, resolved, "brian2", k, length) for k in range(copies)],
        args.pairs,
    )
    rows.append(Row(f"Brian2: {copies} candidates stacked in one network vs one each ({length:g} s closed loop)",
                    seconds(stacked), seconds(separate), spread([a / b for a, b in zip(stacked, separate)]),
                    "measure; < 1 means stacking is faster", None))  # fmt: skip
    report(rows, args.json)


if __name__ == "__main__":
    main()
