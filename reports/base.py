"""The report-section interface: each section is one module with `render(ctx) -> Section`."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class ReportContext:
    name: str
    records: list[dict]
    config: dict
    gate: list  # analysis.GateResult
    shape: tuple[int, int] | None  # the fixed-shape grid's point that latency and memory sections read
    out_dir: Path  # where images go
    throughput: Any = None  # analysis.Throughput: what frontier, summary, speedup and `best` read


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # ("text", str) | ("table", DataFrame) | ("image", Path, alt)

    def text(self, s: str) -> "Section":
        self.blocks.append(("text", s))
        return self

    def table(self, frame: pd.DataFrame) -> "Section":
        self.blocks.append(("table", frame))
        return self

    def image(self, path: Path, alt: str) -> "Section":
        self.blocks.append(("image", path, alt))
        return self

    def markdown(self) -> str:
        parts = [f"## {self.title}\n"]
        for block in self.blocks:
            if block[0] == "text":
                parts.append(block[1] + "\n")
            elif block[0] == "table":
                escaped = block[1].map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v)  # cell ids
                # a missing value reads "-", as in the HTML, never "nan"
                escaped = escaped.astype(object).where(escaped.notna(), None)
                parts.append(escaped.to_markdown(index=False, floatfmt=".2f", missingval="-") + "\n")
            else:
                parts.append(f"![{block[2]}]({block[1].name})\n")
        return "\n".join(parts)

    def html(self) -> str:
        parts = [f"<h2>{html.escape(self.title)}</h2>"]
        for block in self.blocks:
            if block[0] == "text":
                parts.append("".join(f"<p>{_inline(p)}</p>" for p in block[1].split("\n\n")))
            elif block[0] == "table":
                parts.append(block[1].to_html(index=False, float_format=lambda v: f"{v:.2f}", border=0,
                                              classes="t", na_rep="-"))
            else:  # embedded, so the page is one self-contained file
                data = base64.b64encode(block[1].read_bytes()).decode()
                parts.append(f'<img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">')
        return "\n".join(parts)


def _inline(text: str) -> str:
    """The little markdown the sections use (bold, code) as HTML."""
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text).replace("\n", "<br>")


def new_figure(*args, **kwargs):
    """`plt.subplots` on the file-only Agg backend (reports are written headless, in CI and over ssh)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # labels near the edge stay in the image
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
