"""Task-file readers: XTREME's layouts and the published formats, and the `google/xtreme` hub loader. Every
malformed file is one line naming the file, the line and what to do (models.errors.UserError)."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from models.errors import UserError

XNLI_LABELS = ("entailment", "neutral", "contradiction")
PAWSX_LABELS = ("0", "1")


@dataclass
class DataSource:
    """Where examples come from: a directory (XTREME's downloaded layout or the raw published files),
    else the Hugging Face `google/xtreme` data set."""

    data_dir: Path | None = None
    split: str = "test"

    @property
    def hub_split(self) -> str:
        """The split's name in `google/xtreme`, which calls XTREME's dev split `validation`."""
        return "validation" if self.split == "dev" else self.split

    def candidates(self, patterns: list[str], **fmt: str) -> list[Path]:
        return [self.data_dir / p.format(split=self.split, **fmt) for p in patterns] if self.data_dir else []

    def find(self, task: str, lang: str, patterns: list[str], **fmt: str) -> Path | None:
        if self.data_dir is None:
            return None
        if not self.data_dir.is_dir():
            raise UserError(f"--data-dir {self.data_dir} does not exist")
        fmt["lang"] = lang
        for path in self.candidates(patterns, **fmt):
            if path.is_file():
                return path
        looked = ", ".join(str(p.relative_to(self.data_dir)) for p in self.candidates(patterns, **fmt))
        raise UserError(f"no {task} data for language '{lang}' ({self.split}) in {self.data_dir}: looked for {looked}")


def hf_xtreme(config: str, split: str) -> Any:
    """Load one `google/xtreme` configuration with `datasets` (needs the hub, or its cache)."""
    try:
        from datasets import load_dataset

        return load_dataset("google/xtreme", config, split=split)
    except Exception as e:  # noqa: BLE001 - offline, unknown config, ...: one line with the way out
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else e.__class__.__name__
        raise UserError(f"cannot load google/xtreme '{config}' ({reason}); offline, pass --data-dir DIR "
                        "with the task's files (XTREME's layout or the published formats)") from None


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); is this the right file?") from None


LabelledPair = tuple[str, str, str]  # sentence 1, sentence 2, gold label


def read_pair_tsv(path: Path, labels: tuple[str, ...], columns: tuple[int, int, int], header: bool,
                  lang_column: int | None = None, lang: str | None = None) -> list[LabelledPair]:
    rows = []
    try:
        with path.open(encoding="utf-8", newline="") as f:
            for n, cols in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                if header and n == 1:
                    continue
                if lang_column is not None and len(cols) > lang_column and cols[lang_column] != lang:
                    continue
                if len(cols) <= max(columns):
                    raise UserError(f"{path}:{n}: expected at least {max(columns) + 1} tab-separated columns "
                                    "(XTREME strips test labels: use --split dev or the published files)")
                s1, s2, label = (cols[i].strip() for i in columns)
                label = "contradiction" if label == "contradictory" else label
                if label not in labels:
                    raise UserError(f"{path}:{n}: label '{label}' is not one of {', '.join(labels)}")
                rows.append((s1, s2, label))
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start})") from None
    return rows


def pair_tsv_sentences(path: Path, labels: tuple[str, ...]) -> list[str]:
    """Both sentences of every row of an XNLI / PAWS-X file in XTREME's layout, in row order."""
    return [sentence for s1, s2, _ in read_pair_tsv(path, labels, (0, 1, 2), False) for sentence in (s1, s2)]


def unique_column(path: Path, column: int) -> list[str]:
    """The non-empty values of one tab-separated column, unique, in file order (XNLI repeats each premise for
    its three hypotheses)."""
    rows = [line.split("\t") for line in read_lines(path) if line.strip()]
    return list(dict.fromkeys(r[column].strip() for r in rows if len(r) > column and r[column].strip()))


UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
        "PUNCT", "SCONJ", "SYM", "VERB", "X")
PANX_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
UD_LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "kk": "Kazakh", "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
}

Sentence = tuple[list[str], list[str]]


