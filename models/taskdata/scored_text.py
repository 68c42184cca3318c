"""Which task scores which text: the one table that calibration, distillation, fine-tuning and evaluation ask.

A file in XTREME's layout (or a published format: CoNLL-U, SQuAD JSON, MLQA, TyDiQA, Tatoeba, BUCC) is the
evaluation text of one task's split in one language, or it is training text. `scored_text(path)` says which, from
the file's name and folder alone, so a text can be judged before it is read.

Whether learning a text spoils a score depends on what is scored: `spoils(learned, task, split, langs)`.
- The split matters: UD-POS scores the test treebanks (XTREME's split), so `en_ewt-ud-dev.conllu` is training
  text there; only a run that scores UD-POS `--split dev` in English is spoiled by it.
- Some tasks' languages are translations of one English set (XNLI, PAWS-X, XQuAD, MLQA) or are scored against
  shared English text (Tatoeba, BUCC): their text in one language spoils every language of that split. UD, PAN-X
  and TyDiQA are written per language: only the same language is spoiled.
- SQuAD v1.1 dev holds every XQuAD paragraph (XQuAD was translated from it): it is XQuAD's text, unless the
  training left XQuAD's paragraphs out (`bench finetune --exclude`, recorded).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

ANY_SPLIT = "*"  # tasks whose files do not vary by split (XQuAD, Tatoeba): every split scores them
# Tasks whose every language's text of a split is (a translation of, or scored against) the same English text.
SHARED_ACROSS_LANGUAGES = frozenset({"xnli", "pawsx", "xquad", "mlqa", "tatoeba", "bucc2018"})


@dataclass(frozen=True)
class ScoredText:
    """The text of `task`'s `split` in `lang` (ANY_SPLIT: the task reads it whatever the split)."""

    task: str
    split: str
    lang: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScoredText":
        return cls(str(data["task"]), str(data["split"]), str(data["lang"]))

    def __str__(self) -> str:
        split = "every split" if self.split == ANY_SPLIT else self.split
        return f"{self.task} {split} ({self.lang})"


Rule = tuple["re.Pattern[str]", Callable[["re.Match[str]"], ScoredText]]


def _rule(pattern: str, make: Callable[[re.Match[str]], ScoredText]) -> Rule:
    return re.compile(pattern), make


# Patterns match the end of a path (folder/name): XTREME's layout and the published file names.
RULES = (
    _rule(r"(?:^|/)xnli/(dev|test)-([a-z]{2,3})\.tsv$", lambda m: ScoredText("xnli", m[1], m[2])),
    # English training pairs followed by XNLI's English test (../shared/README.md): XNLI's test text
    _rule(r"(?:^|/)xnli/train-en-with-xnli-test\.tsv$", lambda m: ScoredText("xnli", "test", "en")),
    _rule(r"(?:^|/)pawsx/(dev|test)-([a-z]{2,3})\.tsv$", lambda m: ScoredText("pawsx", m[1], m[2])),
    _rule(r"(?:^|/)panx/(dev|test)-([a-z]{2,3})\.tsv$", lambda m: ScoredText("panx", m[1], m[2])),
    _rule(r"(?:^|/)([a-z]{2,3})_[a-z0-9]+-ud-(dev|test)\.conllu$", lambda m: ScoredText("udpos", m[2], m[1])),
    _rule(r"(?:^|/)udpos/(dev|test)-([a-z]{2,3})\.tsv$", lambda m: ScoredText("udpos", m[1], m[2])),
    _rule(r"(?:^|/)xquad\.([a-z]{2,3})\.json$", lambda m: ScoredText("xquad", ANY_SPLIT, m[1])),
    _rule(r"(?:^|/)dev-v1\.1\.json$", lambda m: ScoredText("xquad", ANY_SPLIT, "en")),
    _rule(r"(?:^|/)(dev|test)-context-([a-z]{2})-question-\2\.json$", lambda m: ScoredText("mlqa", m[1], m[2])),
    _rule(r"(?:^|/)tydiqa\.goldp\.([a-z]{2})\.(dev|test)\.json$", lambda m: ScoredText("tydiqa", m[2], m[1])),
    _rule(r"(?:^|/)tatoeba\.([a-z]{3})-eng\.[a-z]{3}$", lambda m: ScoredText("tatoeba", ANY_SPLIT, m[1])),
    _rule(r"(?:^|/)([a-z]{2})-en\.(dev|test)\.(?:[a-z]{2}|gold)$", lambda m: ScoredText("bucc2018", m[2], m[1])),
)


def scored_text(path: str | Path) -> ScoredText | None:
    """The task, split and language whose evaluation text `path` is; None: training text."""
    text = str(path).replace("\\", "/")
    for pattern, make in RULES:
        match = pattern.search(text)
        if match:
            return make(match)
    return None


def spoils(learned: Iterable[ScoredText], task: str, split: str, langs: Iterable[str] | None) -> ScoredText | None:
    """The first learned text that is part of what scoring `task`'s `split` in `langs` (None: every language)
    reads, else None."""
    wanted = None if langs is None else set(langs)
    for text in learned:
        if text.task != task or text.split not in (ANY_SPLIT, split):
            continue
        if task in SHARED_ACROSS_LANGUAGES or wanted is None or text.lang in wanted:
            return text
    return None


def learned_from(metadata: dict[str, Any]) -> list[ScoredText]:
    """The evaluation text a checkpoint learned, from its stilts.json (`learned_text`)."""
    return [ScoredText.from_dict(t) for t in metadata.get("learned_text") or []]
