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
    exclude: Path | None = option(None, "QA: a SQuAD-format JSON whose paragraphs (matched by context) are left out "
                                        "of training, e.g. XQuAD's English file when training on SQuAD dev")
    max_train_examples: int | None = option(None, "train on a seeded random sample of N examples (recorded)",
                                            shown_default="all")
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
    provenance = {}
    if cfg.exclude:
        examples, provenance["excluded"] = _without_contexts(task, examples, cfg.exclude)
    if cfg.max_train_examples is not None:
        if cfg.max_train_examples < 1:
            raise UserError(f"--max-train-examples must be positive, not {cfg.max_train_examples}")
        total = len(examples)
        if cfg.max_train_examples < total:
            import random

            examples = random.Random(cfg.settings.seed).sample(examples, cfg.max_train_examples)
        provenance["subsample"] = {"examples": len(examples), "of": total, "seed": cfg.settings.seed}
    tok = source.tokenizer()
    max_length = cfg.max_length or task.default_max_length
    features = task.training_features(tok, examples, max_length)
    log(f"fine-tuning {source.name} on {task.name}: {len(features)} examples from {train_source}")
    metadata = {"labels": list(getattr(task, "label_set", ())), "target_task": task.name,
                "train_data": train_source, "max_length": max_length, **provenance, **stilts_history(source),
                "learned_text": [t.to_dict() for t in learned_text(source, train_source, cfg.exclude)]}
    return train_head(source, task.head, task.head_kwargs(), features, task.training_collator(tok), cfg.settings,
                      cfg.out, metadata, cfg.threads)


def learned_text(source, train_source: str, exclude: Path | None) -> list:
    """Evaluation text this head learned (models/taskdata/scored_text.py): what its starting checkpoint learned (a STILTs
    chain carries it on) and its training file's, unless `--exclude` left that very text out (SQuAD v1.1 dev
    without XQuAD's paragraphs is not XQuAD's text). Evaluation refuses a score that reads any of it."""
    from models.taskdata.scored_text import learned_from, scored_text

    learned = learned_from(source.metadata)
    this = scored_text(train_source)
    left_out = scored_text(exclude) if exclude else None
    if this and not (left_out and left_out.task == this.task) and this not in learned:
        learned.append(this)
    return learned


def stilts_history(source) -> dict:
    """What the starting checkpoint already went through. A checkpoint fine-tuned on a task is an intermediate
    phase for the next: `intermediate_task` is its task (with its data, steps and losses), `chain` lists every
    checkpoint from the pretrained encoder on. A plain encoder gives an empty history."""
    meta = source.metadata
    chain = list(meta.get("chain") or [])
    if not meta.get("target_task") or meta.get("head") == "encoder":
        # a pretrained encoder is the chain's root: what it was trained for before (the demo's e5 records
        # target_task "retrieval") is pretraining here, not an intermediate task of this chain
        return {"intermediate_task": None, "chain": chain or [
            {"checkpoint": source.name, "path": str(source.path), "task": None}]}
    phase = {k: meta.get(k) for k in ("target_task", "train_data", "train_examples", "steps", "epochs",
                                      "learning_rate", "first_loss", "final_loss", "excluded", "subsample",
                                      "train_seconds")}
    chain.append({"checkpoint": source.name, "path": str(source.path), "task": meta["target_task"],
                  "base_model": meta.get("base_model")})
    return {"intermediate_task": meta["target_task"], "intermediate": phase, "chain": chain}


@dataclass
class StiltsConfig:
    """`bench stilts`: both STILTs phases in one command, each a `bench finetune` with its own data."""
    intermediate: str = option(help="the intermediate task (English training), e.g. xquad", required=True)
    intermediate_train: str = option(help="its training file or split, e.g. ../shared/data/squad/dev-v1.1.json",
                                     required=True)
    target: str = option(help="the target task, e.g. panx or udpos", required=True)
    target_train: str = option(help="its training file or split, e.g. train", required=True)
    out: Path = option(help="directory: the intermediate checkpoint goes to OUT/1-TASK, the target one to "
                            "OUT/2-INTERMEDIATE-TARGET", required=True)
    model: str | None = model_option("the pretrained encoder both phases start from")
    data_dir: Path | None = option(None, "where a training split name is looked up")
    intermediate_exclude: Path | None = option(None, "QA intermediate: paragraphs to leave out (as --exclude)")
    intermediate_max_train_examples: int | None = option(None, "subsample the intermediate data (recorded)",
                                                         shown_default="all")
    target_max_train_examples: int | None = option(None, "subsample the target data (recorded)",
                                                   shown_default="all")
    intermediate_max_length: int | None = option(None, "tokens per intermediate example",
                                                 shown_default="the task's evaluation length")
    threads: int | None = threads_option()
    settings: FinetuneSettings = field(default_factory=FinetuneSettings)


def run_stilts(cfg: StiltsConfig, log=lambda m: print(m, file=sys.stderr)) -> tuple[Path, Path]:
    """Intermediate phase, then the target phase on its encoder. A finished intermediate checkpoint (its
    stilts.json present: checkpoints are written atomically) is reused, so a rerun only trains what is missing."""
    from models.checkpoint import METADATA_FILE

    get_task(cfg.intermediate), get_task(cfg.target)  # unknown names fail before any training
    first = Path(cfg.out) / f"1-{cfg.intermediate}"
    if (first / METADATA_FILE).is_file():
        log(f"intermediate checkpoint {first} exists: reusing it")
    else:
        run_finetune(FinetuneConfig(task=cfg.intermediate, train=cfg.intermediate_train, out=first, model=cfg.model,
                                    data_dir=cfg.data_dir, exclude=cfg.intermediate_exclude,
                                    max_length=cfg.intermediate_max_length,
                                    max_train_examples=cfg.intermediate_max_train_examples, threads=cfg.threads,
                                    settings=cfg.settings), log)
    second = Path(cfg.out) / f"2-{cfg.intermediate}-{cfg.target}"
    run_finetune(FinetuneConfig(task=cfg.target, train=cfg.target_train, out=second, model=str(first),
                                data_dir=cfg.data_dir, max_train_examples=cfg.target_max_train_examples,
                                threads=cfg.threads, settings=cfg.settings), log)
    return first, second


def _without_contexts(task, examples: list, exclude: Path) -> tuple[list, dict]:
    """Training questions whose paragraph is not in `exclude` (XQuAD was built from SQuAD v1.1 dev: training on
    SQuAD dev without XQuAD's 240 paragraphs keeps the evaluation paragraphs unseen in every language)."""
    from bench.tasks.qa import read_squad_json

    if task.family != "qa":
        raise UserError(f"--exclude leaves QA paragraphs out by context; {task.name} is a {task.family} task")
    if not Path(exclude).is_file():
        raise UserError(f"--exclude {exclude} does not exist")
    contexts = {e.context.strip() for e in read_squad_json(Path(exclude))}
    kept = [e for e in examples if e.context.strip() not in contexts]
    matched = {e.context.strip() for e in examples} & contexts
    return kept, {"file": str(exclude), "paragraphs": len(contexts), "paragraphs_found": len(matched),
                  "questions_removed": len(examples) - len(kept)}
