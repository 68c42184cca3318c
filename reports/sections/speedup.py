"""Speedup over eager fp32 of the same model, per variant and task, with its 95% interval where the run timed its
variants in rounds."""

import pandas as pd

from reports.analysis import ok_cells, reference
from reports.base import ReportContext, Section, new_figure, save_figure


def speedups(ctx: ReportContext) -> pd.DataFrame:
    rows = []
    for r in ok_cells(ctx.records):
        eager = reference(ctx.records, r["model"], r["task"])
        ratio = ctx.throughput.ratio(eager, r) if eager else None
        if ratio:
            ci = ratio[1] or (None, None)
            rows.append({"model": r["model"], "backend": r["backend"], "task": r["task"], "speedup": ratio[0],
                         "95% low": ci[0], "95% high": ci[1]})
    return pd.DataFrame(rows)


def render(ctx: ReportContext) -> Section:
    section = Section("Speedup over eager fp32")
    table = speedups(ctx)
    if table.empty:
        return section.text("No timing data.")
    fig, ax = new_figure(figsize=(7, 0.4 * len(table) + 1.5))
    labels = [f"{m} / {b} / {t}" for m, b, t in zip(table["model"], table["backend"], table["task"])]
    has_ci = table["95% low"].notna()
    # an error bar only where the interval exists (rounds); matplotlib draws none for a zero half-width
    errors = [(table["speedup"] - table["95% low"]).where(has_ci, 0.0),
              (table["95% high"] - table["speedup"]).where(has_ci, 0.0)]
    ax.barh(labels, table["speedup"], xerr=errors, capsize=3,
            color=["tab:blue" if s >= 1 else "tab:orange" for s in table["speedup"]])
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xlabel(f"throughput / eager fp32 throughput ({ctx.throughput.short}, both sides)")
    section.image(save_figure(fig, ctx.out_dir / "speedup.png"), "speedup over eager")
    section.text(f"Throughput: {ctx.throughput.caption}; a variant and its eager fp32 are read under the same "
                 f"measure. {ctx.throughput.note}".strip())
    if ctx.throughput.in_rounds:
        section.text(f"How these ratios were measured: in the sweep's **timing rounds** over the same sampled "
                     f"batches — {ctx.throughput.round_method} — and each 95% interval (bars, `95% low`/`95% "
                     "high`) by resampling rounds, then batches within them. An interval that contains 1.00 cannot "
                     "tell the variant from its eager fp32.")
    else:
        section.text("How these ratios were measured: **across cells** of one sweep. Each cell timed its variant in "
                     "processes of its own, one cell after another, with no interleaving and no interval; a ratio "
                     "here also carries drift between cells. For intervals run the sweep with `--rounds N` (N >= 3), "
                     "or `bench run --baseline eager --repeats N` for one same-run ratio.")
    return section.table(table)
