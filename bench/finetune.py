"""`bench finetune`: the last STILTs phase, English target-task training. This module is the data side
(training examples and features from the task) and the command; the training itself is
models/training/finetuning.py."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import model_option, option, threads_option
from bench.tasks import get_task
from bench.tasks.base import DataSource
from models.checkpoint import resolve_checkpoint
from models.errors import UserError
from models.training.finetuning import FinetuneSettings, train_head


@dataclass
class FinetuneConfig:
    task: str = option(help="the target task", required=True)
    train: str = option(help="training file in the task's format, or a split name", required=True)
    out: Path = option(help="directory for the fine-tuned checkpoint", required=True)
    model: str | None = model_option("starting checkpoint (e.g. an intermediate-task one)")
    data_dir: Path | None = option(None, "where --train as a split name is looked up")
    max_length: int | None = option(None, "tokens per example", shown_default="the task's evaluation length")
    threads: int | None = threads_option()
    settings: FinetuneSettings = field(default_factory=FinetuneSettings)


def _training_examples(task, spec: str, data_dir: Path | None):
    """A file in the task's format, or the name of a split of the task's English data."""
    path = Path(spec)
    if path.is_file():
        return task.read_training_file(path), str(path)
    if path.suffix or "/" in spec:
        raise UserError(f"training file {spec} does not exist")
    return task.load("en", DataSource(data_dir, spec))


def run_finetune(cfg: FinetuneConfig, log=lambda m: print(m, file=sys.stderr)) -> Path:
    task = get_task(cfg.task)
    source = resolve_checkpoint(cfg.model)
    examples, train_source = _training_examples(task, cfg.train, cfg.data_dir)
    if not examples:
        raise UserError(f"no training examples in {train_source}")
    tok = source.tokenizer()
    max_length = cfg.max_length or task.default_max_length
    features = task.training_features(tok, examples, max_length)
    log(f"fine-tuning {source.name} on {task.name}: {len(features)} examples from {train_source}")
    metadata = {"labels": list(getattr(task, "label_set", ())), "target_task": task.name,
                "intermediate_task": source.metadata.get("intermediate_task"), "train_data": train_source,
                "max_length": max_length}
    return train_head(source, task.head, task.head_kwargs(), features, task.training_collator(tok), cfg.settings,
                      cfg.out, metadata, cfg.threads)
