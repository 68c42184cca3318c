"""The text a student may learn from (`bench distill --data`): which files, read how, in which language, and
which of them are evaluation text (asked of models/taskdata/scored_text.py; refused or recorded on the student).
Tatoeba and BUCC are refused outright: the retrieval tasks score the encoder on those very sentences."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import UserError
from models.taskdata.readers import (PANX_LABELS, PAWSX_LABELS, XNLI_LABELS, is_word_tag_tsv, pair_tsv_sentences,
                                     read_conllu, read_word_tag_tsv, squad_texts)
from models.taskdata.scored_text import ScoredText, scored_text

Pair = tuple[str, str]  # (text the student reads, text whose teacher output is the target)
PAIR_LABELS = {"xnli": XNLI_LABELS, "pawsx": PAWSX_LABELS}

# Evaluation data that a student must never learn: the retrieval tasks score the encoder on these very sentences.
REFUSED = {"tatoeba": "Tatoeba", "bucc": "BUCC"}
# Folders of a data root (XTREME's layout, ../shared/data) and how each is read.
ROOT_FOLDERS = ("xquad", "xnli", "pawsx", "mlqa", "tydiqa", "panx", "udpos", "squad")


@dataclass
class LearnedSource:
    """One source's contribution, recorded in the student's stilts.json."""
    path: str
    lang: str
    kind: str  # "parallel" (this language aligned to the teacher's English embedding) or "monolingual"
    texts: int
    evaluation_of: str | None = None  # whose evaluation text this is (models/taskdata/scored_text.py), e.g. "udpos dev (en)"


@dataclass
class TrainingText:
    pairs: list[Pair] = field(default_factory=list)
    sources: list[LearnedSource] = field(default_factory=list)
    texts_by_lang: dict[str, list[str]] = field(default_factory=dict)

    learned: list[ScoredText] = field(default_factory=list)  # evaluation text among the sources

    def add(self, path: Path, lang: str, kind: str, pairs: list[Pair], evaluation_of: ScoredText | None,
            cap: int | None) -> None:
        pairs = list(dict.fromkeys(p for p in pairs if p[0].strip() and p[1].strip()))[:cap]
        if pairs:
            self.pairs += pairs
            self.texts_by_lang.setdefault(lang, []).extend(p[0] for p in pairs)
            self.sources.append(LearnedSource(str(path), lang, kind, len(pairs),
                                           str(evaluation_of) if evaluation_of else None))
            if evaluation_of and evaluation_of not in self.learned:
                self.learned.append(evaluation_of)


def load_training_text(specs: list[str], max_per_language: int | None = None) -> TrainingText:
    text = TrainingText()
    for spec in specs:
        path = Path(spec)
        if not path.exists():
            raise UserError(f"distillation data {spec} does not exist")
        try:
            for source in _expand(path):
                _read_source(source, text, max_per_language)
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text") from None
    if not text.pairs:
        raise UserError(f"no training text in {', '.join(specs)}")
    return text


def _refused(path: Path) -> str | None:
    names = [path.name.lower()] + ([p.name.lower() for p in path.iterdir()] if path.is_dir() else [])
    return next((label for key, label in REFUSED.items() if any(key in n for n in names)), None)


def _expand(path: Path) -> list[Path]:
    """A data root becomes its usable folders and files; Tatoeba and BUCC given by name are refused."""
    refused = _refused(path) if not _is_data_root(path) else None
    if refused:
        raise UserError(f"{path} is {refused}, evaluation data of a retrieval task: distil on other text "
                        "(XQuAD, XNLI, PAWS-X, PAN-X, UD)")
    if not _is_data_root(path):
        return [path]
    out = []
    for folder in ROOT_FOLDERS:
        sub = path / folder
        if folder in ("panx", "udpos", "squad") and sub.is_dir():
            out += sorted(p for p in sub.iterdir() if p.suffix in (".tsv", ".conllu", ".json"))
        elif sub.is_dir():
            out.append(sub)
    return out


def _is_data_root(path: Path) -> bool:
    return path.is_dir() and sum((path / f).is_dir() for f in ROOT_FOLDERS) >= 2


_LANG = [re.compile(p) for p in (r"^xquad\.([a-z]{2,3})\.json$", r"^(?:dev|test|train)-([a-z]{2,3})\.tsv$",
                                 r"^dev-context-([a-z]{2})-question-\1\.json$", r"^tydiqa\.goldp\.([a-z]{2})\.",
                                 r"^([a-z]{2,3})_[a-z]+-ud-", r"\.([a-z]{2,3})\.txt$")]


def _language(path: Path, default: str = "und") -> str:
    for pattern in _LANG:
        if m := pattern.search(path.name):
            return m.group(1)
    return default


def _read_source(path: Path, text: TrainingText, cap: int | None) -> None:
    if path.is_dir():
        files = sorted(path.rglob("*"))
        if any(re.match(r"^xquad\..*\.json$", f.name) for f in files):
            xquad = [f for f in files if f.suffix == ".json"]
            return _read_parallel(path, {_language(f): squad_texts(f) for f in xquad},
                                  {_language(f): scored_text(f) for f in xquad}, text, cap)
        pair_tsvs = [f for f in files if re.match(r"^(dev|test)-[a-z]{2}\.tsv$", f.name)]
        if pair_tsvs:
            task = "pawsx" if "paws" in path.name.lower() else "xnli"
            # named by its folder (xnli/, pawsx/) in the table; a folder of another name is judged by its task
            return _read_parallel(path, {_language(f): pair_tsv_sentences(f, PAIR_LABELS[task]) for f in pair_tsvs},
                                  {_language(f): scored_text(f) or ScoredText(task, f.name.split("-")[0], _language(f))
                                   for f in pair_tsvs}, text, cap)
        qa = [f for f in files if f.suffix == ".json"]
        if not qa:
            raise UserError(f"{path}: no training text here (XQuAD, XNLI/PAWS-X .tsv or SQuAD-format .json files)")
        for f in qa:
            texts = squad_texts(f)
            text.add(f, _language(f, "en"), "monolingual", [(t, t) for t in texts], scored_text(f), cap)
        return None
    if path.suffix == ".conllu":
        sentences = [" ".join(w) for w, _ in read_conllu(path)]
        return text.add(path, _language(path), "monolingual", [(s, s) for s in sentences], scored_text(path), cap)
    if path.suffix == ".json":
        # SQuAD v1.1 dev holds every XQuAD paragraph (XQuAD was translated from it): models/taskdata/scored_text.py says so
        return text.add(path, _language(path, "en"), "monolingual", [(t, t) for t in squad_texts(path)],
                        scored_text(path), cap)
    if path.suffix == ".tsv" and is_word_tag_tsv(path):
        sentences = [" ".join(w) for w, _ in read_word_tag_tsv(path, PANX_LABELS)]
        return text.add(path, _language(path), "monolingual", [(s, s) for s in sentences], scored_text(path), cap)
    if path.suffix == ".tsv":
        pairs = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            cols = line.split("\t")
            if len(cols) != 2:
                raise UserError(f"{path}:{n}: expected 'english<TAB>translation'")
            pairs.append((cols[1], cols[0]))
        text.add(path, "en", "monolingual", [(e, e) for _, e in pairs], None, cap)
        return text.add(path, _language(path, "xx"), "parallel", pairs, None, cap)
    lines = path.read_text(encoding="utf-8").splitlines()
    return text.add(path, _language(path), "monolingual", [(t, t) for t in lines], None, cap)


def _read_parallel(path: Path, by_lang: dict[str, list[str]], scored: dict[str, ScoredText | None],
                   text: TrainingText, cap: int | None) -> None:
    """Files whose i-th text translates the English file's i-th text: each language learns the teacher's
    embedding of the English side; English learns its own."""
    english = by_lang.get("en")
    if english is None:
        raise UserError(f"{path}: parallel text needs the English file beside the other languages")
    text.add(path, "en", "monolingual", [(t, t) for t in english], scored["en"], cap)
    for lang, texts in sorted(by_lang.items()):
        if lang == "en":
            continue
        if len(texts) != len(english):
            raise UserError(f"{path}: the {lang} file does not align with the English one "
                            f"({len(texts)} vs {len(english)} texts)")
        text.add(path, lang, "parallel", list(zip(texts, english)), scored[lang], cap)
