"""`wormchip demo`: the pipeline runs end to end and its report is one self-contained HTML file."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys

import matplotlib.pyplot as plt

from wormchip.demo import run_demo
from wormchip.html_report import HtmlReport


def test_html_report_is_self_contained(tmp_path):
    report = HtmlReport("t <1>")
    report.heading("a & b")
    report.table([{"x": 1.23456789, "n": 12345, "s": "<tag>"}])
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("time (s)")
    report.figure(fig, "line")
    text = report.save(tmp_path / "r.html").read_text()
    assert (
        "<title>t &lt;1&gt;</title>" in text
        and "&lt;tag&gt;" in text
        and ">1.235<" in text
        and ">12,345<" in text
    )
    assert not re.search(r"(src|href)=\"(http|//|/)", text)  # nothing fetched from elsewhere
    data = re.search(r'src="data:image/png;base64,([^"]+)"', text).group(1)
    assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_runs_end_to_end(tmp_path):
    lines: list[str] = []
    summary = run_demo(out=tmp_path, shuffles=2, lava_duration="50 ms", echo=lines.append)
    text = summary.report.read_text()
    assert summary.report == tmp_path / "report.html" and text.count("<img") >= 6
    assert summary.figures["lava_equals_emulator"] == 1.0  # bit-exact on the compiled whole worm
    assert summary.figures["closed_loop_lava_equals_emulator"] == 1.0  # the closed loop too
    assert any(
        line.startswith("closed loop (klinotaxis world, emulator): chemotaxis index") for line in lines
    )
    assert any(
        line.startswith("closed loop energy (klinotaxis): ") and "per inference" in line for line in lines
    )
    assert any(line.startswith("atlas (") for line in lines) and lines[-1].endswith("report.html")
    assert set(summary.timings) >= {"tap_withdrawal", "compile", "lava + emulator", "compare", "atlas"}


# Importing wormchip's analysis layer must leave the warning filters alone: Elephant's import-time
# `simplefilter("once", UserWarning)` made Brian2's 17 PyparsingDeprecationWarnings (UserWarning and
# DeprecationWarning at once) appear in `wormchip demo`. Run as a user would: a fresh interpreter, since
# pytest's own filters hide what users see.
CLEAN = """
import warnings
before = list(warnings.filters)
import wormchip.analysis.atlas, wormchip.analysis.compare, wormchip.analysis.population, wormchip.demo
added = [f for f in warnings.filters if f not in before and f[2] is UserWarning]
assert not added, added
from wormchip.pipeline import run_circuit
run_circuit("tap_withdrawal", on="brian2", duration="20 ms", target="numpy")
print("ok")
"""


def test_demo_output_has_no_dependency_warnings():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    proc = subprocess.run([sys.executable, "-c", CLEAN], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok" and "warning" not in proc.stderr.lower(), proc.stderr[:3000]
