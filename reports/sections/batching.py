"""Batching policies compared on each task's own inputs, and the token lengths that explain them: padding
fraction against throughput per policy, each variant's speedup over eager fp32 under the same policy, and one
length histogram per task (a policy's gain follows from how ragged the inputs are)."""

import pandas as pd

from reports.analysis import has_accuracy, ok_cells, reference
from reports.base import ReportContext, Section, new_figure, save_figure


def _blocks(record: dict) -> dict:
    return (record.get("accuracy") or {}).get("task_throughput") or {}


def policy_table(ctx: ReportContext) -> pd.DataFrame:
    cells = [r for r in ok_cells(ctx.records) if has_accuracy(r) and _blocks(r)]
    rows = []
    for r in cells:
        eager = reference(ctx.records, r["model"], r["task"])
        for policy, b in _blocks(r).items():
            base = eager and _blocks(eager).get(policy)
            fixed = _blocks(r).get("fixed")
            rows.append({"task": r["task"], "variant": f"{r['model']}/{r['backend']}", "batching": policy,
                         "padding": b["padding_fraction"], "examples/s": b["examples_per_s"],
                         "tokens/s": b["tokens_per_s"],
                         "vs fixed": b["examples_per_s"] / fixed["examples_per_s"] if fixed else None,
                         "vs eager, same policy": b["examples_per_s"] / base["examples_per_s"] if base else None,
                         "compiles": b["compiles"], "same predictions": b["prediction_agreement"]})
    return pd.DataFrame(rows)


def render(ctx: ReportContext) -> Section:
    section = Section("Task throughput by batching policy")
    frame = policy_table(ctx)
    if frame.empty:
        return section.text("No cell measured task throughput (runs older than schema 3, or untrained models).")
    section.text("Every accuracy pass times the model on the task's own test inputs, batch by batch (warm-up on "
                 "real batches, clock read after synchronisation, tokenisation timed apart), under each policy of "
                 "`--batching`: **fixed** pads every batch to the task's max length (XTREME's scripts), **dynamic** "
                 "pads each batch to its longest input in data order, **sorted** sorts by length first, **tokens** "
                 "fills sorted batches up to a token budget. 'vs eager, same policy' divides a variant's "
                 "examples/s by eager fp32's under the same policy; 'same predictions' is the share of predictions "
                 "equal to the scored policy's (padding is masked, so only numerical noise may differ).")
    for task in sorted(frame["task"].unique()):
        sub = frame[frame["task"] == task]
        fig, ax = new_figure(figsize=(8.5, 4))
        for variant in sorted(sub["variant"].unique()):
            points = sub[sub["variant"] == variant].sort_values("padding")
            ax.plot(points["padding"] * 100, points["examples/s"], marker="o", label=variant)
        eager = sub[sub["variant"].str.endswith("/eager")]
        for _, row in eager.iterrows():  # the policy names, once, on the reference's line
            ax.annotate(row["batching"], (row["padding"] * 100, row["examples/s"]), textcoords="offset points",
                        xytext=(4, -10), fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("padding, % of the tokens fed")
        ax.set_ylabel("examples/s (log scale)")
        ax.set_title(f"{task}: less padding, more throughput")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: never over a point
        section.image(save_figure(fig, ctx.out_dir / f"batching-{task}.png"), f"padding vs throughput, {task}")
        section.table(sub.drop(columns=["task"]))
    _length_histograms(ctx, section)
    return section


def _length_histograms(ctx: ReportContext, section: Section) -> None:
    lengths = {}
    for r in ok_cells(ctx.records):
        found = (r.get("accuracy") or {}).get("input_lengths")
        if found and r["task"] not in lengths:
            lengths[r["task"]] = found
    for task, per_lang in sorted(lengths.items()):
        fig, ax = new_figure(figsize=(7, 3))
        for lang, h in sorted(per_lang.items()):
            total = sum(h["counts"]) or 1
            edges = [i * h["bin_width"] for i in range(len(h["counts"]) + 1)]
            ax.stairs([c / total * 100 for c in h["counts"]], edges, label=f"{lang} (median {h['p50']})")
        ax.set_xlabel("tokens per model input")
        ax.set_ylabel("% of inputs")
        ax.set_title(f"{task}: input lengths per language")
        ax.legend(fontsize=7, ncol=2)
        section.image(save_figure(fig, ctx.out_dir / f"lengths-{task}.png"), f"input lengths, {task}")
