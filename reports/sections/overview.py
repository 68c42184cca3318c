"""The research question, answered per task family: which size and which inference path is fastest within N
points of the best full-size fp32 model, and which languages pay for it."""

import pandas as pd

from bench.tasks import get_task
from models.errors import UserError
from reports.analysis import REFERENCE_RULE, best_within, ok_cells
from reports.base import ReportContext, Section
from reports.throughput import times_text

WITHIN = (1.0, 3.0)  # points: the gate's default tolerance, and the budget a deployment often accepts


def _family(task: str) -> str:
    try:
        return get_task(task).family
    except UserError:  # a task this version no longer knows still gets its row
        return "other"


def _paying_languages(by_id: dict, answer: dict, n: int = 2) -> str:
    """The languages whose score falls most from the reference's to the chosen variant's (model and path)."""
    ref, best = by_id[answer["reference"]]["accuracy"]["scores"], by_id[answer["variant"]]["accuracy"]["scores"]
    drops = sorted(((ref[lang] - best[lang], lang) for lang in best if lang in ref), reverse=True)
    paying = [f"{lang} {drop:+.1f}" for drop, lang in drops[:n] if drop > 0]
    return ", ".join(paying) or "none"


def _ratio(answer: dict) -> str:
    value = answer["speedup_vs_reference"]
    return times_text(value, answer["speedup_vs_reference_ci"]) if value else "-"


def _tied(answer: dict, task: str) -> str:
    """The qualifying variants whose speed the rounds cannot tell from the fastest's, as `model / backend`."""
    tied = [t["variant"].replace("|" + task, "").replace("|", " / ") for t in answer["tied"]]
    return ", ".join(tied) or ("none" if answer["ties_decidable"] else "undecidable (no intervals)")


def render(ctx: ReportContext) -> Section:
    section = Section("Overview: fastest within N points, per task family")
    tasks = sorted({g.task for g in ctx.gate if g.accuracy is not None})
    if not tasks:
        return section.text("No cell with accuracy: nothing to answer.")
    section.text(
        f"For each task the reference is {REFERENCE_RULE}. Each column names the fastest variant (model and inference "
        "path) whose average drop against it is within N points by its whole 95% interval (a paired bootstrap over "
        "the same examples; a faster variant whose interval straddles N is passed over), with its throughput ratio "
        f"to the reference ({ctx.throughput.short}"
        + ("; its 95% interval from the timing rounds, rounds then batches resampled" if ctx.throughput.in_rounds
           else "; across cells of one run, no interval: run the sweep with --rounds N") +
        "), the qualifying variants its speed cannot be told from (`tied`: the fastest's ratio over each has an "
        "interval that reaches 1.00) and the two languages that lose most against the reference (points). A smaller "
        "model's drop includes what distillation cost.")
    rows, by_id = [], {r["cell_id"]: r for r in ok_cells(ctx.records)}
    for task in sorted(tasks, key=lambda t: (_family(t), t)):
        row = {"family": _family(task), "task": task}
        for within in WITHIN:
            answer = best_within(ctx.records, within, task, ctx.throughput)
            label = f"within {within:g}"
            if "error" in answer:
                row.update({label: "-", f"{label}: x ref": "-", f"{label}: drop": None, f"{label}: tied": "-",
                            f"{label}: paying languages": "-"})
                continue
            row["reference"] = answer["reference"].replace("|eager|" + task, "")
            row.update({label: f"{answer['model']} / {answer['backend']}",
                        f"{label}: x ref": _ratio(answer),
                        f"{label}: drop": answer["accuracy_drop"],
                        f"{label}: tied": _tied(answer, task),
                        f"{label}: paying languages": _paying_languages(by_id, answer)})
        rows.append(row)
    frame = pd.DataFrame(rows)
    order = ["family", "task", "reference"] + [c for c in frame.columns if c.startswith("within")]
    section.table(frame[[c for c in order if c in frame.columns]])
    for family, group in frame.groupby("family", sort=True):
        picks = [f"{r['task']}: {r['within 1']}" + (f" ({r['within 1: x ref']})" if r["within 1: x ref"] != "-"
                                                      else "")
                 for _, r in group.iterrows()]
        section.text(f"**{family}** — within 1 point: " + "; ".join(picks) + ".")
    return section
