"""The timing rounds themselves: each variant's round-to-round spread, its disturbed rounds, the control's
self-ratio (the reference timed twice a round: an honest interval contains 1.00), and the fixed-shape grid timed in
the same rounds (sequences/s and speedup over eager fp32 at each shape, with intervals)."""

import numpy as np
import pandas as pd

from reports.analysis import ok_cells, reference
from reports.base import ReportContext, Section
from reports.throughput import Throughput, interval_text, speed_text, times_text


def _per_round(block: dict) -> np.ndarray:
    """Examples/s (grid: sequences/s) of each round on its own: the round's sample work over its model time."""
    from bench.timing.speed import sample_work

    return np.asarray([sample_work(block) / sum(t["batch_seconds"]) for t in block["rounds"] if t["batch_seconds"]])


def _spread_row(r: dict, block: dict, what: str) -> dict:
    from bench.timing.speed import control_ratio

    rates = _per_round(block)
    control = control_ratio(block) if block.get("control") else None
    return {"model": r["model"], "backend": r["backend"], "task": r["task"], "timed": what,
            "rounds": len(rates), "per second": speed_text(block["examples_per_s"], block.get("examples_per_s_ci95")),
            "round min-max": f"{rates.min():.1f}-{rates.max():.1f}" if len(rates) else "-",
            "round CV %": 100 * rates.std(ddof=1) / rates.mean() if len(rates) > 1 else None,
            "disturbed rounds": sum(bool(t.get("disturbed")) for t in block["rounds"]),
            "control": times_text(*control) if control else "-"}


def _grid_row(records: list[dict], r: dict, point: dict) -> dict:
    shape = (point["batch_size"], point["seq_len"])
    eager = reference(records, r["model"], r["task"])
    # this shape read as the fixed-shape measure reads it: from its rounds, the ratio with its interval
    measure = Throughput("fixed-shape", shape=shape, rounds=len(point["speed"]["rounds"]))
    ratio = measure.ratio(eager, r) if eager else None
    return {"model": r["model"], "backend": r["backend"], "task": r["task"], "batch": shape[0], "seq": shape[1],
            "seq/s": point["speed"]["examples_per_s"],
            "seq/s 95% CI": interval_text(point["speed"].get("examples_per_s_ci95"), ".1f"),
            "x eager fp32": times_text(*ratio) if ratio else "-",
            "one-pass seq/s": point["throughput"]}


def render(ctx: ReportContext) -> Section:
    section = Section("Timing rounds: spread, controls and the fixed-shape grid")
    spread, grid = [], []
    for r in ok_cells(ctx.records):
        if r.get("speed"):
            spread.append(_spread_row(r, r["speed"], "task sample"))
        for point in r.get("performance") or []:
            if point.get("speed"):
                spread.append(_spread_row(r, point["speed"], f"grid {point['batch_size']}x{point['seq_len']}"))
                grid.append(_grid_row(ctx.records, r, point))
    if not spread:
        return section.text("No timing rounds in this run (`bench sweep --rounds N`, N >= 3, times every variant of a "
                            "task in rounds and gives every ratio an interval).")
    section.text("Each variant's rounds one by one: examples/s of the task sample (sequences/s for a grid point) with "
                 "its 95% interval (two-level bootstrap: rounds, then batches), the slowest and fastest round, the "
                 "round-to-round coefficient of variation, how many rounds other processes disturbed (flagged by the "
                 "sweep, kept in the interval), and for eager fp32 its **control**: the same artifact timed a second "
                 "time in every round, whose ratio to the first must contain 1.00 — an interval that does not would "
                 "say the order or the machine favoured one side.")
    section.table(pd.DataFrame(spread))
    if grid:
        section.text("The fixed-shape grid, timed in the same rounds as the task sample (each shape's synthetic "
                     "batches in the same processes and relay); `x eager fp32`: over eager fp32 of the same checkpoint "
                     "at the same shape, with its interval; `one-pass seq/s`: the cell's own single timed pass, kept "
                     "for its latency percentiles and memory.")
        section.table(pd.DataFrame(grid))
    return section
