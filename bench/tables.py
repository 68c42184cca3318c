"""Terminal tables (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def wide_console() -> Console:
    """Tables here have many numeric columns: never squeeze them below 130 characters (rich falls
    back to 80 when output is not a terminal, which truncates every number)."""
    return Console(width=max(Console().width, 130))


def _fmt(value, spec: str = ".1f", empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def print_run_table(records: list[dict], console: Console | None = None) -> None:
    console = console or wide_console()
    if not records:
        return
    title = f"bench run: {records[0]['model']} on {records[0]['device']}"
    table = Table(title=title, show_lines=False)
    for col in ("backend", "batch", "seq", "seq/s", "p50 ms", "p90 ms", "p99 ms",
                "peak MB", "size MB", "max|Δ|", "agree", "speedup"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for r in records:
        parity = r.get("parity") or {}
        lat = r["latency_ms"]
        table.add_row(r["backend"], str(r["batch_size"]), str(r["seq_len"]),
                      _fmt(r["throughput"]), _fmt(lat["p50"], ".2f"), _fmt(lat["p90"], ".2f"),
                      _fmt(lat["p99"], ".2f"), _fmt(r["peak_memory_mb"], ".0f"), _fmt(r["size_mb"], ".0f"),
                      _fmt(parity.get("max_abs_diff"), ".2e"), _fmt(parity.get("label_agreement"), ".3f"),
                      _fmt(r.get("speedup"), ".2f") + ("x" if r.get("speedup") else ""))
    console.print(table)


def print_eval_table(record: dict, console: Console | None = None) -> None:
    console = console or wide_console()
    table = Table(title=f"{record['task']} ({record['metric']}, {record['split']}): {record['model']} "
                        f"on {record['backend']}/{record['device']}")
    table.add_column("language")
    table.add_column(record["metric"], justify="right")
    table.add_column("examples", justify="right")
    for lang in record["languages"]:
        table.add_row(lang, f"{record['scores'][lang]:.2f}", str(record["n_examples"][lang]))
    table.add_row("[bold]average[/bold]", f"[bold]{record['average']:.2f}[/bold]",
                  str(sum(record["n_examples"].values())))
    console.print(table)


def print_sweep_table(records: list[dict], rule: dict, console: Console | None = None) -> None:
    from reports.analysis import default_shape, gate, throughput_at

    console = console or wide_console()
    shape = default_shape(records)
    verdicts = {g.cell_id: g for g in gate(records, rule)}
    table = Table(title=f"sweep ({len(records)} cells; throughput at batch x seq {shape})")
    for col in ("cell", "status", "accuracy", "drop", "worst lang", "gate", "seq/s"):
        table.add_column(col, justify="left" if col in ("cell", "status", "worst lang", "gate") else "right")
    for r in records:
        g = verdicts.get(r["cell_id"])
        if r.get("status") != "ok":
            table.add_row(r["cell_id"], f"[red]failed[/red]: {r.get('error', '')[:60]}", "-", "-", "-", "-", "-")
            continue
        table.add_row(r["cell_id"], "ok", _fmt(g.accuracy, ".2f") if g else "-", _fmt(g.drop, "+.2f") if g else "-",
                      (g.worst_language or "-") if g else "-",
                      {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "n/a"}[g.passed] if g else "-",
                      _fmt(throughput_at(r, shape)))
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
            table.add_row(ra["cell_id"], str(pa["batch_size"]), str(pa["seq_len"]), _fmt(pa["throughput"]),
                          _fmt(pb["throughput"]), f"{delta:+.1f}%", _fmt(acc_a, ".2f"), _fmt(acc_b, ".2f"),
                          _fmt(acc_b - acc_a, "+.2f") if acc_a is not None and acc_b is not None else "-")
    missing = sorted({r["cell_id"] for r in a} ^ {r["cell_id"] for r in b})
    console.print(table)
    if missing:
        console.print(f"cells in only one run: {', '.join(missing)}")


def print_listing(console: Console | None = None) -> None:
    from export.registry import BACKENDS, get_backend
    from models.registry import SIZES
    from models.students import list_students

    console = console or wide_console()
    models = Table(title="models")
    models.add_column("name")
    models.add_column("source")
    models.add_column("description")
    for size in SIZES.values():
        models.add_row(size.name, size.hub_id or "built offline (demo extra)", size.description)
    for student in list_students():
        models.add_row(student, "distilled student", "registered by `bench distill`")
    console.print(models)

    backends = Table(title="backends")
    for col in ("name", "description", "cpu", "cuda"):
        backends.add_column(col)
    for name in BACKENDS:
        backend = get_backend(name)
        cells = []
        for device in ("cpu", "cuda"):
            reason = backend.availability(device)
            cells.append("[green]yes[/green]" if reason is None else f"[red]no[/red]: {reason}")
        backends.add_row(name, backend.description, *cells)
    console.print(backends)

    try:
        from bench.tasks import TASKS
    except ImportError:
        TASKS = {}
    tasks = Table(title="tasks")
    for col in ("name", "family", "metric", "languages"):
        tasks.add_column(col)
    for name, task in TASKS.items():
        tasks.add_row(name, task.family, task.metric_name, str(len(task.languages)))
    console.print(tasks)