Line = tuple[int, list[str]]  # line number, tab-separated columns
WordTag = Callable[[int, list[str]], "tuple[str, str] | None"]


def _blocks(path: Path, comment: str | None = None) -> Iterator[list[Line]]:
    """Blank-line separated blocks of a one-token-per-line file, as lists of (line number, tab columns)."""
    block: list[Line] = []
    for n, line in enumerate(read_lines(path), 1):
        if not line.strip():
            if block:
                yield block
            block = []
        elif not (comment and line.startswith(comment)):
            block.append((n, line.split("\t")))
    if block:
        yield block


def _sentences(path: Path, token: WordTag, comment: str | None = None) -> list[Sentence]:
    """`token(n, cols)` returns (word, tag) or None for a line that is not a tagged word."""
    sentences = []
    for block in _blocks(path, comment):
        pairs = [p for p in (token(n, cols) for n, cols in block) if p is not None]
        if pairs:
            sentences.append(([w for w, _ in pairs], [t for _, t in pairs]))
    return sentences


# XTREME builds its UD-POS files with ud-conversion-tools' `conllu_to_conll.py --replace_subtokens_with_fused_forms`
# (its scripts/download_data.sh): a multi-word token (German "zum" = zu + dem, Spanish "del" = de + el) becomes one
# word with the form of the token and the tag of its span's head: the syntactic word nearest the root, ties broken
# by this precedence of tags (per language as there; a tag missing from a list ranks last, where the tool stops).
FUSED_HEAD_PRECEDENCE = {
    "default": "VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT".split(),
    "es": "VERB AUX PRON ADP DET".split(),
    "fr": "VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ".split(),
    "it": "VERB AUX ADV PRON ADP DET INTJ".split(),
}


def read_conllu(path: Path, labels: tuple[str, ...] = UPOS) -> list[Sentence]:
    """Words and UPOS tags as XTREME scores them: each multi-word token replaces its syntactic words, tagged as its
    span's head (FUSED_HEAD_PRECEDENCE); empty nodes (1.1) are skipped. The language (for the precedence) comes from
    the file name (`de_gsd-ud-test.conllu`)."""
    named = re.match(r"([a-z]{2,3})_", Path(path).name)
    precedence = FUSED_HEAD_PRECEDENCE.get(named.group(1) if named else "", FUSED_HEAD_PRECEDENCE["default"])
    sentences = []
    for block in _blocks(path, comment="#"):
        words: dict[int, tuple[str, str, int]] = {}  # id -> (form, upos, head id)
        spans: list[tuple[int, int, str]] = []  # multi-word tokens: first id, last id, form
        for n, cols in block:
            if len(cols) != 10:
                raise UserError(f"{path}:{n}: expected 10 tab-separated CoNLL-U columns, found {len(cols)}")
            if "." in cols[0]:
                continue
            if "-" in cols[0]:
                first, last = (int(i) for i in cols[0].split("-"))
                spans.append((first, last, cols[1]))
                continue
            if cols[3] not in labels:
                raise UserError(f"{path}:{n}: UPOS tag '{cols[3]}' is not one of {', '.join(labels)}")
            words[int(cols[0])] = (cols[1], cols[3], int(cols[6]) if cols[6].isdigit() else 0)
        # every span's head is chosen on the tree as read, then the spans are replaced (as the tool does)
        heads = [(_span_head(words, [i for i in range(first, last + 1) if i in words], precedence), first, last, form)
                 for first, last, form in spans]
        for head, first, last, form in heads:
            if head is None:
                continue
            words[head] = (form, *words[head][1:])
            for i in range(first, last + 1):
                if i != head:
                    words.pop(i, None)
        if words:
            ordered = [words[i] for i in sorted(words)]
            sentences.append(([w[0] for w in ordered], [w[1] for w in ordered]))
    return sentences


