"""The task interface: each XTREME task knows its languages, metric, input format and the head it needs.

`Task.load(lang, source)` returns examples; `Task.evaluate(feed, checkpoint, examples)` runs them through
the *same runner the harness times* (batched and timed by `bench.timing.batching.TaskFeed`) and returns scores and
predictions; `Task.format_predictions` renders
them in XTREME's leaderboard submission layout (`predictions/{task}/test-{lang}.{ext}`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from models.errors import UserError
from models.taskdata.readers import DataSource


@dataclass
class LanguageResult:
    scores: dict[str, float]
    n_examples: int
    predictions: Any = None
    # What the primary metric is made of, example by example, for paired bootstrap intervals on drops
    # (bench.tasks.metrics.per_example_metric): {"kind": "mean", "values": [...]} (accuracy: 0/1, QA: F1 in 0..1) or
    # {"kind": "f1_counts", "values": [[true positives, predicted, gold], ...]} (seqeval F1). None: not
    # decomposable. BUCC: f1_counts per source sentence at the variant's own threshold, held fixed (bench.tasks.metrics).
    per_example: dict | None = None


class Task:
    name: ClassVar[str]
    family: ClassVar[str]
    head: ClassVar[str]  # the head a checkpoint needs (models.heads)
    metric_name: ClassVar[str]  # the primary metric, in percent
    metrics: ClassVar[tuple[str, ...]]
    languages: ClassVar[tuple[str, ...]]  # XTREME's evaluation languages
    prediction_ext: ClassVar[str] = "tsv"
    higher_is_better: ClassVar[bool] = True
    default_max_length: ClassVar[int] = 128

    def load(self, lang: str, source: DataSource) -> Any:
        raise NotImplementedError

    def first(self, examples, n: int):
        """The first `n` examples of a language (`--max-examples`): a prefix in file order, so every variant
        and every run scores the same ones."""
        return examples[:n]

    def evaluate(self, feed, checkpoint, examples, lang: str, max_length: int) -> LanguageResult:
        """Score one language. Inputs go through `feed` (bench.timing.batching.TaskFeed: batching policy, timing);
        tokenisation happens inside `feed.tokenizing()` so that it is timed apart from the model."""
        raise NotImplementedError

    def format_predictions(self, predictions) -> str:
        """Predictions as XTREME's submission file for one language (one per line by default)."""
        return "".join(f"{p}\n" for p in predictions)

    def read_training_file(self, path: Path) -> Any:
        raise UserError(f"bench finetune does not train {self.family} tasks such as {self.name}: they use the "
                        "encoder's sentence embeddings as they are (see bench distill)")

    def training_features(self, tok, examples, max_length: int) -> list[dict]:
        """Tokenised training examples with their targets, in the form transformers' Trainer takes."""
        raise UserError(f"bench finetune does not train {self.family} tasks such as {self.name}: they use the "
                        "encoder's sentence embeddings as they are (see bench distill)")

    def head_kwargs(self) -> dict:
        """How a new head for this task is sized: one output per label."""
        labels = list(getattr(self, "label_set", ()))
        return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                "label2id": {label: i for i, label in enumerate(labels)}}

    def training_collator(self, tok):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tok)

    def output_layer(self, checkpoint) -> int | None:
        """The encoder layer this task reads from the artifact; None: the head's own output."""
        return None

    def check_language(self, lang: str, source: DataSource) -> None:
        """XTREME's languages are known here; a data directory is read whatever languages its files are in
        (XTREME-R added some, e.g. XQuAD ro: the file is looked for, and its absence named). Only the hub, whose
        configurations are fixed, refuses a language outside the list."""
        if lang in self.languages or (source.data_dir is not None and re.fullmatch(r"[a-z]{2,3}", lang)):
            return
        hint = "" if source.data_dir is not None else "; a --data-dir holding its files is read in any language"
        raise UserError(f"{self.name} has no language '{lang}'; XTREME's are {', '.join(self.languages)}{hint}")

    def check_head(self, checkpoint, split: str = "test", langs: list[str] | None = None) -> None:
        """The checkpoint can be scored here: it has this task's head and never learned the text that scoring this
        task's `split` in `langs` reads (models/taskdata/scored_text.py: a student distilled on it, a head fine-tuned on it,
        at any phase of its STILTs chain)."""
        from models.taskdata.scored_text import learned_from, spoils

        meta = checkpoint.metadata
        if "learned_text" not in meta and self.name in (meta.get("evaluation_text") or []):
            # a student distilled before `learned_text` was recorded: its list names tasks, not splits
            raise UserError(f"{checkpoint.name} was distilled on {self.name}'s evaluation text (its stilts.json, "
                            f"evaluation_text): its {self.name} score would not be zero-shot; score it on another "
                            "task, or distil without that source")
        spoiled = spoils(learned_from(meta), self.name, split, langs or list(self.languages))
        if spoiled:
            raise UserError(f"{checkpoint.name} learned {spoiled} (its stilts.json, learned_text), text that scoring "
                            f"{self.name} {split} reads: the score would not be zero-shot; score another split or "
                            "task, or train without that text")
        if checkpoint.head.name != self.head:
            hint = ("fine-tune it first: bench finetune --task " + self.name) if self.head != "encoder" else ""
            raise UserError(f"task {self.name} needs a checkpoint with a {self.head} head; {checkpoint.name} "
                            f"has {checkpoint.head.name}. {hint}".strip())


def progress(iterable, desc: str, total: int | None = None):
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, leave=False, disable=os.environ.get("CI") == "true" or None)
