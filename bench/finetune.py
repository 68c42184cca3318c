"""`bench finetune`: the last STILTs phase, English target-task training (transformers Trainer), saving a
checkpoint directory that every other command accepts, with its metadata in stilts.json."""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UserError
from bench.tasks import get_task
from bench.tasks.base import DataSource
from bench.paths import build_atomically
from models.checkpoint import METADATA_FILE, resolve_checkpoint


@dataclass
class FinetuneConfig:
    task: str
    train: str
    out: Path
    model: str | None = None
    data_dir: Path | None = None
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 5e-5
    max_length: int | None = None  # default: the length the task is evaluated at
    max_steps: int = -1
    seed: int = 42
    threads: int | None = None


def _training_examples(task, spec: str, data_dir: Path | None):
    """A file in the task's format, or the name of a split of the task's English data."""
    path = Path(spec)
    if path.is_file():
        return task.read_training_file(path), str(path)
    if path.suffix or "/" in spec:
        raise UserError(f"training file {spec} does not exist")
    return task.load("en", DataSource(data_dir, spec))


def run_finetune(cfg: FinetuneConfig, log=lambda m: print(m, file=sys.stderr)) -> Path:
    import torch
    import transformers
    from transformers import Trainer, TrainingArguments

    from models.heads import HEADS

    task = get_task(cfg.task)
    source = resolve_checkpoint(cfg.model)
    examples, train_source = _training_examples(task, cfg.train, cfg.data_dir)
    if not examples:
        raise UserError(f"no training examples in {train_source}")
    labels = list(getattr(task, "label_set", ()))  # QA has no label set: its head scores start and end
    tok = source.tokenizer()
    max_length = cfg.max_length or task.default_max_length
    features = task.training_features(tok, examples, max_length)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    head = HEADS[task.head]
    label_kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                    "label2id": {l: i for i, l in enumerate(labels)}} if labels else {"num_labels": 2}
    # (no label set: a QA head, one start and one end score per token, whatever num_labels the base saved)
    model = getattr(transformers, head.auto_class).from_pretrained(str(source.path), **label_kwargs)
    collator = task.training_collator(tok)
    log(f"fine-tuning {source.name} on {task.name}: {len(features)} examples from {train_source}")

    def train_into(staging: Path) -> None:
        args = TrainingArguments(output_dir=str(staging / "_trainer"), num_train_epochs=cfg.epochs,
                                 max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
                                 learning_rate=cfg.learning_rate, warmup_ratio=0.1, weight_decay=0.01,
                                 logging_steps=20, save_strategy="no", report_to=[], seed=cfg.seed,
                                 use_cpu=not torch.cuda.is_available(), disable_tqdm=False)
        trainer = Trainer(model=model, args=args, train_dataset=features, data_collator=collator)
        t0 = time.perf_counter()
        result = trainer.train()
        shutil.rmtree(staging / "_trainer", ignore_errors=True)
        trainer.model.save_pretrained(str(staging))
        tok.save_pretrained(str(staging))
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        (staging / METADATA_FILE).write_text(json.dumps({
            "head": task.head, "labels": labels, "target_task": task.name,
            "intermediate_task": source.metadata.get("intermediate_task"),
            "base_model": source.name, "base_checkpoint": str(source.path),
            "train_data": train_source, "train_examples": len(features), "steps": result.global_step,
            "epochs": cfg.epochs, "learning_rate": cfg.learning_rate, "batch_size": cfg.batch_size,
            "max_length": max_length, "seed": cfg.seed, "train_seconds": time.perf_counter() - t0,
            "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
        }, indent=2))

    return build_atomically(Path(cfg.out), train_into)
