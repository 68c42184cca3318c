"""Distilled students against their teacher: for each student (a checkpoint whose stilts.json names a
teacher), its accuracy per language and its throughput under every inference path it was measured with, as
ratios of the teacher's eager fp32 throughput in the same run, and how it was trained."""

import pandas as pd

from reports.analysis import has_accuracy, ok_cells
from reports.base import ReportContext, Section
from reports.throughput import Throughput, times_text


def _teacher_model(meta: dict, models: dict[str, dict]) -> str | None:
    """The run's model name of the student's teacher: matched on the checkpoint path, else on the name."""
    for model, record in models.items():
        if record.get("checkpoint") == meta.get("teacher_checkpoint") or model == meta.get("teacher"):
            return model
    return None


def _recipe(meta: dict) -> str:
    sources = meta.get("data_sources") or []
    parallel = sorted({s["lang"] for s in sources if s["kind"] == "parallel"})
    texts = meta.get("texts")
    vocab = meta.get("vocabulary") or {}
    parts = [f"{meta.get('layers')} layers x {meta.get('hidden')}", f"{meta.get('steps')} steps of "
             f"{meta.get('batch_size')}", f"{(meta.get('train_seconds') or 0) / 60:.1f} min"]
    if texts:
        parts.append(f"{texts:,} texts" + (f" ({len(sources)} sources; parallel to English: {', '.join(parallel)})"
                                           if sources else ""))
    if vocab:
        parts.append(f"vocabulary {vocab['pieces_before']:,} -> {vocab['pieces_after']:,} pieces "
                     f"({', '.join(meta.get('vocabulary_languages') or [])})")
    if meta.get("learned_text"):
        from models.taskdata.scored_text import learned_from

        parts.append(f"learned evaluation text: {', '.join(map(str, learned_from(meta)))} (scores that read it are "
                     "refused)")
    elif meta.get("evaluation_text"):  # students distilled before learned_text was recorded
        parts.append(f"kept off {', '.join(meta['evaluation_text'])} (trained on their evaluation text)")
    return "; ".join(parts)


def _over_teacher(measure: Throughput, teacher_eager: dict, cell: dict) -> str | None:
    ratio = measure.ratio(teacher_eager, cell)
    return times_text(*ratio) if ratio else None


def render(ctx: ReportContext) -> Section:
    section = Section("Distilled students vs their teacher")
    cells = [r for r in ok_cells(ctx.records) if has_accuracy(r)]
    first_by_model = {}
    for r in cells:
        first_by_model.setdefault(r["model"], r)
    students = {m: r["checkpoint_metadata"] for m, r in first_by_model.items()
                if (r.get("checkpoint_metadata") or {}).get("teacher")}
    if not students:
        return section.text("No distilled student in this run (`bench distill` makes one).")
    measure = ctx.throughput
    section.text(f"Accuracy and throughput ({measure.short}) of each student under each inference path, against "
                 "its teacher's eager fp32 in the same run (the same examples and batching policy). "
                 "Drop: teacher eager fp32 minus the student's score, in points. `x teacher eager`: throughput over "
                 "the teacher's eager fp32" + (", with its 95% interval from the timing rounds (rounds, then "
                                              "batches resampled)" if measure.in_rounds else
                                              " across cells of one run (no interval: run the sweep with --rounds)")
                 + ".")
    for student, meta in sorted(students.items()):
        teacher = _teacher_model(meta, first_by_model)
        section.text(f"**{student}** (teacher {meta.get('teacher')}): {_recipe(meta)}.")
        if teacher is None:
            section.text("Its teacher is not in this run: no ratios.")
            continue
        for task in sorted({r["task"] for r in cells if r["model"] == student}):
            ref = next((r for r in cells if r["model"] == teacher and r["task"] == task and r["backend"] == "eager"),
                       None)
            if ref is None:
                section.text(f"{task}: the teacher has no eager fp32 cell on it.")
                continue
            rows, per_language = [], {"teacher eager": ref["accuracy"]["scores"]}
            for r in sorted((r for r in cells if r["task"] == task and r["model"] in (student, teacher)),
                            key=lambda r: (r["model"] != teacher, r["backend"])):
                thr = measure.of(r)
                who = "teacher" if r["model"] == teacher else "student"
                rows.append({"model": f"{who} ({r['model']})", "backend": r["backend"],
                             "accuracy": r["accuracy"]["average"],
                             "drop": ref["accuracy"]["average"] - r["accuracy"]["average"],
                             "throughput": thr, "x teacher eager": _over_teacher(measure, ref, r),
                             "size MiB": r.get("size_mb")})
                if r["model"] == student:
                    per_language[f"student {r['backend']}"] = r["accuracy"]["scores"]
            section.text(f"{task} ({ref['accuracy'].get('metric', 'score')}):")
            section.table(pd.DataFrame(rows))
            frame = pd.DataFrame(per_language).T
            frame.insert(0, "average", frame.mean(axis=1))
            section.text(f"{task}, per language:")
            section.table(frame.reset_index(names="variant"))
    return section
