"""What the calibration language does to each target language: statically quantised variants of one backend that
differ only in their calibration text (English only, a multilingual mix), their drop against eager fp32 per
language side by side. Static int8 fixes activation ranges from the calibration text; a language whose
activations fall outside them pays, and that is what this section shows."""

import re

import numpy as np
import pandas as pd

from reports.base import ReportContext, Section, new_figure, save_figure


def _calibration_label(calibration: dict) -> str:
    langs = calibration.get("languages") or []
    which = "English only" if langs == ["en"] else f"{len(langs)}-language mix" if len(langs) > 3 else "+".join(langs)
    return f"{which} ({calibration.get('source')}, {calibration.get('samples')} texts)"


def calibration_rows(ctx: ReportContext) -> list[dict]:
    by_id = {r["cell_id"]: r for r in ctx.records}
    rows = []
    for g in ctx.gate:
        record = by_id.get(g.cell_id) or {}
        calibration = record.get("calibration")
        if not calibration or not g.language_drops:
            continue
        rows.append({"task": g.task, "model": g.model, "backend": g.backend.split("[")[0], "variant": g.backend,
                     "calibration": _calibration_label(calibration), "english_only": calibration["languages"] == ["en"],
                     "drops": g.language_drops, "cis": g.language_drop_cis, "drop": g.drop, "drop_ci": g.drop_ci})
    return rows


def render(ctx: ReportContext) -> Section:
    section = Section("Calibration language and target language")
    rows = calibration_rows(ctx)
    if not rows:
        return section.text("No statically quantised variant (onnx-static-int8, openvino-int8) in this run.")
    section.text("Static int8 fixes each activation's range from a calibration text. Each row is one variant of one "
                 "backend (options other than the defaults in brackets), with the text it was calibrated on; the cells are points lost against eager fp32 of the same "
                 "checkpoint per target language (positive = worse; 95% paired-bootstrap interval in brackets where "
                 "per-example scores exist). The calibration text is never the text being scored.")
    for (task, model, backend) in sorted({(r["task"], r["model"], r["backend"]) for r in rows}):
        group = sorted((r for r in rows if (r["task"], r["model"], r["backend"]) == (task, model, backend)),
                       key=lambda r: (not r["english_only"], r["calibration"]))
        langs = sorted({lang for r in group for lang in r["drops"]})
        table = []
        for r in group:
            row = {"variant": r["variant"], "calibration": r["calibration"]}
            for lang in langs:
                drop, ci = r["drops"].get(lang), r["cis"].get(lang)
                row[lang] = "-" if drop is None else (f"{drop:+.2f} [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else f"{drop:+.2f}")
            row["average"] = "-" if r["drop"] is None else f"{r['drop']:+.2f}"
            table.append(row)
        section.text(f"**{task}, {model}/{backend}**")
        section.table(pd.DataFrame(table))
        if len(group) < 2:
            continue
        fig, ax = new_figure(figsize=(max(7.0, 1.5 + 1.2 * len(langs)), 3.5 + 0.3 * len(group)))
        width = 0.8 / len(group)
        x = np.arange(len(langs))
        for i, r in enumerate(group):
            values = [r["drops"].get(lang, np.nan) for lang in langs]
            lows = [v - r["cis"][lang][0] if lang in r["cis"] else 0 for lang, v in zip(langs, values)]
            highs = [r["cis"][lang][1] - v if lang in r["cis"] else 0 for lang, v in zip(langs, values)]
            ax.bar(x + (i - (len(group) - 1) / 2) * width, values, width, yerr=[lows, highs], capsize=2,
                   label=f"{r['variant']}: {r['calibration']}")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(x, langs)
        ax.set_xlabel("target language")
        ax.set_ylabel("points lost vs eager fp32")
        ax.set_title(f"{task}, {model}/{backend}: drop by calibration text")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below: the bars keep the width
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"calibration-{task}-{model}-{backend}")
        section.image(save_figure(fig, ctx.out_dir / f"{slug}.png"),
                      f"drop per language by calibration, {task} {backend}")
    return section
