"""Which languages lose most under each inference path: per-language drop against eager fp32."""

import numpy as np
import pandas as pd

from reports.base import ReportContext, Section, new_figure, save_figure


def render(ctx: ReportContext) -> Section:
    section = Section("Per-language degradation")
    rows = [g for g in ctx.gate if g.language_drops and g.backend != "eager"]
    if not rows:
        return section.text("No variant with per-language accuracy against a reference.")
    for task in sorted({g.task for g in rows}):
        subset = [g for g in rows if g.task == task]
        frame = pd.DataFrame({f"{g.model}/{g.backend}": g.language_drops for g in subset}).T
        frame = frame[sorted(frame.columns)]
        fig, ax = new_figure(figsize=(1 + 0.7 * len(frame.columns), 1 + 0.45 * len(frame)))
        limit = max(1.0, float(np.nanmax(np.abs(frame.values))))
        image = ax.imshow(frame.values, cmap="RdYlGn_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(len(frame.columns)), frame.columns)
        ax.set_yticks(range(len(frame)), frame.index)
        for i in range(len(frame)):
            for j in range(len(frame.columns)):
                ax.text(j, i, f"{frame.values[i, j]:+.1f}", ha="center", va="center", fontsize=7)
        fig.colorbar(image, ax=ax, label="points lost vs eager fp32")
        ax.set_title(f"{task}: drop per language (red = worse)")
        section.image(save_figure(fig, ctx.out_dir / f"languages-{task}.png"), f"per-language drop, {task}")
        worst = pd.DataFrame([{"variant": f"{g.model}/{g.backend}", "task": task, "worst language": g.worst_language,
                               "its drop": g.language_drops.get(g.worst_language)} for g in subset])
        section.table(worst)
    return section
