"""`bench report RUN`: report.md, report.html (self-contained) and the PNG plots, written beside the run
(RUN/report/) unless told where. Showcase reports that the repository commits live in reports/showcase/."""

from __future__ import annotations

import html
import time
from pathlib import Path

from bench.records.schema import SweepCellRecord
from bench.records.store import ResultStore
from models.errors import UserError
from models.files import write_text_atomic
from reports.analysis import gate
from reports.throughput import choose_throughput, default_shape
from reports.base import ReportContext
from reports.sections import SECTIONS

CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
       "table.t{border-collapse:collapse;font-size:13px;margin:1em 0}table.t td,table.t th{padding:3px 8px;"
       "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}h2{border-bottom:2px solid #eee}")


REPORT_DIR = "report"  # inside the run directory


def load_run(run_dir: Path) -> tuple[list[SweepCellRecord], dict]:
    """A sweep's cells (upgraded to the current schema) and its sweep.json."""
    store = ResultStore(Path(run_dir))
    records = store.read()
    if not records:
        raise UserError(f"{run_dir} holds no sweep results ({store.path}); run bench sweep first")
    return records, store.config()


def build_report(run_dir: Path, out: Path | None = None, throughput: str = "task",
                 batching: str | None = None) -> Path:
    records, config = load_run(run_dir)
    name = Path(run_dir).resolve().name
    out = Path(out) if out else Path(run_dir) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    rule = config.get("gate", {"mode": "absolute", "points": 1.0})
    ctx = ReportContext(name, records, config, gate(records, rule), default_shape(records), out,
                        choose_throughput(records, throughput, batching))
    sections = [render(ctx) for _, render in SECTIONS.items()]
    title = f"stilts-bench report: {name}"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    md = f"# {title}\n\nGenerated {stamp} from `{run_dir}`.\n\n" + "\n".join(s.markdown() for s in sections)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><p>Generated {stamp}.</p>"
            + "\n".join(s.html() for s in sections) + "</body></html>")
    write_text_atomic(out / "report.md", md)
    write_text_atomic(out / "report.html", page)
    return out
