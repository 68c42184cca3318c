"""Peak memory while running and size on disk, per variant."""

import pandas as pd

from reports.analysis import ok_cells
from reports.base import ReportContext, Section, new_figure, save_figure


def render(ctx: ReportContext) -> Section:
    section = Section("Memory and size on disk")
    rows, seen = [], set()
    for r in ok_cells(ctx.records):
        key = (r["model"], r["backend"])
        if key in seen or not r.get("performance"):
            continue
        seen.add(key)
        loads = [p["load_peak_memory_mb"] for p in r["performance"] if p.get("load_peak_memory_mb") is not None]
        rows.append({"variant": f"{r['model']}/{r['backend']}", "size MB": r.get("size_mb"),
                     "peak memory MB": max(p["peak_memory_mb"] for p in r["performance"]),
                     "load peak MB": max(loads) if loads else None,
                     "accuracy pass peak MB": r.get("accuracy_peak_memory_mb"),
                     "export s": (r.get("export") or {}).get("export_time_s")})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return section.text("No timing data.")
    fig, axes = new_figure(1, 2, figsize=(10, 0.4 * len(frame) + 1.8), sharey=True)
    axes[0].barh(frame["variant"], frame["size MB"], color="tab:purple")
    axes[0].set_xlabel("size on disk, MB")
    axes[1].barh(frame["variant"], frame["peak memory MB"], color="tab:cyan")
    axes[1].set_xlabel("peak resident memory of the timing process, MB")
    section.image(save_figure(fig, ctx.out_dir / "resources.png"), "memory and size")
    section.text("**peak memory**: inference only, the timing process's resident high-water mark, reset after "
                 "the model was loaded (Linux VmHWM via /proc/self/clear_refs); it includes the loaded weights and "
                 "the Python and library runtime, the same for every backend. **load peak**: the same process's "
                 "high-water mark up to the end of loading and the parity check. **accuracy pass peak**: the "
                 "sweep cell's own process, which resolved the checkpoint, exported and ran the accuracy pass. "
                 "Runs recorded before this split (schema version 1) carry one peak that also held the parent's "
                 "high-water mark (getrusage's ru_maxrss survives exec). On GPU: torch's max allocated memory.")
    return section.table(frame)
