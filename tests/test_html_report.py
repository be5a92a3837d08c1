"""The HTML report fits a 1280-px browser window: wide tables scroll in their own box, box-drawing tables keep
their columns aligned, figures shrink to the column. Checked on the page's CSS (always) and, where Chromium is
installed, in the browser itself (`chromium --headless --dump-dom` of a page that writes its own measurements)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import pytest
from rich import box
from rich.console import Console
from rich.table import Table

from wormchip.html_report import MONOSPACE, STYLE, HtmlReport

WINDOW = 1280
BOX_LINE = re.compile(r"^[┏┃┡│└┗╭╰┌├]")


def _box_table() -> str:
    """A rich table as the compile report prints it (heavy head, light body), wider than the page column."""
    table = Table(title="Resources on loihi2: 1 cores, 1 chip(s)", box=box.HEAVY_HEAD)
    for column in ("resource", "total", "max per core", "limit per core", "a long explanatory column"):
        table.add_column(column)
    for i in range(6):
        table.add_row(f"resource_{i}", f"{1000 * i:,}", f"{10 * i:,}", "8,192", "x" * 90)
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(table)
    return console.export_text()


def _report() -> HtmlReport:
    """A small report with what overflowed before: a 20-column table with a long text cell, a box table
    wider than the column, and a figure 2,000 px wide."""
    report = HtmlReport("overflow check")
    report.table(
        [{f"column {j}": (j * 1234.5 if j % 2 else "text " * 3) for j in range(20)} | {"long": "y" * 300}]
    )
    report.preformatted(_box_table())
    fig, ax = plt.subplots(figsize=(20, 3))
    ax.plot([0, 1], [0, 1])
    report.figure(fig, "a wide figure")
    return report


class _Parents(HTMLParser):
    """Records, for each start tag, the chain of enclosing tags with their classes."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.seen: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, list(self.stack)))
        if tag not in ("img", "meta", "br"):
            self.stack.append((tag, dict(attrs).get("class") or ""))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass


def _rule(selector: str) -> str:
    """The declarations of the first CSS rule for `selector` in the report's style sheet."""
    match = re.search(rf"(?:^|[}}\s]){re.escape(selector)}\s*\{{([^}}]*)\}}", STYLE)
    assert match, f"no CSS rule for {selector}"
    return re.sub(r"\s+", " ", match.group(1))


def test_report_css_keeps_content_within_the_window() -> None:
    parser = _Parents()
    parser.feed(_report().render())
    tables = [parents for tag, parents in parser.seen if tag == "table"]
    assert tables and all(parents[-1] == ("div", "wide") for parents in tables)  # each table in a scroll box
    wide = _rule(".wide")
    assert "overflow-x: auto" in wide and "max-width: 100%" in wide
    pre = _rule("pre")
    assert "white-space: pre;" in pre and "overflow-x: auto" in pre and f"font-family: {MONOSPACE}" in pre
    assert MONOSPACE.startswith("'DejaVu Sans Mono'") and MONOSPACE.endswith("monospace")
    size, height = (
        float(re.search(r"font-size: ([\d.]+)px", pre).group(1)),
        re.search(r"line-height: ([\d.]+)", pre),
    )
    assert size > 0 and float(height.group(1)) <= 1.25  # vertical rules of box tables join up
    assert "max-width: 100%" in _rule("img")


MEASURE = """<script>
const out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, pre: []};
for (const pre of document.querySelectorAll("pre")) {
  const node = pre.firstChild, text = node.textContent, widths = [];
  let start = 0;
  for (const line of text.split("\\n")) {
    if (/^[┏┃┡│└┗╭╰┌├]/.test(line)) {
      const range = document.createRange();
      range.setStart(node, start);
      range.setEnd(node, start + line.length);
      widths.push(range.getBoundingClientRect().width);
    }
    start += line.length + 1;
  }
  out.pre.push({widths: widths, font: getComputedStyle(pre).fontFamily, lineHeight: getComputedStyle(pre).lineHeight});
}
const div = document.createElement("div");
div.id = "measured";
div.textContent = JSON.stringify(out);
document.body.appendChild(div);
</script>"""


def _browser() -> str | None:
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-headless-shell", "chromium-browser")) if p), None
    )


@pytest.mark.skipif(_browser() is None, reason="no Chromium on PATH (Debian: apt-get install chromium)")
def test_report_has_no_horizontal_overflow_in_chromium(tmp_path) -> None:
    page = tmp_path / "report.html"
    page.write_text(_report().render().replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    flags = (
        "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
    )
    flags += " --disable-component-update --disable-sync"
    proc = subprocess.run(
        [_browser(), *flags.split(), f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WINDOW},900"]
        + ["--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<div id="measured">(.*?)</div>', proc.stdout)
    assert found, f"no measurements in Chromium's DOM (exit {proc.returncode}): {proc.stderr[-2000:]}"
    measured = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert measured["innerWidth"] == WINDOW
    assert measured["scrollWidth"] <= WINDOW, measured  # nothing sticks out of the window
    (pre,) = measured["pre"]
    lines = [line for line in _box_table().splitlines() if BOX_LINE.match(line)]
    assert len(pre["widths"]) == len(lines) >= 8 and len({len(line) for line in lines}) == 1
    assert max(pre["widths"]) - min(pre["widths"]) < 0.5, pre  # every box line as wide as the others