def _span_head(words: dict[int, tuple[str, str, int]], span: list[int], precedence: list[str]) -> int | None:
    """The syntactic word of a multi-word token's span nearest the root; among equals, the first by tag precedence."""
    if not span:
        return None

    def depth(i: int) -> int:
        steps = 0
        while i in words and steps <= len(words):  # bounded: a malformed cycle cannot hang the reader
            i, steps = words[i][2], steps + 1
        return steps

    depths = {i: depth(i) for i in span}
    top = min(depths.values())
    highest = [i for i in span if depths[i] == top]
    rank = {tag: r for r, tag in enumerate(precedence)}
    return min(highest, key=lambda i: rank.get(words[i][1], len(precedence)))


def read_word_tag_tsv(path: Path, labels: tuple[str, ...]) -> list[Sentence]:
    """XTREME's layout: `word<TAB>tag` per line, a blank line between sentences (PAN-X raw files prefix
    each word with `lang:`)."""
    # WikiANN's raw files prefix each word with its language ("de:Berlin"); XTREME's files do not. Only that exact
    # prefix is removed: "5:15" and a bare ":" are words
    named = re.search(r"-([a-z]{2,3})\.tsv$", path.name)
    prefix = f"{named.group(1)}:" if named else None

    def token(n: int, cols: list[str]) -> tuple[str, str] | None:
        if len(cols) != 2:
            raise UserError(f"{path}:{n}: expected 'word<TAB>tag' (XTREME strips test tags: use --split dev "
                            "or the published files)")
        if cols[1] not in labels:
            raise UserError(f"{path}:{n}: tag '{cols[1]}' is not one of {', '.join(labels)}")
        word = cols[0][len(prefix):] if prefix and cols[0].startswith(prefix) and len(cols[0]) > len(prefix) \
            else cols[0]
        return word, cols[1]

    return _sentences(path, token)  # no comments: '#' is a word here (tagged SYM or PUNCT)


def is_word_tag_tsv(path: Path) -> bool:
    """PAN-X's layout (`word<TAB>NER tag` per line, a blank line between sentences), told apart from a
    two-column translation file: its second column is always a PAN-X tag, which a translation essentially
    never is."""
    with path.open(encoding="utf-8", errors="replace") as f:
        rows = [line.rstrip("\n").split("\t") for line, _ in zip(f, range(200)) if line.strip()]
    return bool(rows) and all(len(r) == 2 and r[1] in PANX_LABELS for r in rows)


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[str]
    answer_starts: list[int] = field(default_factory=list)  # character offsets; needed only for training


def read_squad_json(path: Path) -> list[QAExample]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid SQuAD JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise UserError(f"{path}: not SQuAD format (no top-level 'data' list)")
    examples = []
    for article in data["data"]:
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context")
            for qa in paragraph.get("qas", []):
                answers = [a.get("text", "") for a in qa.get("answers", [])]
                starts = [a.get("answer_start", -1) for a in qa.get("answers", [])]
                if context is None or "id" not in qa or "question" not in qa:
                    raise UserError(f"{path}: a question lacks 'id', 'question' or its paragraph's 'context'")
                if not answers:
                    raise UserError(f"{path}: question {qa['id']} has no answers (XTREME strips test answers: "
                                    "use the published files)")
                examples.append(QAExample(qa["id"], qa["question"], context, answers, starts))
    if examples and not any(text.strip() for e in examples for text in e.answers):
        # SQuAD v1.1 scoring against empty gold strings gives F1 0 for every answer: a number, but a false one
        raise UserError(f"{path}: every answer text is empty (gold answers withheld or stripped); it cannot be "
                        "scored: use a copy with its answers (for TyDiQA-GoldP, the tydiqa-goldp-v1.1-dev files "
                        "as Google publishes them)")
    return examples


def squad_texts(path: Path, questions_only: bool = False) -> list[str]:
    """Contexts and questions (or questions only) of a SQuAD-format file, as text. Not read_squad_json: that one
    scores answers and refuses files without gold answers (a TyDiQA copy without them), whose text is still
    text."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        out = []
        for article in data:
            for paragraph in article["paragraphs"]:
                if not questions_only:
                    out.append(paragraph["context"])
                out += [qa["question"] for qa in paragraph["qas"]]
        return out
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not SQuAD-format JSON ({e})") from None
