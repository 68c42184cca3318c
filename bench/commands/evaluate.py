"""`bench eval`: XTREME accuracy of one model x backend on one task, per language, measured with the
exact artifact and runner that `bench run` times."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bench.timing.batching import check_policies
from bench.tasks.accuracy import check_scorable, load_task_data, measure_accuracy, write_outputs
from bench.config import (backend_option, backend_options_option, batching_option, data_dir_option, device_option,
                          langs_option, max_examples_option, max_tokens_option, model_option, option, split_option, threads_option)
from bench.records.schema import AccuracyRecord
from bench.tasks import TASK_NAMES, get_task
from bench.variants.prepare import choose_backend, prepare_variant


@dataclass
class EvalConfig:
    task: str = option(help=", ".join(TASK_NAMES), required=True)
    model: str | None = model_option()
    backend: str = backend_option()
    device: str = device_option()
    options: dict = backend_options_option()
    langs: list[str] | None = langs_option()
    data_dir: Path | None = data_dir_option()
    split: str = split_option()
    out: Path | None = option(None, "directory for the record and predictions/{task}/{split}-{lang}.*")
    batch_size: int = option(32, "inputs per forward call")
    batching: list[str] = batching_option()
    max_tokens: int | None = max_tokens_option()
    max_examples: int | None = max_examples_option()
    max_length: int | None = option(None, "tokens per input (QA: window length)", shown_default="the task's")
    layer: int | None = option(None, "retrieval: encoder layer to pool", shown_default="the task's choice")
    threads: int | None = threads_option()
    command: str = ""


def run_eval(cfg: EvalConfig, log=lambda m: print(m, file=sys.stderr)) -> AccuracyRecord:
    task = get_task(cfg.task)
    data: dict = {}

    def checks(checkpoint) -> None:
        check_scorable(task, checkpoint, cfg.split, cfg.langs)
        check_policies(cfg.batching, cfg.max_tokens)  # before any export
        data.update(load_task_data(task, cfg.langs, cfg.data_dir, cfg.split, cfg.max_examples))

    choice = choose_backend(cfg.backend, cfg.device, cfg.options, cfg.layer)  # looked up and resolved once
    variant = prepare_variant(cfg.model, choice, task=task, threads=cfg.threads, before_export=checks,
                              data_dir=cfg.data_dir, split=cfg.split, langs=cfg.langs)
    record, predictions = measure_accuracy(variant, task, data, cfg.split, cfg.batch_size, cfg.max_length,
                                           cfg.command, log, batching=cfg.batching, max_tokens=cfg.max_tokens,
                                           max_examples=cfg.max_examples)
    if cfg.out:
        write_outputs(cfg.out, task, record, predictions)
    return record
