"""Terminal tables of a sweep's analysis (rich): the sweep summary, two runs compared, the best variant."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape  # cell ids hold variant options in brackets, which rich would read as markup
from rich.table import Table

from bench.records.schema import SweepCellRecord
from bench.console import fmt, wide_console
from reports.analysis import best_within, gate
from reports.throughput import Throughput, choose_throughput, speed_text, times_text


def print_sweep_table(records: list[dict], rule: dict, console: Console | None = None) -> None:
    console = console or wide_console()
    measure = choose_throughput(records)
    verdicts = {g.cell_id: g for g in gate(records, rule)}
    table = Table(title=f"sweep ({len(records)} cells; throughput: {measure.short}{'; ' + measure.note if measure.note else ''})")
    for col in ("cell", "status", "accuracy", "drop", "worst lang", "gate", measure.unit):
        table.add_column(col, justify="left" if col in ("cell", "status", "worst lang", "gate") else "right")
    for r in records:
        g = verdicts.get(r["cell_id"])
        if r.get("status") != "ok":
            table.add_row(escape(r["cell_id"]), f"[red]failed[/red]: {escape(r.get('error', '')[:60])}", "-", "-", "-", "-", "-")
            continue
        drop = (fmt(g.drop, "+.2f") + (f" [{g.drop_ci[0]:+.2f}, {g.drop_ci[1]:+.2f}]" if g.drop_ci else "")) if g else "-"
        table.add_row(escape(r["cell_id"]), "ok", fmt(g.accuracy, ".2f") if g else "-", drop,
                      (g.worst_language or "-") if g else "-",
                      {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]",
                       "inconclusive": "[yellow]inconclusive[/yellow]"}.get(g.verdict, "n/a") if g else "-",
                      fmt(measure.of(r)))
    console.print(table)


def print_compare_table(a: list[dict], b: list[dict], name_a: str, name_b: str, console: Console | None = None) -> None:
    console = console or wide_console()
    b_by_id = {r["cell_id"]: r for r in b if r.get("status") == "ok"}
    table = Table(title=f"{name_b} vs {name_a}")
    for col in ("cell", "batch", "seq", "seq/s A", "seq/s B", "Δ seq/s", "acc A", "acc B", "Δ acc"):
        table.add_column(col, justify="left" if col == "cell" else "right")
    for ra in (r for r in a if r.get("status") == "ok"):
        rb = b_by_id.get(ra["cell_id"])
        if rb is None:
            continue
        acc_a = (ra.get("accuracy") or {}).get("average")
        acc_b = (rb.get("accuracy") or {}).get("average")
        perf_b = {(p["batch_size"], p["seq_len"]): p for p in rb.get("performance", [])}
        for pa in ra.get("performance", []):
            pb = perf_b.get((pa["batch_size"], pa["seq_len"]))
            if pb is None:
                continue
            delta = 100 * (pb["throughput"] / pa["throughput"] - 1)
            table.add_row(escape(ra["cell_id"]), str(pa["batch_size"]), str(pa["seq_len"]), fmt(pa["throughput"]),
                          fmt(pb["throughput"]), f"{delta:+.1f}%", fmt(acc_a, ".2f"), fmt(acc_b, ".2f"),
                          fmt(acc_b - acc_a, "+.2f") if acc_a is not None and acc_b is not None else "-")
    missing = sorted({r["cell_id"] for r in a} ^ {r["cell_id"] for r in b})
    console.print(table)
    if missing:
        console.print(escape(f"cells in only one run: {', '.join(missing)}"))


def print_best(records: list[SweepCellRecord], within: float, tasks: list[str] | None,
               measure: Throughput | None = None, worst_language: float | None = None) -> bool:
    """One line per task: the fastest variant whose whole drop interval is within `within` points (and every
    language's within `worst_language`), then the faster ones passed over; False when no task has one."""
    from reports.analysis import REFERENCE_RULE

    measure = measure or choose_throughput(records)
    if measure.note:
        print(measure.note)
    points = f"{within:g} point" + ("" if within == 1 else "s")
    print(f"within {within:g}: the average drop's 95% interval (paired bootstrap against the reference) lies "
          f"within {points}" + (f", and every language's within {worst_language:g}" if worst_language
                                is not None else "") + f". Reference: {REFERENCE_RULE}.")
    print(f"Speed: {measure.caption.replace('**', '')}. Tied: a qualifying variant that the fastest's speedup over "
          "it cannot separate (its 95% interval reaches 1.00).")
    found = False
    for task in tasks or sorted({r["task"] for r in records if r.get("status") == "ok"}):
        b = best_within(records, within, task, measure, worst_language)
        if "error" in b:
            print(f"{task}: {b['error']}")
            continue
        found = True
        own = (f"{times_text(b['speedup_vs_own_eager'], b['speedup_vs_own_eager_ci'])} over eager fp32 of "
               f"{b['model']}, " if b["speedup_vs_own_eager"] else "")
        interval = (f" [{b['drop_ci'][0]:+.2f}, {b['drop_ci'][1]:+.2f}]" if b["drop_ci"] else
                    "" if b["qualified_by"] == "interval" else ", point estimate: no per-example values")
        over_top = (f"{times_text(b['speedup_vs_reference'], b['speedup_vs_reference_ci'])} over the reference, "
                    if b["speedup_vs_reference"] else "")
        print(f"{task}: fastest within {within:g} point(s) of {b['reference']} "
              f"({b['reference_accuracy']:.2f}) is {b['variant']}: {speed_text(b['throughput'], b['throughput_ci'])} "
              f"{measure.unit} ({measure.short}), {own}{over_top}"
              f"accuracy {b['accuracy']:.2f} (drop {b['accuracy_drop']:+.2f} points{interval})")
        for t in b["tied"]:
            print(f"  tied: {t['variant']}, {speed_text(t['throughput'], t['throughput_ci'])} {measure.unit}; the "
                  f"fastest over it {times_text(t['fastest_over_it'], t['fastest_over_it_ci'])}: its interval reaches "
                  "1.00, so the rounds cannot tell them apart")
        if not b["ties_decidable"]:
            print("  (no speed intervals in this measure: ties cannot be decided; run the sweep with --rounds)")
        for p in b["passed_over"]:
            ci = f" [{p['drop_ci'][0]:+.2f}, {p['drop_ci'][1]:+.2f}]" if p["drop_ci"] else ""
            print(f"  passed over: {p['variant']}, {p['throughput']:.1f} {measure.unit}, drop {p['drop']:+.2f}{ci}: "
                  f"not within {within:g} by its interval" + (" or a language's" if worst_language is not None
                                                              else ""))
    return found
