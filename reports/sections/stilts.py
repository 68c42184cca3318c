"""The STILTs effect: the same target task trained from the pretrained encoder (target only) and after an
English intermediate task (intermediate -> target), compared per language, under eager fp32 and under each
inference path both were measured with."""

import pandas as pd

from reports.analysis import has_accuracy, ok_cells
from reports.base import ReportContext, Section


def _trained_heads(ctx: ReportContext) -> dict:
    """task -> {"target only": [model], "<intermediate> -> <task>": [model]}: fine-tuned checkpoints (not
    distilled students, not bare encoders) as their stilts.json describes them."""
    out: dict = {}
    for r in ok_cells(ctx.records):
        meta = r.get("checkpoint_metadata") or {}
        if not has_accuracy(r) or not meta.get("target_task") or meta.get("teacher"):
            continue
        # an intermediate phase is one this toolkit trained: `intermediate` records its training data. An encoder
        # root's own pretraining purpose (the demo's e5: "retrieval", recorded as a phase without data by heads
        # fine-tuned before bench.commands.finetune told roots apart) is not one
        trained = (meta.get("intermediate") or {}).get("train_data")
        chain = "target only" if not (meta.get("intermediate_task") and trained) else \
            f"{meta['intermediate_task']} -> {meta['target_task']}"
        models = out.setdefault(r["task"], {}).setdefault(chain, [])
        if r["model"] not in models:
            models.append(r["model"])
    return {task: chains for task, chains in out.items() if "target only" in chains and len(chains) > 1}


def render(ctx: ReportContext) -> Section:
    section = Section("STILTs effect: target only vs intermediate -> target")
    pairs = _trained_heads(ctx)
    if not pairs:
        return section.text("No task has both a target-only head and an intermediate -> target head in this run.")
    section.text("Each head was trained on the same English target data with the same settings; the STILTs one "
                 "started from a checkpoint fine-tuned on the intermediate task (its stilts.json records the "
                 "chain). Effect = STILTs minus target only, in points: zero-shot transfer gained (+) or lost (-) "
                 "per language. With a per-language example cap, differences of a few points are within noise.")
    cells = {(r["model"], r["backend"], r["task"]): r for r in ok_cells(ctx.records) if has_accuracy(r)}
    for task, chains in sorted(pairs.items()):
        base = chains["target only"][0]
        for chain, models in sorted(chains.items()):
            if chain == "target only":
                continue
            stilts = models[0]
            ref, var = cells[(base, "eager", task)]["accuracy"], cells[(stilts, "eager", task)]["accuracy"]
            rows = [{"language": lang, f"target only ({base})": ref["scores"][lang],
                     f"{chain} ({stilts})": var["scores"][lang], "effect": var["scores"][lang] - ref["scores"][lang]}
                    for lang in ref["scores"] if lang in var["scores"]]
            frame = pd.DataFrame(rows)
            average = frame.drop(columns="language").mean()
            frame.loc[len(frame)] = {"language": "average", **average.to_dict()}
            section.text(f"**{task}** ({ref.get('metric', 'score')}, eager fp32): {chain} vs target only.")
            section.table(frame)
            by_path = []
            for (model, backend, t), r in sorted(cells.items()):
                if t != task or model != base or (stilts, backend, task) not in cells:
                    continue
                a, b = r["accuracy"]["average"], cells[(stilts, backend, task)]["accuracy"]["average"]
                by_path.append({"backend": backend, "target only": a, chain: b, "effect": b - a})
            if len(by_path) > 1:
                section.text(f"The {task} effect under each inference path (average over languages): does it "
                             "survive quantisation?")
                section.table(pd.DataFrame(by_path))
    return section
