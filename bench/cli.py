"""The `bench` command line. Each subcommand parses its arguments and hands over to a module;
user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from bench.errors import UserError


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got '{text}'") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def _option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # bare strings: exporter=dynamo


def _flatten(groups: list[list[int]] | None, default: list[int]) -> list[int]:
    return [v for g in groups for v in g] if groups else default


def _add_timing_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("timing")
    g.add_argument("--warmup", type=int, default=5, help="warm-up iterations (at least; default 5)")
    g.add_argument("--min-iters", type=int, default=20, help="minimum timed iterations (default 20)")
    g.add_argument("--min-time", type=float, default=5.0, help="minimum timed seconds per cell (default 5)")
    g.add_argument("--max-time", type=float, default=120.0, help="stop timing a cell after this many seconds")
    g.add_argument("--threads", type=int, default=None, help="intra-op threads (default: physical cores)")


def _timing(args):
    from bench.harness import TimingConfig

    return TimingConfig(warmup_iters=args.warmup, min_iters=args.min_iters, min_time_s=args.min_time,
                        max_time_s=args.max_time, warmup_min_s=min(1.0, args.min_time))


def cmd_run(args) -> int:
    from bench.run import RunConfig, run_benchmark
    from bench.tables import print_run_table

    cfg = RunConfig(model=args.model, backend=args.backend, device=args.device,
                    batch_sizes=_flatten(args.batch_size, [1]), seq_lens=_flatten(args.seq_len, [128]),
                    baseline=args.baseline, out=args.out, random_init=args.random_init, threads=args.threads,
                    options=dict(args.option or []), layer=args.layer, timing=_timing(args),
                    text_file=args.text_file, command=args.command_line)
    records = run_benchmark(cfg)
    print_run_table(records)
    if args.out:
        print(f"wrote {len(records)} record(s) to {args.out}", file=sys.stderr)
    return 0


def cmd_eval(args) -> int:
    from bench.evaluate import EvalConfig, run_eval
    from bench.tables import print_eval_table

    langs = [l.strip() for l in args.langs.split(",") if l.strip()] if args.langs else None
    cfg = EvalConfig(task=args.task, model=args.model, backend=args.backend, device=args.device, langs=langs,
                     data_dir=args.data_dir, split=args.split, out=args.out, batch_size=args.batch_size,
                     max_length=args.max_length, layer=args.layer, threads=args.threads,
                     options=dict(args.option or []), command=args.command_line)
    print_eval_table(run_eval(cfg))
    return 0


def cmd_finetune(args) -> int:
    from bench.finetune import FinetuneConfig, run_finetune

    out = run_finetune(FinetuneConfig(task=args.task, train=args.train, out=args.out, model=args.model,
                                      data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
                                      learning_rate=args.lr, max_length=args.max_length, max_steps=args.max_steps,
                                      seed=args.seed, threads=args.threads))
    print(f"saved checkpoint {out}")
    return 0


def _csv(text: str | None) -> list[str] | None:
    return [v.strip() for v in text.split(",") if v.strip()] if text else None


def cmd_sweep(args) -> int:
    from bench.sweep import SweepConfig, run_sweep
    from bench.tables import print_sweep_table

    timing = {"warmup_iters": args.warmup, "min_iters": args.min_iters, "min_time_s": args.min_time,
              "max_time_s": args.max_time, "warmup_min_s": min(1.0, args.min_time)}
    overrides = dict(out=args.out, models=_csv(args.models), backends=_csv(args.backends), tasks=_csv(args.tasks),
                     langs=_csv(args.langs), batch_sizes=_flatten(args.batch_sizes, []) or None,
                     seq_lens=_flatten(args.seq_lens, []) or None, tolerance=args.tolerance, relative=args.relative,
                     device=args.device, data_dir=args.data_dir, split=args.split, threads=args.threads,
                     timeout=args.timeout, random_init=args.random_init or None,
                     retry_failed=args.retry_failed or None, command=args.command_line)
    if args.config:
        cfg = SweepConfig.from_file(args.config, **overrides)
        cfg.timing = {**timing, **cfg.timing}
    else:
        if args.out is None:
            raise UserError("bench sweep needs --out runs/NAME (or --config FILE naming 'out')")
        cfg = SweepConfig(**{k: v for k, v in overrides.items() if v is not None}, timing=timing)
    records = run_sweep(cfg)
    print_sweep_table(records, cfg.gate())
    return 0


def cmd_best(args) -> int:
    from reports.analysis import best_within
    from reports.report import load_run

    records, _ = load_run(args.run)
    tasks = _csv(args.task) or sorted({r["task"] for r in records if r.get("status") == "ok"})
    found = False
    for task in tasks:
        b = best_within(records, args.within, task)
        if "error" in b:
            print(f"{task}: {b['error']}")
            continue
        found = True
        own = (f"{b['speedup_vs_own_eager']:.2f}x over eager fp32 of {b['model']}, "
               if b["speedup_vs_own_eager"] else "")
        print(f"{task}: fastest within {args.within:g} point(s) of {b['reference']} "
              f"({b['reference_accuracy']:.2f}) is {b['variant']}: {b['throughput']:.1f} seq/s at batch "
              f"{b['shape'][0]} x seq {b['shape'][1]}, {own}{b['speedup_vs_reference']:.2f}x over the reference, "
              f"accuracy {b['accuracy']:.2f} (drop {b['accuracy_drop']:+.2f} points)")
    return 0 if found else 1


def cmd_report(args) -> int:
    from reports.report import build_report

    out = build_report(args.run, args.reports_dir)
    print(f"wrote {out / 'report.md'} and {out / 'report.html'}")
    return 0


def cmd_compare(args) -> int:
    from bench.tables import print_compare_table
    from reports.report import load_run

    a, _ = load_run(args.run_a)
    b, _ = load_run(args.run_b)
    print_compare_table(a, b, str(args.run_a), str(args.run_b))
    return 0


def cmd_regress(args) -> int:
    from rich.table import Table

    from bench.regress import run_regress
    from bench.tables import wide_console

    if not args.save and not args.compare:
        raise UserError("say what to do: --save NAME records a baseline, --compare NAME checks against one")
    code, rows = run_regress(args.save, args.compare, args.fail_on, args.storage.resolve(), args.select,
                             not args.no_guards, args.pytest_args or [])
    if rows:
        table = Table(title=f"current vs baseline '{args.compare}' (median ms; fails on {args.fail_on})")
        for col in ("benchmark", "baseline", "current", "change"):
            table.add_column(col, justify="left" if col == "benchmark" else "right")
        for name, before, now, change in rows:
            table.add_row(name, f"{before:.2f}", f"{now:.2f}", f"{change:+.1f}%")
        wide_console().print(table)
    if code != 0:
        print(f"bench: regression check failed (pytest exit {code})", file=sys.stderr)
    return code


def cmd_distill(args) -> int:
    from bench.distill import DistillConfig, run_distill

    out = run_distill(DistillConfig(teacher=args.teacher, layers=args.layers, data=args.data, out=args.out,
                                    hidden=args.hidden, task=args.task, steps=args.steps,
                                    batch_size=args.batch_size, learning_rate=args.lr, max_length=args.max_length,
                                    seed=args.seed, threads=args.threads, precision=args.precision,
                                    contrastive_weight=args.contrastive_weight))
    print(f"saved student {out} (use it as --model {out.name if out.parent.name == 'students' else out})")
    return 0


def cmd_list(args) -> int:
    from bench.tables import print_listing

    print_listing()
    return 0


def _add_variant_args(p: argparse.ArgumentParser) -> None:
    """What `bench run` and `bench eval` share: which model, on which inference path, where."""
    p.add_argument("--model", default=None, help="size (large, base, small, demo, a student), checkpoint dir or "
                                                 "hub id; default: demo")
    p.add_argument("--backend", default="eager", help="inference path (see `bench list`)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--option", type=_option, action="append", metavar="KEY=VALUE",
                   help="backend option, e.g. exporter=dynamo or keep_embedding_fp32=true")


def _add_data_args(p: argparse.ArgumentParser, split: str | None) -> None:
    """Task data arguments of `bench eval` and `bench sweep` (a sweep's None defaults defer to its config)."""
    p.add_argument("--langs", default=None, help="comma-separated ISO 639-1 codes (default: all of the task's)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="task files (XTREME's layout or the published formats); default: the hub's google/xtreme")
    p.add_argument("--split", default=split, choices=["test", "dev"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="time one model on a backend (and a baseline) over batch/sequence sizes")
    _add_variant_args(run)
    run.add_argument("--batch-size", type=_int_list, action="append", help="batch size(s), e.g. 1,8")
    run.add_argument("--seq-len", type=_int_list, action="append", help="sequence length(s), e.g. 128,256")
    run.add_argument("--baseline", default=None, help="backend timed in the same run for `speedup` (e.g. eager)")
    run.add_argument("--out", type=Path, default=None, help="directory for one JSON record per cell")
    run.add_argument("--random-init", action="store_true",
                     help="build the size's architecture with random weights (throughput only, no download)")
    run.add_argument("--layer", type=int, default=None, help="encoder layer to output (default: last)")
    run.add_argument("--text-file", type=Path, default=None, help="time on real text (one per line) instead of "
                                                                  "synthetic token ids")
    _add_timing_args(run)
    run.set_defaults(func=cmd_run)

    ev = sub.add_parser("eval", help="XTREME accuracy per language on the artifact that bench run times")
    ev.add_argument("--task", required=True, help="xnli, pawsx, udpos, panx, xquad, mlqa, tydiqa, bucc2018, tatoeba")
    _add_variant_args(ev)
    _add_data_args(ev, split="test")
    ev.add_argument("--out", type=Path, default=None, help="record + predictions/{task}/{split}-{lang}.*")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--max-length", type=int, default=None, help="tokens per input (QA: window length)")
    ev.add_argument("--layer", type=int, default=None, help="retrieval: encoder layer to pool")
    ev.add_argument("--threads", type=int, default=None)
    ev.set_defaults(func=cmd_eval)

    ft = sub.add_parser("finetune", help="English target-task fine-tuning (the last STILTs phase)")
    ft.add_argument("--task", required=True)
    ft.add_argument("--model", default=None, help="starting checkpoint (e.g. an intermediate-task one); default demo")
    ft.add_argument("--train", required=True, help="training file in the task's format, or a split name")
    ft.add_argument("--out", type=Path, required=True, help="directory for the fine-tuned checkpoint")
    ft.add_argument("--data-dir", type=Path, default=None, help="where --train as a split name is looked up")
    ft.add_argument("--epochs", type=float, default=3.0)
    ft.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (overrides --epochs)")
    ft.add_argument("--batch-size", type=int, default=16)
    ft.add_argument("--lr", type=float, default=5e-5)
    ft.add_argument("--max-length", type=int, default=None, help="default: the task's evaluation length")
    ft.add_argument("--seed", type=int, default=42)
    ft.add_argument("--threads", type=int, default=None)
    ft.set_defaults(func=cmd_finetune)

    sw = sub.add_parser("sweep", help="model x backend x task cells: accuracy + timing grid, resumable")
    sw.add_argument("--config", type=Path, default=None, help="TOML or YAML file with the settings below")
    sw.add_argument("--models", default=None, help="comma-separated (default demo)")
    sw.add_argument("--backends", default=None, help="comma-separated; eager is always added as the reference")
    sw.add_argument("--tasks", default=None, help="comma-separated (default tatoeba)")
    sw.add_argument("--batch-sizes", type=_int_list, action="append")
    sw.add_argument("--seq-lens", type=_int_list, action="append")
    gate = sw.add_mutually_exclusive_group()
    gate.add_argument("--tolerance", type=float, default=None, help="gate: max average drop in points (default 1)")
    gate.add_argument("--relative", type=float, default=None, help="gate: min ratio of the reference, e.g. 0.99")
    sw.add_argument("--out", type=Path, default=None, help="run directory, e.g. runs/NAME")
    sw.add_argument("--device", default=None)
    _add_data_args(sw, split=None)
    sw.add_argument("--random-init", action="store_true")
    sw.add_argument("--timeout", type=float, default=None, help="seconds per cell before it is recorded as failed")
    sw.add_argument("--retry-failed", action="store_true", help="re-run cells recorded as failed")
    _add_timing_args(sw)
    sw.set_defaults(func=cmd_sweep)

    be = sub.add_parser("best", help="fastest variant within X points of the largest model's fp32 reference")
    be.add_argument("run", type=Path)
    be.add_argument("--within", type=float, default=1.0)
    be.add_argument("--task", default=None)
    be.set_defaults(func=cmd_best)

    rp = sub.add_parser("report", help="write reports/NAME/report.md, report.html and plots from a sweep")
    rp.add_argument("run", type=Path)
    rp.add_argument("--reports-dir", type=Path, default=Path("reports"))
    rp.set_defaults(func=cmd_report)

    cp = sub.add_parser("compare", help="throughput and accuracy deltas between two sweeps")
    cp.add_argument("run_a", type=Path)
    cp.add_argument("run_b", type=Path)
    cp.set_defaults(func=cmd_compare)

    rg = sub.add_parser("regress", help="pytest-benchmark regression check: save a baseline or compare with one")
    rg.add_argument("--save", default=None, metavar="NAME", help="record this run as baseline NAME")
    rg.add_argument("--compare", default=None, metavar="NAME", help="compare with baseline NAME (or 'latest')")
    rg.add_argument("--fail-on", default="median:10%", help="pytest-benchmark --benchmark-compare-fail expression")
    rg.add_argument("--storage", type=Path, default=Path(".benchmarks"), help="where baselines are stored")
    rg.add_argument("--select", default=None, help="pytest -k expression, e.g. 'onnx or eager'")
    rg.add_argument("--no-guards", action="store_true", help="skip the same-run speedup and parity guards")
    rg.add_argument("pytest_args", nargs="*", help="extra pytest arguments after --")
    rg.set_defaults(func=cmd_regress)

    ds = sub.add_parser("distill", help="distil a smaller student from a teacher checkpoint")
    ds.add_argument("--teacher", default="demo", help="teacher checkpoint (size, directory or hub id)")
    ds.add_argument("--layers", type=int, required=True, help="student depth K")
    ds.add_argument("--hidden", type=int, default=None, help="narrower student width (random init)")
    ds.add_argument("--task", default=None, help="the task whose head is distilled (checks the teacher has it)")
    ds.add_argument("--data", action="append", required=True,
                    help="training text: .txt, .tsv (english<TAB>translation), .conllu, or a directory of "
                         "XQuAD JSON files (parallel); repeatable")
    ds.add_argument("--out", type=Path, default=None, help="default: registered as size <teacher>-L<K>")
    from bench.distill import DistillConfig as D  # its defaults, stated once

    ds.add_argument("--steps", type=int, default=D.steps)
    ds.add_argument("--batch-size", type=int, default=D.batch_size)
    ds.add_argument("--lr", type=float, default=D.learning_rate)
    ds.add_argument("--max-length", type=int, default=D.max_length)
    ds.add_argument("--seed", type=int, default=D.seed)
    ds.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=D.precision,
                    help="student training precision; auto: bf16 autocast where the CPU has bf16 arithmetic")
    ds.add_argument("--contrastive-weight", type=float, default=D.contrastive_weight,
                    help="weight of the in-batch contrastive term for sentence embeddings (0: MSE only)")
    ds.add_argument("--threads", type=int, default=None)
    ds.set_defaults(func=cmd_distill)

    lst = sub.add_parser("list", help="models, backends (and whether each runs here), tasks")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # inherited by the measuring processes
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = "bench " + shlex.join(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
