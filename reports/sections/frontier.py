"""Accuracy against throughput (log scale) per task, with the Pareto frontier and gate verdicts marked."""

import pandas as pd

from reports.analysis import frontier_points, pareto
from reports.base import ReportContext, Section, new_figure, save_figure


def render(ctx: ReportContext) -> Section:
    section = Section("Accuracy vs throughput: the Pareto frontier")
    verdict = {(g.model, g.backend, g.task): g.passed for g in ctx.gate}
    tasks = sorted({g.task for g in ctx.gate if g.accuracy is not None})
    rows = []
    for task in [*tasks, None]:
        points = frontier_points(ctx.records, task, ctx.throughput)
        if not points:
            continue
        front = pareto(points)
        rows += [{"task": task or "overall", "variant": k, "accuracy": points[k][0],
                  ctx.throughput.unit: points[k][1]}
                 for k in front]
        if task is None:
            continue
        fig, ax = new_figure(figsize=(7, 4.5))
        offsets = _label_offsets(points)
        for key, (acc, thr) in points.items():
            model, backend = key.split("|")
            passed = verdict.get((model, backend, task))
            color = {True: "tab:green", False: "tab:red", None: "tab:gray"}[passed]
            ax.scatter(thr, acc, color=color, marker="o" if key in front else "x", s=60, zorder=3)
            ax.annotate(key, (thr, acc), textcoords="offset points", xytext=(4, 4 + offsets[key]), fontsize=7)
        fx = [points[k][1] for k in front]
        fy = [points[k][0] for k in front]
        ax.step(fx, fy, where="post", color="black", linewidth=1, alpha=0.6, label="Pareto frontier")
        ax.set_xscale("log")
        ax.set_xlabel(f"throughput, {ctx.throughput.unit} ({ctx.throughput.short}; log scale)")
        ax.set_ylabel("accuracy (average over languages)")
        ax.set_title(f"{task}: green passes the gate, red fails; circles are on the frontier")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        section.image(save_figure(fig, ctx.out_dir / f"frontier-{task}.png"), f"frontier for {task}")
    section.blocks.insert(0, ("text", f"Throughput axis: {ctx.throughput.caption}. {ctx.throughput.note}".strip()))
    if rows:
        section.text("Variants on the frontier (no other variant is both at least as accurate and as fast):")
        section.table(pd.DataFrame(rows))
    return section


def _label_offsets(points: dict[str, tuple[float, float]], step: float = 9.0) -> dict[str, float]:
    """Vertical label offsets (in points) that stack the labels of variants lying close together (eager,
    compile and torchscript often share accuracy and nearly share throughput), so that none is hidden."""
    import math

    accs = [a for a, _ in points.values()]
    logs = [math.log10(max(t, 1e-9)) for _, t in points.values()]
    span_a = (max(accs) - min(accs)) or 1.0
    span_t = (max(logs) - min(logs)) or 1.0
    placed: list[tuple[float, float, float]] = []  # normalised x, y, offset of labels already placed
    offsets = {}
    for key, (acc, thr) in sorted(points.items(), key=lambda kv: (-kv[1][0], kv[1][1])):
        x, y = (math.log10(max(thr, 1e-9)) - min(logs)) / span_t, (acc - min(accs)) / span_a
        offset = 0.0
        while any(abs(x - px) < 0.2 and abs(y - py) < 0.06 and offset == po for px, py, po in placed):
            offset -= step
        placed.append((x, y, offset))
        offsets[key] = offset
    return offsets
