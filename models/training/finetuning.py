"""Task-head training with the transformers Trainer: the last STILTs phase. Given tokenised features and a
collator (the task's data side, from bench/), it trains a fresh head on a checkpoint's encoder and saves a
checkpoint directory whose stilts.json records what was done."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from models.checkpoint import METADATA_FILE, Checkpoint
from models.files import build_atomically


@dataclass
class FinetuneSettings:
    """Training settings (the command-line options of `bench finetune` are generated from these fields)."""
    epochs: float = field(default=3.0, metadata={"help": "passes over the training data"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many steps (overrides --epochs; -1: off)"})
    batch_size: int = field(default=16, metadata={"help": "examples per step"})
    learning_rate: float = field(default=5e-5, metadata={"help": "AdamW learning rate", "flag": "--lr"})
    seed: int = field(default=42, metadata={"help": "random seed"})
    # Why: the word-embedding matrix holds most of an XLM-R-family encoder's weights (96M of the demo's 118M), and
    # AdamW's update of it is most of a CPU step (measured on the demo, batch 16 x 40 tokens, 2 threads: 1.6-2.0 s
    # a step trained, 0.8 s frozen); keeping it fixed also keeps the vocabulary of the languages English training
    # never sees where pretraining put it.
    freeze_embeddings: bool = field(default=False, metadata={
        "help": "keep the word embeddings fixed (about 2x faster steps on CPU; recorded)"})


def train_head(source: Checkpoint, head_name: str, head_kwargs: dict, features: list[dict], collator,
               settings: FinetuneSettings, out: Path, metadata: dict, threads: int | None = None) -> Path:
    """Train `head_name` (models.heads) on `source`'s encoder; `head_kwargs` size the new head (num_labels,
    id2label, ...). `metadata` (task, labels, data) is saved in stilts.json with the training figures."""
    import torch
    import transformers
    from transformers import Trainer, TrainingArguments

    from models.heads import HEADS

    if threads:
        torch.set_num_threads(threads)
    # A fine-tuned source (an intermediate STILTs phase) keeps its encoder and gets a new head: sizes that differ
    # from its old head are not an error, and a head of the same shape is re-initialised, not inherited.
    model = getattr(transformers, HEADS[head_name].auto_class).from_pretrained(
        str(source.path), ignore_mismatched_sizes=True, **head_kwargs)
    new_head = []
    if source.metadata.get("target_task"):
        for name, module in model.named_children():
            if name != model.base_model_prefix and any(True for _ in module.parameters()):
                module.apply(model._init_weights)
                new_head.append(name)
    if settings.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    tok = source.tokenizer()

    def train_into(staging: Path) -> None:
        args = TrainingArguments(output_dir=str(staging / "_trainer"), num_train_epochs=settings.epochs,
                                 max_steps=settings.max_steps, per_device_train_batch_size=settings.batch_size,
                                 learning_rate=settings.learning_rate, warmup_ratio=0.1, weight_decay=0.01,
                                 logging_steps=20, save_strategy="no", report_to=[], seed=settings.seed,
                                 use_cpu=not torch.cuda.is_available(), disable_tqdm=False)
        trainer = Trainer(model=model, args=args, train_dataset=features, data_collator=collator)
        t0 = time.perf_counter()
        result = trainer.train()
        shutil.rmtree(staging / "_trainer", ignore_errors=True)
        trainer.model.save_pretrained(str(staging))
        tok.save_pretrained(str(staging))
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        (staging / METADATA_FILE).write_text(json.dumps({
            **metadata, "head": head_name, "base_model": source.name, "base_checkpoint": str(source.path),
            "new_head": new_head or "fresh (the source had no task head)",
            "train_examples": len(features), "steps": result.global_step, "epochs": settings.epochs,
            "learning_rate": settings.learning_rate, "batch_size": settings.batch_size, "seed": settings.seed,
            "freeze_embeddings": settings.freeze_embeddings,
            "train_seconds": time.perf_counter() - t0,
            "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
        }, indent=2))

    return build_atomically(Path(out), train_into)
