"""`bench report`: reports/NAME/report.md, report.html (self-contained) and the PNG plots."""

from __future__ import annotations

import html
import importlib
import json
import time
from pathlib import Path

from bench.errors import UserError
from bench.records import write_text_atomic
from bench.store import ResultStore
from reports.analysis import default_shape, gate
from reports.base import ReportContext
from reports.sections import SECTIONS

CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
       "table.t{border-collapse:collapse;font-size:13px;margin:1em 0}table.t td,table.t th{padding:3px 8px;"
       "border-bottom:1px solid #ddd;text-align:right}img{max-width:100%}h2{border-bottom:2px solid #eee}")


def load_run(run_dir: Path) -> tuple[list[dict], dict]:
    run_dir = Path(run_dir)
    records = ResultStore(run_dir).read()
    if not records:
        raise UserError(f"{run_dir} holds no sweep results ({run_dir / 'results.jsonl'}); run bench sweep first")
    config_path = run_dir / "sweep.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return records, config


def build_report(run_dir: Path, reports_root: Path = Path("reports")) -> Path:
    records, config = load_run(run_dir)
    name = Path(run_dir).resolve().name
    out = reports_root / name
    out.mkdir(parents=True, exist_ok=True)
    rule = config.get("gate", {"mode": "absolute", "points": 1.0})
    ctx = ReportContext(name, records, config, gate(records, rule), default_shape(records), out)
    sections = [importlib.import_module(m).render(ctx) for m in SECTIONS]
    title = f"stilts-bench report: {name}"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    md = f"# {title}\n\nGenerated {stamp} from `{run_dir}`.\n\n" + "\n".join(s.markdown() for s in sections)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><p>Generated {stamp}.</p>"
            + "\n".join(s.html() for s in sections) + "</body></html>")
    write_text_atomic(out / "report.md", md)
    write_text_atomic(out / "report.html", page)
    return out
