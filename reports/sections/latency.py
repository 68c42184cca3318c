"""Latency percentiles (p50, p90, p99) against batch size, per backend."""

import pandas as pd

from reports.analysis import ok_cells
from reports.base import ReportContext, Section, new_figure, save_figure


def render(ctx: ReportContext) -> Section:
    section = Section("Latency percentiles vs batch size")
    rows, seen = [], set()
    for r in ok_cells(ctx.records):
        key = (r["model"], r["backend"])
        if key in seen:  # timing does not depend on the task: one cell per variant is enough
            continue
        seen.add(key)
        for p in r.get("performance", []):
            rows.append({"model": r["model"], "backend": r["backend"], "batch": p["batch_size"],
                         "seq": p["seq_len"], **{k: p["latency_ms"][k] for k in ("p50", "p90", "p99")}})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return section.text("No timing data.")
    seq = frame["seq"].min()
    fig, ax = new_figure(figsize=(7, 4.5))
    for (model, backend), g in frame[frame["seq"] == seq].groupby(["model", "backend"]):
        g = g.sort_values("batch")
        line, = ax.plot(g["batch"], g["p50"], marker="o", label=f"{model}/{backend} p50")
        ax.fill_between(g["batch"], g["p50"], g["p99"], color=line.get_color(), alpha=0.15)
        ax.plot(g["batch"], g["p90"], linestyle="--", color=line.get_color(), linewidth=0.8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel(f"latency, ms (seq {seq}); dashed p90, band up to p99")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    section.image(save_figure(fig, ctx.out_dir / "latency.png"), "latency percentiles")
    return section.table(frame.sort_values(["model", "backend", "batch", "seq"]))
