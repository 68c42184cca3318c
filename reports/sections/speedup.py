"""Speedup over eager fp32 of the same model, per backend: throughput ratios across cells of one sweep."""

import pandas as pd

from reports.analysis import ok_cells, reference
from reports.base import ReportContext, Section, new_figure, save_figure


def speedups(ctx: ReportContext) -> pd.DataFrame:
    rows = []
    for r in ok_cells(ctx.records):
        eager = reference(ctx.records, r["model"], r["task"])
        thr, base = ctx.throughput.of(r), eager and ctx.throughput.of(eager)
        if thr and base:
            rows.append({"model": r["model"], "backend": r["backend"], "task": r["task"], "speedup": thr / base})
    return pd.DataFrame(rows)


def render(ctx: ReportContext) -> Section:
    section = Section("Speedup over eager fp32")
    frame = speedups(ctx)
    if frame.empty:
        return section.text("No timing data.")
    table = frame.groupby(["model", "backend"], as_index=False)["speedup"].mean()
    fig, ax = new_figure(figsize=(7, 0.4 * len(table) + 1.5))
    labels = [f"{m} / {b}" for m, b in zip(table["model"], table["backend"])]
    ax.barh(labels, table["speedup"], color=["tab:blue" if s >= 1 else "tab:orange" for s in table["speedup"]])
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xlabel(f"throughput / eager fp32 throughput ({ctx.throughput.short}, both sides)")
    section.image(save_figure(fig, ctx.out_dir / "speedup.png"), "speedup over eager")
    section.text(f"Throughput: {ctx.throughput.caption}; a variant and its eager fp32 are read under the same "
                 f"measure. {ctx.throughput.note}".strip())
    section.text("How these ratios were measured: **across cells** of one sweep. Each cell timed its variant in "
                 "processes of its own, one cell after another, with no interleaving and no interval; a ratio "
                 "here also carries drift between cells. For a same-run ratio with a 95% interval (baseline and "
                 "variant alternating in fresh processes), use `bench run --baseline eager --repeats N`.")
    return section.table(table)
