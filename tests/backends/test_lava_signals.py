"""`wormchip run ... --on lava` stopped by SIGTERM or SIGINT: one line on stderr, nothing left behind; killed
outright (SIGKILL), its Lava worker notices the orphaning and removes its processes and segments itself.

The CLI runs in a subprocess in its own session; TMPDIR points into the test's folder so the worker's
shared-memory log (`wormchip-lava-shm-*.txt`) names exactly the segments this run created.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wormchip.backends.lava_runner import SHM_DIR, process_group_members

pytestmark = pytest.mark.lava

CLEANUP_LIMIT_S = 5.0


def _children(pid: int) -> list[int]:
    """Live child processes of `pid`, from /proc."""
    out = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            out.append(int(entry))
    return out


def _default_sigint() -> None:
    """The CLI as started from a terminal: SIGINT at its default. A test run launched in the background
    (`nohup make test &`) inherits SIGINT ignored, and an ignored signal stays ignored across exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _segments(tmp: Path) -> set[str]:
    """Segments the run's worker logged so far."""
    names: set[str] = set()
    for log in tmp.glob("wormchip-lava-shm-*.txt"):
        names |= {name.lstrip("/") for name in log.read_text().split()}
    return names


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"]
)
def test_signal_during_lava_run_cleans_up(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "wormchip.cli", "run", "whole_worm", "--on", "lava"]
    command += ["--duration", "20 s", "--out", str(tmp_path / "out")]
    cli = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        worker, members = None, []
        while time.monotonic() < deadline and cli.poll() is None:  # wait until Lava's processes run
            workers = [pid for pid in _children(cli.pid) if os.getpgid(pid) == pid]
            if workers:
                worker, members = workers[0], process_group_members(workers[0])
                if len(members) >= 5 and _segments(tmp_path):
                    break
            time.sleep(0.2)
        assert worker is not None and len(members) >= 5, cli.communicate()
        time.sleep(1.0)
        members, segments = process_group_members(worker), _segments(tmp_path)
        t0 = time.monotonic()
        cli.send_signal(sig)
        _, err = cli.communicate(timeout=30)
        while time.monotonic() - t0 < CLEANUP_LIMIT_S and (
            process_group_members(worker) or any(os.path.exists(f"{SHM_DIR}/{s}") for s in segments)
        ):
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    left = [s for s in segments if os.path.exists(f"{SHM_DIR}/{s}")]
    assert process_group_members(worker) == [], f"Lava processes left {elapsed:.1f} s after {sig.name}"
    assert process_group_members(cli.pid) == []
    assert not left, f"{len(left)} of {len(segments)} /dev/shm segments left after {elapsed:.1f} s"
    if sig == signal.SIGKILL:  # no handler runs: the orphaned worker notices and cleans up by itself
        assert cli.returncode == -sig
    else:
        lines = err.strip().splitlines()  # the run's estimate notice, then one line for the interruption
        assert lines[-1] == f"wormchip: interrupted ({sig.name})", err
        assert "Traceback" not in err and all(line.startswith("wormchip: ") for line in lines), err
        assert cli.returncode == 128 + sig
    print(f"{sig.name}: cleaned up {len(members)} processes, {len(segments)} segments in {elapsed:.2f} s")


def test_lava_run_reports_its_stages(tmp_path: Path) -> None:
    """Lava runs report their stages (the CLI's progress bar shows them; Lava itself reports no progress)."""
    from wormchip.cli import main
    from wormchip.pipeline import run_circuit

    seen: list[str] = []
    run_circuit("tap_withdrawal", on="lava", duration="20 ms", stage=seen.append)
    assert seen == [
        "building the Lava graph",
        "compiling and starting Lava's processes",
        "running 200 steps",
        "reading results",
        "stopping the Lava runtime",
    ]
    args = ["run", "tap_withdrawal", "--on", "lava", "--duration", "20 ms", "--out", str(tmp_path)]
    assert main(args) == 0
