"""The fitting engine: reproducible for a seed, resumable from its checkpoint, and distributed for real — a
Dask scheduler and two workers on localhost, one killed mid-fit, and a killed client resumed — all ending with
the same best score as an uninterrupted run."""

from __future__ import annotations

import json
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from wormchip.circuits.loader import load_spec, to_yaml
from wormchip.fit.engine import FitError, fit
from wormchip.pipeline import build_circuit

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def local_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1", silence_logs=50)  # fmt: skip
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_fit_is_reproducible_and_resumes_exactly(fit_spec_path, tmp_path, local_client) -> None:
    whole = fit(fit_spec_path, client=local_client, out=tmp_path / "whole")
    assert whole.generations == 3 and whole.evaluations == 12
    assert whole.history[-1]["best_so_far"] == whole.best_score == max(h["best"] for h in whole.history)
    part = fit(fit_spec_path, client=local_client, out=tmp_path / "part", generations=2)
    assert part.generations == 2
    resumed = fit(fit_spec_path, client=local_client, out=tmp_path / "part", generations=3, resume=True)
    assert resumed.history == whole.history and resumed.best_score == whole.best_score
    assert resumed.evaluations == 12
    # time and rate cover the whole fit, its first part included, not only the resumed generation
    assert resumed.wall_s > part.wall_s > 0
    assert resumed.evals_per_s == pytest.approx(12 / resumed.wall_s)
    # the best candidate is a complete spec every command accepts, and scores what the fit says
    best = load_spec(tmp_path / "whole" / "best_spec.yaml")
    assert best == whole.best_spec
    build_circuit(best)
    from wormchip.fit.objectives import Evaluator

    again = Evaluator(list(best.fit.objectives), "emulator")(best.model_dump(mode="json"))
    assert again.score == pytest.approx(whole.best_score, abs=1e-12)


def test_resume_refuses_a_checkpoint_of_another_spec(fit_spec_path, tmp_path, local_client) -> None:
    fit(fit_spec_path, client=local_client, out=tmp_path, generations=1)
    fit_spec_path.write_text(fit_spec_path.read_text().replace("seed: 7", "seed: 8"))
    with pytest.raises(FitError, match="belongs to another spec"):
        fit(fit_spec_path, client=local_client, out=tmp_path, resume=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dask_cluster():
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1; everything stopped afterwards."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]  # fmt: skip
    workers = []
    try:
        from distributed import Client

        for _ in range(2):
            workers.append(subprocess.Popen([BIN / "dask", "worker", address, "--nthreads", "1", "--nworkers", "1",
                                             "--host", "127.0.0.1", "--no-dashboard"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for proc in [*workers, *procs]:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.slow
def test_distributed_fit_survives_a_killed_worker_and_a_killed_client(
    fit_spec_path, tmp_path, dask_cluster
) -> None:
    address, workers = dask_cluster
    reference = fit(fit_spec_path, scheduler=address, generations=5)

    killed = threading.Event()

    def kill_second_worker_during_generation_two(done: int, total: int, best: float) -> None:
        if done == 1:  # generation 2 is being submitted: kill a worker while its tasks run
            threading.Timer(0.2, lambda: (workers[1].send_signal(signal.SIGKILL), killed.set())).start()

    survived = fit(
        fit_spec_path, scheduler=address, generations=5, report=kill_second_worker_during_generation_two
    )
    assert killed.is_set() and workers[1].wait(timeout=10) == -signal.SIGKILL
    assert survived.best_score == reference.best_score and survived.history == reference.history

    # the client killed after its first checkpoint; `--resume` continues from the last generation
    out = tmp_path / "cli"
    command = [BIN / "wormchip", "fit", str(fit_spec_path), "--scheduler", address, "--generations", "5",
               "--out", str(out), "--json"]  # fmt: skip
    client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoint = out / "fit_state.pkl"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and client.poll() is None:
        time.sleep(0.02)
    client.send_signal(signal.SIGKILL)
    client.wait(timeout=30)
    with open(checkpoint, "rb") as f:
        stopped_at = pickle.load(f).generation
    assert 1 <= stopped_at < 5
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["generations"] == 5 and summary["evaluations"] == 20
    assert summary["best_score"] == reference.best_score
    assert np.isfinite(summary["evals_per_s"]) and summary["best_spec"].endswith("best_spec.yaml")


CARTPOLE_FIT = """fit:
  parameters:
    - {path: "bindings[0].sensors[0].gain", low: "0.05 nA", high: "5 nA", scale: log}
    - {path: "bindings[0].sensors[1].gain", low: "0.05 nA", high: "5 nA", scale: log}
  objectives:
    - {metric: return, world: "gym:CartPole-v1", episodes: 2, duration: "1 s"}
  popsize: 4
  generations: 1
  seed: 3
"""


def test_a_network_transform_trains_the_twin(tmp_path, local_client) -> None:
    """`network_transform=current_based`: every candidate runs as the current-based twin (the score equals
    episodes run on `current_based(build(spec))` directly), and the checkpoint remembers the transform."""
    from wormchip.circuits.build import build
    from wormchip.closed_loop.episode import prepare_episode, run_prepared
    from wormchip.transforms import current_based

    path = tmp_path / "cartpole.yaml"
    path.write_text(to_yaml(load_spec("tap_withdrawal")) + CARTPOLE_FIT)
    twin = fit(path, client=local_client, out=tmp_path / "twin", network_transform=current_based)
    spec = twin.best_spec
    network = current_based(build(spec))
    _, binding, env, resolved = prepare_episode(spec, "gym:CartPole-v1")
    direct = [
        run_prepared(network, binding, env, resolved, "emulator", s, "1 s").metrics["return"] for s in (0, 1)
    ]
    assert twin.best_score == pytest.approx(np.mean(direct), abs=1e-12)
    assert not any(p.synapse == "exp_conductance" for p in network.projections)
    with pytest.raises(FitError, match="another spec or network transform"):
        fit(path, client=local_client, out=tmp_path / "twin", resume=True)


def test_one_free_parameter_is_a_clear_error(tmp_path) -> None:
    """CMA-ES is undefined in one dimension (the cma package raises deep inside); the engine says so first."""
    path = tmp_path / "one.yaml"
    one = CARTPOLE_FIT.replace(
        '    - {path: "bindings[0].sensors[1].gain", low: "0.05 nA", high: "5 nA", scale: log}\n', ""
    )
    path.write_text(to_yaml(load_spec("tap_withdrawal")) + one)
    with pytest.raises(FitError, match="at least 2 free parameters.*wormchip sweep"):
        fit(path, out=tmp_path / "one")
