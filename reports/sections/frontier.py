"""Accuracy against throughput (log scale) per task, with the Pareto frontier and gate verdicts marked."""

import pandas as pd
from adjustText import adjust_text

from reports.analysis import OVERALL_AXES, frontier_points, ok_cells, pareto
from reports.base import ReportContext, Section, new_figure, save_figure
from reports.throughput import interval_text


def render(ctx: ReportContext) -> Section:
    section = Section("Accuracy vs throughput: the Pareto frontier")
    verdict = {(g.model, g.backend, g.task): g.verdict for g in ctx.gate}
    tasks = sorted({g.task for g in ctx.gate if g.accuracy is not None})
    rows = []
    for task in [*tasks, None] if len(tasks) > 1 else tasks:  # one task: the overall frontier would be the same
        points = frontier_points(ctx.records, task, ctx.throughput)
        if not points:
            continue
        front = pareto(points)
        bars = _intervals(ctx, task) if task else {}
        rows += [{"task": task or "overall", "variant": k, "accuracy": points[k][0],
                  "accuracy 95%": interval_text(bars.get(k, (None, None))[1], ".2f"),
                  ctx.throughput.unit if task else "x reference (geometric mean)": points[k][1],
                  "throughput 95%": interval_text(bars.get(k, (None, None))[0], ".1f")}
                 for k in front]
        fig, ax = new_figure(figsize=(8, 5))
        labels = []
        for key, (acc, thr) in points.items():
            model, backend = key.split("|")
            color = VERDICT_COLOURS.get(verdict.get((model, backend, task), "n/a") if task
                                        else _verdict_everywhere(ctx, model, backend), "tab:gray")
            ax.scatter(thr, acc, color=color, marker="o" if key in front else "x", s=60, zorder=3)
            x_ci, y_ci = bars.get(key, (None, None))
            if x_ci or y_ci:  # 95% intervals on both axes where the run has them
                ax.errorbar(thr, acc, xerr=[[thr - x_ci[0]], [x_ci[1] - thr]] if x_ci else None,
                            yerr=[[acc - y_ci[0]], [y_ci[1] - acc]] if y_ci else None,
                            fmt="none", ecolor=color, elinewidth=1, alpha=0.6, zorder=2)
            labels.append(ax.text(thr, acc, key, fontsize=7))
        fx = [points[k][1] for k in front]
        fy = [points[k][0] for k in front]
        ax.step(fx, fy, where="post", color="black", linewidth=1, alpha=0.6, label="Pareto frontier")
        ax.set_xscale("log")
        # adjustText moves labels off each other and off the points, with a leader line to each point: variants
        # of one path often share accuracy and nearly share throughput
        ax.margins(x=0.08, y=0.15)  # room for labels above the most accurate variants
        adjust_text(labels, ax=ax, expand=(1.2, 1.8), arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5})
        if task:
            ax.set_xlabel(f"throughput, {ctx.throughput.unit} ({ctx.throughput.short}; log scale)")
            ax.set_ylabel("accuracy (average over languages)")
            ax.set_title(f"{task}: gate green pass, orange inconclusive, red fail; circles are on the frontier")
        else:
            ax.set_xlabel(f"{OVERALL_AXES[1]} ({ctx.throughput.short}; log scale)")
            ax.set_ylabel(OVERALL_AXES[0])
            ax.set_title("every task: green passes every gate, red fails one, orange: inconclusive; circles: frontier")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        name = task or "overall"
        section.image(save_figure(fig, ctx.out_dir / f"frontier-{name}.png"), f"frontier for {name}")
    section.blocks.insert(0, ("text", f"Throughput axis: {ctx.throughput.caption}. {ctx.throughput.note} The overall "
                                      f"frontier (variants measured on every task): y is the {OVERALL_AXES[0]}, x "
                                      f"the {OVERALL_AXES[1]} (examples/s of different tasks are never averaged). "
                                      "Bars on a task's frontier: the 95% interval of its throughput (timing "
                                      "rounds) and of its accuracy (the reference's score minus the paired-bootstrap "
                                      "interval of its drop against eager fp32 of the same checkpoint); colours are "
                                      "gate verdicts."
                          .replace("  ", " ").strip()))
    if rows:
        section.text("Variants on the frontier (no other variant is both at least as accurate and as fast):")
        section.table(pd.DataFrame(rows))
    return section


# The gate's verdict (reports.analysis.GateResult.verdict: the drop's interval against the tolerance), not its point
# estimate: a variant whose interval straddles the tolerance is drawn orange, never as passing.
VERDICT_COLOURS = {"pass": "tab:green", "fail": "tab:red", "inconclusive": "tab:orange", "n/a": "tab:gray"}


def _verdict_everywhere(ctx: ReportContext, model: str, backend: str) -> str:
    """Across the variant's tasks: "fail" when one gate fails, else "inconclusive" when one is, "pass" when every
    gate passes, "n/a" when a gate has no verdict."""
    verdicts = {g.verdict for g in ctx.gate if g.model == model and g.backend == backend and g.accuracy is not None}
    for verdict in ("fail", "n/a", "inconclusive"):
        if verdict in verdicts:
            return verdict
    return "pass" if verdicts else "n/a"


def _intervals(ctx: ReportContext, task: str) -> dict:
    """Per variant `model|backend` of one task: (throughput interval, accuracy interval), either None where the run
    has none. The accuracy interval is its own eager fp32's score minus the drop's paired interval."""
    gates = {g.cell_id: g for g in ctx.gate if g.task == task}
    out = {}
    for r in ok_cells(ctx.records):
        g = gates.get(r["cell_id"])  # this task's cells only
        if g is None:
            continue
        accuracy_ci = None
        if g.drop_ci and g.reference is not None:
            low, high = g.drop_ci
            hib = (r.get("accuracy") or {}).get("higher_is_better", True)
            accuracy_ci = (g.reference - high, g.reference - low) if hib else (g.reference + low, g.reference + high)
        out[f"{r['model']}|{r['backend']}"] = (ctx.throughput.interval(r), accuracy_ci)
    return out
