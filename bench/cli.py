"""The `bench` command line: the roof of the floors. Each subcommand's options are generated from its config
dataclass (bench.config: default and help stated once); the command hands over to its module. User errors
print one line and exit 2."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.config import add_options, csv, from_args, given, option
from models.errors import UserError


# The options of the commands that read a finished run (best, report, compare): config dataclasses like every
# other command's, kept on the roof since reports may not import the floors that bench.config reads.
def _run_option(help: str = "sweep run directory"):
    return option(help=help, positional=True)


@dataclass(kw_only=True)
class ThroughputChoice:
    """Which throughput a report ranks by: the timing rounds, the task's own inputs (under which batching policy),
    or the grid (reports.throughput)."""

    throughput: str = option("rounds", "rounds: examples/s of the sweep's timing rounds, with intervals (falls back "
                                       "to task when the run has none, and says so); task: one pass over the task's "
                                       "own inputs; fixed-shape: the timing grid's padded synthetic batches",
                             choices=["rounds", "task", "fixed-shape"])
    batching: str | None = option(None, "task throughput under this batching policy", metavar="POLICY",
                                  shown_default="the run's scored policy")


@dataclass(kw_only=True)
class BestConfig(ThroughputChoice):
    run: Path = _run_option()
    within: float = option(1.0, "points of average accuracy the whole drop interval must lie within")
    worst_language: float | None = option(None, "points every language's drop interval must lie within too",
                                          shown_default="no bound")
    task: list[str] | None = option(None, "comma-separated tasks", parse=csv, shown_default="every task of the run")


@dataclass(kw_only=True)
class ReportConfig(ThroughputChoice):
    run: Path = _run_option()
    out: Path | None = option(None, "where to write the report", shown_default="RUN/report")


@dataclass(kw_only=True)
class CompareConfig:
    run_a: Path = _run_option("the sweep compared against")
    run_b: Path = _run_option("the sweep compared")


def _timing(args, base=None):
    from dataclasses import asdict

    from bench.timing.harness import TimingConfig

    return TimingConfig(**{**(asdict(base) if base else {}), **given(TimingConfig, args),
                           "warmup_min_s": None})


def cmd_run(args) -> int:
    from bench.commands.run import RunConfig, run_benchmark
    from bench.commands.tables import print_run_table

    from bench.timing.measure import parity_failure

    records = run_benchmark(from_args(RunConfig, args, timing=_timing(args), command=args.command_line))
    print_run_table(records)
    if args.out:
        print(f"wrote {len(records)} record(s) to {args.out}", file=sys.stderr)
    failures = sorted({f for r in records if (f := parity_failure(r["parity"], r["backend"]))})
    for failure in failures:
        print(f"bench: FAILED: {failure}; its throughput does not count", file=sys.stderr)
    return 1 if failures else 0


def cmd_eval(args) -> int:
    from bench.commands.evaluate import EvalConfig, run_eval
    from bench.commands.tables import print_eval_table

    print_eval_table(run_eval(from_args(EvalConfig, args, command=args.command_line)))
    return 0


def cmd_finetune(args) -> int:
    from bench.commands.finetune import FinetuneConfig, run_finetune
    from models.training.finetuning import FinetuneSettings

    out = run_finetune(from_args(FinetuneConfig, args, settings=from_args(FinetuneSettings, args)))
    print(f"saved checkpoint {out}")
    return 0


def cmd_stilts(args) -> int:
    from bench.commands.finetune import StiltsConfig, run_stilts
    from models.training.finetuning import FinetuneSettings

    first, second = run_stilts(from_args(StiltsConfig, args, settings=from_args(FinetuneSettings, args)))
    print(f"saved checkpoints {first} (intermediate) and {second} (target)")
    return 0


def cmd_sweep(args) -> int:
    from bench.commands.sweep import SweepConfig, run_sweep
    from reports.terminal import print_sweep_table

    overrides = given(SweepConfig, args)
    if args.config:
        cfg = SweepConfig.from_file(args.config, **overrides)
    elif args.out is None:
        raise UserError("bench sweep needs --out runs/NAME (or --config FILE naming 'out')")
    else:
        cfg = SweepConfig(**overrides)
    cfg.timing, cfg.command = _timing(args, cfg.timing), args.command_line
    records = run_sweep(cfg)
    print_sweep_table(records, cfg.gate())
    return 0


def cmd_best(args) -> int:
    from reports.throughput import choose_throughput
    from reports.report import load_run
    from reports.terminal import print_best

    cfg = from_args(BestConfig, args)
    records, _ = load_run(cfg.run)
    measure = choose_throughput(records, cfg.throughput, cfg.batching)
    return 0 if print_best(records, cfg.within, cfg.task, measure, cfg.worst_language) else 1


def cmd_report(args) -> int:
    from reports.report import build_report

    cfg = from_args(ReportConfig, args)
    out = build_report(cfg.run, cfg.out, cfg.throughput, cfg.batching)
    print(f"wrote {out / 'report.md'} and {out / 'report.html'}")
    return 0


def cmd_compare(args) -> int:
    from reports.report import load_run
    from reports.terminal import print_compare_table

    cfg = from_args(CompareConfig, args)
    a, _ = load_run(cfg.run_a)
    b, _ = load_run(cfg.run_b)
    print_compare_table(a, b, str(cfg.run_a), str(cfg.run_b))
    return 0


def cmd_regress(args) -> int:
    from bench.commands.regress import RegressConfig, run_regress
    from bench.commands.tables import print_regress_table

    cfg = from_args(RegressConfig, args)
    if not cfg.save and not cfg.compare:
        raise UserError("say what to do: --save NAME records a baseline, --compare NAME checks against one")
    code, rows = run_regress(cfg.save, cfg.compare, cfg.fail_on, cfg.storage.resolve(), cfg.select,
                             not cfg.no_guards, cfg.pytest_args)
    if rows:
        print_regress_table(rows, cfg.compare, cfg.fail_on)
    if code != 0:
        print(f"bench: regression check failed (pytest exit {code})", file=sys.stderr)
    return code


def cmd_distill(args) -> int:
    from bench.commands.distill import DistillConfig, run_distill
    from models.training.distillation import DistillSettings

    out = run_distill(from_args(DistillConfig, args, settings=from_args(DistillSettings, args)))
    print(f"saved student {out} (use it as --model {out.name if out.parent.name == 'students' else out})")
    return 0


def cmd_list(args) -> int:
    from bench.commands.tables import ListConfig, print_backend_options, print_listing

    cfg = from_args(ListConfig, args)
    if cfg.options:
        print_backend_options(cfg.options)
    else:
        print_listing()
    return 0


def _command(sub, name: str, help: str, func, *configs):
    p = sub.add_parser(name, help=help, description=help)
    for cfg in configs:
        add_options(p, cfg)
    p.set_defaults(func=func)
    return p


def build_parser() -> argparse.ArgumentParser:
    # Light imports only: the configs' modules import no torch, so `bench --help` stays fast.
    from bench.commands.distill import DistillConfig
    from bench.commands.evaluate import EvalConfig
    from bench.commands.finetune import FinetuneConfig, StiltsConfig
    from bench.timing.harness import TimingConfig
    from bench.commands.regress import RegressConfig
    from bench.commands.run import RunConfig
    from bench.commands.sweep import SweepConfig
    from models.training.distillation import DistillSettings
    from models.training.finetuning import FinetuneSettings

    parser = argparse.ArgumentParser(prog="bench", description="Throughput at matched XTREME accuracy for "
                                                               "XLM-R-family encoders.")
    sub = parser.add_subparsers(dest="command", required=True)
    _command(sub, "run", "time one model on a backend (and a baseline) over batch/sequence sizes", cmd_run,
             RunConfig, TimingConfig)
    _command(sub, "eval", "XTREME accuracy per language on the artifact that bench run times", cmd_eval, EvalConfig)
    _command(sub, "finetune", "English target-task fine-tuning (the last STILTs phase)", cmd_finetune,
             FinetuneConfig, FinetuneSettings)
    _command(sub, "stilts", "both STILTs phases: an English intermediate task, then the target task on its encoder",
             cmd_stilts, StiltsConfig, FinetuneSettings)
    sw = _command(sub, "sweep", "model x backend x task cells: accuracy + timing grid, resumable", cmd_sweep,
                  SweepConfig, TimingConfig)
    sw.add_argument("--config", type=Path, default=None, help="TOML or YAML file with the settings above "
                                                               "(options given here override it)")
    _command(sub, "best", "fastest variant within X points of the largest model's fp32 reference", cmd_best,
             BestConfig)
    _command(sub, "report", "report.md, report.html and plots from a sweep (default: RUN/report/)", cmd_report,
             ReportConfig)
    _command(sub, "compare", "throughput and accuracy deltas between two sweeps", cmd_compare, CompareConfig)
    _command(sub, "regress", "pytest-benchmark regression check: save a baseline or compare with one", cmd_regress,
             RegressConfig)
    _command(sub, "distill", "distil a smaller student from a teacher checkpoint", cmd_distill,
             DistillConfig, DistillSettings)
    from bench.commands.tables import ListConfig

    _command(sub, "list", "models, backends (and whether each runs here), tasks; a backend's options", cmd_list,
             ListConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # inherited by the measuring processes
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
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
