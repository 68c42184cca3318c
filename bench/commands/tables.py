"""Terminal tables (rich)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.config import option
from bench.console import fmt, wide_console


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
                      fmt(r["throughput"]), fmt(lat["p50"], ".2f"), fmt(lat["p90"], ".2f"),
                      fmt(lat["p99"], ".2f"), fmt(r["peak_memory_mb"], ".0f"), fmt(r["size_mb"], ".0f"),
                      fmt(parity.get("max_abs_diff"), ".2e"), fmt(parity.get("label_agreement"), ".3f") + (" FAIL" if parity.get("passed") is False else ""),
                      _speedup(r))
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
    print_task_throughput(record, console)


def print_task_throughput(record: dict, console: Console) -> None:
    """One row per batching policy: throughput on the task's own inputs (model time; tokenisation apart)."""
    blocks = record.get("task_throughput") or {}
    if not blocks:
        return
    table = Table(title=f"task throughput ({record['task']}, model time only, threads {record['threads']})")
    for col in ("batching", "examples/s", "tokens/s", "padding", "batches", "model s", "tokenize s", "compiles",
                record["metric"], "same predictions"):
        table.add_column(col, justify="left" if col == "batching" else "right")
    for policy, b in blocks.items():
        table.add_row(policy + (" (scored)" if policy == record.get("batching") else ""), fmt(b["examples_per_s"]),
                      fmt(b["tokens_per_s"], ".0f"), f"{b['padding_fraction']:.1%}", str(b["batches"]),
                      fmt(b["model_seconds"], ".2f"), fmt(b["tokenize_seconds"], ".2f"),
                      f"{b['compiles']} ({b['compile_seconds']:.1f} s)" if b["compiles"] else "0",
                      f"{b['average']:.2f}", f"{b['prediction_agreement']:.2%}")
    console.print(table)


@dataclass
class ListConfig:
    options: str | None = option(None, "print a backend's typed options (what each takes, its default, what it "
                                 "does) instead of the listing; `all`: every backend's", metavar="BACKEND")


def print_backend_options(name: str, console: Console | None = None) -> None:
    """The options table of one backend (or `all`), from its typed options dataclass (export/options.py)."""
    from export.options import describe
    from export.registry import BACKENDS, get_backend

    console = console or wide_console()
    for backend_name in (list(BACKENDS) if name == "all" else [name]):
        backend = get_backend(backend_name)  # a mistyped name: one line with the nearest names
        table = Table(title=f"{backend_name} options (--option KEY=VALUE; in a sweep: {backend_name}[KEY=VALUE;...])")
        for col in ("option", "takes", "default", "what it does"):
            table.add_column(col)
        for row in describe(backend.Options):
            table.add_row(*row)
        console.print(table)


def print_listing(console: Console | None = None) -> None:
    from export.registry import BACKENDS, get_backend
    from models.registry import SIZES
    from models.students import list_students

    from bench.records.env import collect_env, isa_verdict

    console = console or wide_console()
    cpu = collect_env()["cpu"]
    isa = ", ".join(k for k, v in cpu["isa"].items() if v) or "none of avx2/avx512/vnni/bf16/amx"
    console.print(f"CPU: {cpu['model']} ({cpu['physical_cores']} cores; {isa})\n  {isa_verdict(cpu['isa'])}")
    models = Table(title="models")
    models.add_column("name")
    models.add_column("source")
    models.add_column("description")
    for _, size in SIZES.items():
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
            note = backend.engine_note(device) if reason is None else None
            cells.append(("[green]yes[/green]" if reason is None else f"[red]no[/red]: {reason}")
                         + (f"; {note}" if note else ""))
        if backend.isa_features and backend.availability("cpu") is None:
            speed = backend.cpu_acceleration(cpu["isa"])
            colour = "green" if speed["accelerated"] else "yellow"
            cells[0] += f"; [{colour}]{speed['note']}[/{colour}]"
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


def print_regress_table(rows: list[tuple], baseline: str, fail_on: str, console: Console | None = None) -> None:
    table = Table(title=f"current vs baseline '{baseline}' (median ms; fails on {fail_on})")
    for col in ("benchmark", "baseline", "current", "change"):
        table.add_column(col, justify="left" if col == "benchmark" else "right")
    for name, before, now, change in rows:
        table.add_row(name, f"{before:.2f}", f"{now:.2f}", f"{change:+.1f}%")
    (console or wide_console()).print(table)


def _speedup(record: dict) -> str:
    """"2.10x [2.01-2.20]": the same-run ratio and its bootstrap 95% interval, where measured."""
    if not record.get("speedup"):
        return "-"
    ci = record.get("speedup_ci95")
    return f"{record['speedup']:.2f}x" + (f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else "")
