"""Every cell: accuracy, drop against eager fp32, gate verdict, throughput, and the best-within answer."""

import pandas as pd

from reports.analysis import best_within
from reports.base import ReportContext, Section
from reports.throughput import interval_text, speed_text, times_text


def render(ctx: ReportContext) -> Section:
    rule = ctx.config.get("gate", {"mode": "absolute", "points": 1.0})
    rule_text = (f"average drop of at most {rule['points']:g} points" if rule["mode"] == "absolute"
                 else f"at least {rule['ratio']:.1%} of the reference")
    by_id = {r["cell_id"]: r for r in ctx.records}
    rows = []
    for g in ctx.gate:
        r = by_id[g.cell_id]
        rows.append({"model": g.model, "backend": g.backend, "task": g.task, "metric": g.metric,
                     "accuracy": g.accuracy, "drop": g.drop,
                     "drop 95% CI": f"[{g.drop_ci[0]:+.2f}, {g.drop_ci[1]:+.2f}]" if g.drop_ci else "-",
                     "worst language": g.worst_language or "-",
                     "gate": {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive"}.get(g.verdict, "n/a"),
                     ctx.throughput.unit: ctx.throughput.of(r),
                     **({f"{ctx.throughput.unit} 95% CI": interval_text(ctx.throughput.interval(r), ".1f")}
                        if ctx.throughput.in_rounds else {}),
                     "size MB": r.get("size_mb")})
    section = Section("Summary").text(
        f"Each variant is compared with eager fp32 of the same checkpoint on the same task and languages; "
        f"it passes the gate with an {rule_text}. The drop's 95% interval is a paired bootstrap over the same "
        f"examples (variant and eager fp32 resampled together, language by language): the gate reads **pass** "
        f"when the whole interval is within the limit, **FAIL** when it is wholly beyond, **inconclusive** when "
        f"it straddles the limit (more examples would decide). Throughput: {ctx.throughput.caption}. "
        f"{ctx.throughput.note}".strip())
    for note in (_cpu_note(ctx.records), _environment_note(ctx.records), _beside_note(ctx.records)):
        if note:
            section.text(note)
    if rows:
        section.table(pd.DataFrame(rows))
    within = rule["points"] if rule["mode"] == "absolute" else 1.0
    for task in sorted({g.task for g in ctx.gate}):
        b = best_within(ctx.records, within, task, ctx.throughput)
        if "error" in b:
            section.text(f"**{task}**: {b['error']}.")
        else:
            own = (f", {times_text(b['speedup_vs_own_eager'], b['speedup_vs_own_eager_ci'])} its own eager fp32"
                   if b["speedup_vs_own_eager"] else "")
            how = "95% intervals from the timing rounds" if ctx.throughput.in_rounds else "ratios across cells"
            section.text(f"**{task}: fastest within {within:g} point(s) of {b['reference']}** is **{b['variant']}**: "
                         f"{speed_text(b['throughput'], b['throughput_ci'])} {ctx.throughput.unit} "
                         f"({ctx.throughput.short}), "
                         f"{times_text(b['speedup_vs_reference'], b['speedup_vs_reference_ci'])} the "
                         f"reference{own} ({how}), "
                         f"accuracy {b['accuracy']:.2f} ({-b['accuracy_drop']:+.2f} points"
                         + (f"; drop interval [{b['drop_ci'][0]:+.2f}, {b['drop_ci'][1]:+.2f}]" if b["drop_ci"] else "")
                         + ")."
                         + "".join(f" Passed over (faster, but its drop interval [{p['drop_ci'][0]:+.2f}, "
                                   f"{p['drop_ci'][1]:+.2f}] is not within {within:g}): {p['variant']}."
                                   for p in b["passed_over"] if p["drop_ci"]))
    failed = [r for r in ctx.records if r.get("status") != "ok"]
    if failed:
        section.text("Failed cells (recorded, the sweep went on):")
        section.table(pd.DataFrame([{"cell": r["cell_id"], "error": r.get("error", "")[:160]} for r in failed]))
    return section


def _cpu_note(records: list[dict]) -> str | None:
    """Which CPU measured the cells, what it accelerates (as each cell recorded it), and a warning when cells were
    measured on CPUs of different models or instruction sets (a resumed sweep may land on another machine)."""
    cpus: dict = {}
    accelerated: dict = {}
    for r in records:
        cpu = (r.get("env") or {}).get("cpu")
        if r.get("status") != "ok" or not cpu:
            continue
        isa = cpu.get("isa") or {}
        key = (cpu.get("model"), ", ".join(k for k, v in sorted(isa.items()) if v) or "no avx2")
        cpus.setdefault(key, []).append(r["cell_id"])
        for point in r.get("performance") or []:
            verdict = (point.get("runtime") or {}).get("cpu_acceleration")
            if verdict and verdict.get("needs"):
                accelerated[r["backend"]] = verdict["note"]
    if not cpus:
        return None
    lines = []
    if len(cpus) > 1:
        parts = "; ".join(f"{model} ({isa}): {len(ids)} cells" for (model, isa), ids in cpus.items())
        lines.append(f"**Mixed CPUs: these cells were measured on different CPUs ({parts}); throughput ratios "
                     f"across them compare machines as well as paths.**")
    else:
        (model, isa), = cpus
        lines.append(f"Every cell ran on one CPU: {model} ({isa}).")
    if accelerated:
        lines.append("What it accelerates, per path: " + "; ".join(f"{b}: {n}" for b, n in sorted(accelerated.items()))
                     + ".")
    return " ".join(lines)


def _environment_note(records: list[dict]) -> str | None:
    """A warning when ok cells were measured under different package versions or project sources (a sweep resumed
    with --rerun-changed re-measures only the cells a change touched; the others keep what they recorded)."""
    groups: dict = {}
    for r in records:
        env = (r.get("dependencies") or {}).get("environment")
        if r.get("status") == "ok" and env:
            key = (env.get("revision"), tuple(sorted((env.get("packages") or {}).items())))
            groups.setdefault(key, []).append(r["cell_id"])
    if len(groups) < 2:
        return None
    differing = sorted({p for _, packages in groups for p, v in packages
                        if any(dict(other).get(p) != v for _, other in groups)})
    parts = "; ".join(f"source {revision or '?'}" + "".join(f", {p} {dict(packages).get(p)}" for p in differing)
                      + f": {len(ids)} cells" for (revision, packages), ids in groups.items())
    return (f"**Mixed environments: these cells were measured under different package versions or project sources "
            f"({parts}); compare them with care.**")


def _beside_note(records: list[dict]) -> str | None:
    """Cells that ran at the same time as another cell on the same node (Ray without --exclusive)."""
    beside = {r["cell_id"]: r["executor"]["ran_beside"] for r in records
              if r.get("status") == "ok" and (r.get("executor") or {}).get("ran_beside")}
    if not beside:
        return None
    return ("**Shared nodes: " + "; ".join(f"{c} ran beside {', '.join(others)}" for c, others in beside.items())
            + ". Their timings shared the node's CPUs (run with --exclusive for undisturbed timings).**")
