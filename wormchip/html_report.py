"""A self-contained HTML report: headings, text, tables and matplotlib figures inlined as PNG (base64).

One file, no server, no external assets, so it opens from disk in any browser and can be mailed around.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

# Monospace fonts that carry the box-drawing glyphs of rich's tables with the same advance width as letters; a
# fallback font with other widths for those glyphs misaligns the tables.
MONOSPACE = (
    "'DejaVu Sans Mono', Menlo, Consolas, 'Cascadia Mono', 'Liberation Mono', 'Noto Sans Mono', monospace"
)

# Fits a 1280-px window whatever the content: wide tables scroll inside their own box (.wide), preformatted
# text scrolls instead of wrapping (line height 1.15, so the vertical rules of box tables join), images shrink
# to the column.
STYLE = (
    """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222;
  line-height: 1.4 }
.wide { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1.5em }
table { border-collapse: collapse } td, th { border: 1px solid #ccc; padding: 3px 8px; vertical-align: top }
th { background: #f3f3f3 } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap }
td.text { min-width: 6em; max-width: 40em; overflow-wrap: anywhere }
figure { margin: 1em 0 } img { max-width: 100%; height: auto; border: 1px solid #eee }
.note { color: #666; font-size: 0.9em }
"""
    + f"pre {{ font-family: {MONOSPACE}; font-size: 13px; line-height: 1.15; white-space: pre; overflow-x: auto;"
    " max-width: 100%; background: #fafafa; padding: 0.5em }"
)


class HtmlReport:
    """Collects sections in order; `save(path)` writes one HTML file."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str, note: bool = False) -> None:
        cls = ' class="note"' if note else ""
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def preformatted(self, text: str) -> None:
        """Monospaced text (e.g. a rich table rendered as text), kept as is: scrolls rather than wraps."""
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> None:
        """Rows of dicts; numbers right-aligned and formatted to 4 significant digits. The table scrolls in its
        own box when wider than the page."""
        if not rows:
            self.text("(no rows)", note=True)
            return
        columns = list(columns or rows[0].keys())
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = []
        for row in rows:
            cells = []
            for c in columns:
                value = row.get(c, "")
                if isinstance(value, float):
                    cells.append(f'<td class="num">{value:.4g}</td>')
                elif isinstance(value, int):
                    cells.append(f'<td class="num">{value:,}</td>')
                else:
                    cells.append(f'<td class="text">{html.escape(str(value))}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.parts.append(f"<div class='wide'><table><tr>{head}</tr>{''.join(body)}</table></div>")

    def figure(self, fig, caption: str = "") -> None:
        """Inline a matplotlib figure as a PNG data URI and close it."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        alt = html.escape(caption or "figure")
        self.parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">')
        if caption:
            self.parts.append(f"<figcaption class='note'>{html.escape(caption)}</figcaption>")
        self.parts.append("</figure>")

    def render(self) -> str:
        title = html.escape(self.title)
        return (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{STYLE}</style></head><body><h1>{title}</h1>{''.join(self.parts)}</body></html>"
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")
        return path
