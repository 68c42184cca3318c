"""`bench distill`: a smaller student from a (STILTs) teacher, by knowledge distillation. This module is the
data side (which texts, read how, from which language, refused or marked when they are evaluation data) and
the command; the student, the losses and the loop live in models/training/."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.config import csv, option, threads_option
from models.checkpoint import resolve_checkpoint
from models.errors import UserError
from models.scored_text import ScoredText, learned_from, scored_text
from models.students import students_root
from models.training.distillation import DistillSettings, Pair, distill


@dataclass
class DistillConfig:
    layers: int = option(help="student depth K", required=True)
    data: list[str] = option(help="training text, repeatable: a data root such as ../shared/data (every usable "
                                  "source under it), a task folder (xquad/, xnli/, pawsx/: parallel; mlqa/, "
                                  "tydiqa/: monolingual), or a file: .txt, .tsv (english<TAB>translation, or PAN-X "
                                  "word<TAB>tag), .conllu, SQuAD-format .json", repeat=True, required=True,
                             default_factory=list)
    teacher: str = option("demo", "teacher checkpoint (size, directory or hub id)")
    out: Path | None = option(None, "where the student is saved", shown_default="registered as size <teacher>-L<K>")
    hidden: int | None = option(None, "narrower student width (random init)")
    task: str | None = option(None, "the task whose head is distilled (checks the teacher has it)")
    max_per_language: int | None = option(None, "at most this many texts per source and language (the first ones)",
                                          shown_default="all")
    trim_vocab: bool = option(False, "keep only the vocabulary pieces that the training text's languages use (see "
                                     "--keep-langs), plus every single character: a smaller model on disk; "
                                     "other text is re-segmented into the kept pieces")
    keep_langs: list[str] = option(help="with --trim-vocab: keep the pieces of these languages' training text only",
                                   parse=csv, repeat=True, default_factory=list,
                                   shown_default="every language of the training text")
    threads: int | None = threads_option()
    settings: DistillSettings = field(default_factory=DistillSettings)


# Evaluation data that a student must never learn: the retrieval tasks score the encoder on these very sentences.
REFUSED = {"tatoeba": "Tatoeba", "bucc": "BUCC"}
# Folders of a data root (XTREME's layout, ../shared/data) and how each is read.
ROOT_FOLDERS = ("xquad", "xnli", "pawsx", "mlqa", "tydiqa", "panx", "udpos", "squad")


@dataclass
class TextSource:
    """One source's contribution, recorded in the student's stilts.json."""
    path: str
    lang: str
    kind: str  # "parallel" (this language aligned to the teacher's English embedding) or "monolingual"
    texts: int
    evaluation_of: str | None = None  # whose evaluation text this is (models/scored_text.py), e.g. "udpos dev (en)"


@dataclass
class TrainingText:
    pairs: list[Pair] = field(default_factory=list)
    sources: list[TextSource] = field(default_factory=list)
    texts_by_lang: dict[str, list[str]] = field(default_factory=dict)

    learned: list[ScoredText] = field(default_factory=list)  # evaluation text among the sources

    def add(self, path: Path, lang: str, kind: str, pairs: list[Pair], evaluation_of: ScoredText | None,
            cap: int | None) -> None:
        pairs = list(dict.fromkeys(p for p in pairs if p[0].strip() and p[1].strip()))[:cap]
        if pairs:
            self.pairs += pairs
            self.texts_by_lang.setdefault(lang, []).extend(p[0] for p in pairs)
            self.sources.append(TextSource(str(path), lang, kind, len(pairs),
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
            return _read_parallel(path, {_language(f): _squad_texts(f) for f in xquad},
                                  {_language(f): scored_text(f) for f in xquad}, text, cap)
        pair_tsvs = [f for f in files if re.match(r"^(dev|test)-[a-z]{2}\.tsv$", f.name)]
        if pair_tsvs:
            task = "pawsx" if "paws" in path.name.lower() else "xnli"
            # named by its folder (xnli/, pawsx/) in the table; a folder of another name is judged by its task
            return _read_parallel(path, {_language(f): _pair_tsv_texts(f, task) for f in pair_tsvs},
                                  {_language(f): scored_text(f) or ScoredText(task, f.name.split("-")[0], _language(f))
                                   for f in pair_tsvs}, text, cap)
        qa = [f for f in files if f.suffix == ".json"]
        if not qa:
            raise UserError(f"{path}: no training text here (XQuAD, XNLI/PAWS-X .tsv or SQuAD-format .json files)")
        for f in qa:
            texts = _squad_texts(f)
            text.add(f, _language(f, "en"), "monolingual", [(t, t) for t in texts], scored_text(f), cap)
        return None
    if path.suffix == ".conllu":
        from bench.tasks.tagging import read_conllu

        sentences = [" ".join(w) for w, _ in read_conllu(path)]
        return text.add(path, _language(path), "monolingual", [(s, s) for s in sentences], scored_text(path), cap)
    if path.suffix == ".json":
        # SQuAD v1.1 dev holds every XQuAD paragraph (XQuAD was translated from it): models/scored_text.py says so
        return text.add(path, _language(path, "en"), "monolingual", [(t, t) for t in _squad_texts(path)],
                        scored_text(path), cap)
    if path.suffix == ".tsv" and _is_word_tag_tsv(path):
        from bench.tasks.tagging import PANX_LABELS, read_word_tag_tsv

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


def _squad_texts(path: Path) -> list[str]:
    """Contexts and questions of a SQuAD-format file. Not bench.tasks.qa.read_squad_json: that one scores answers
    and refuses files without gold answers (../shared's TyDiQA), whose text is still text."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        out = []
        for article in data:
            for paragraph in article["paragraphs"]:
                out.append(paragraph["context"])
                out += [qa["question"] for qa in paragraph["qas"]]
        return out
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not SQuAD-format JSON ({e})") from None


def _pair_tsv_texts(path: Path, task: str) -> list[str]:
    """XNLI / PAWS-X rows in XTREME's layout, read by the task's own reader: both sentences, in row order."""
    from bench.tasks import get_task

    return [sentence for s1, s2, _ in get_task(task).read_training_file(path) for sentence in (s1, s2)]


def _is_word_tag_tsv(path: Path) -> bool:
    """PAN-X's training file (`word<TAB>NER tag` per line, a blank line between sentences) is also a two-column
    .tsv: read as translation pairs it would teach the student that tags translate words. Its second column is
    always a PAN-X tag, which a translation column essentially never is."""
    from bench.tasks.tagging import PANX_LABELS

    with path.open(encoding="utf-8", errors="replace") as f:
        rows = [line.rstrip("\n").split("\t") for line, _ in zip(f, range(200)) if line.strip()]
    return bool(rows) and all(len(r) == 2 and r[1] in PANX_LABELS for r in rows)


def run_distill(cfg: DistillConfig, log=lambda m: print(m, file=sys.stderr)) -> Path:
    import torch

    teacher_ckpt = resolve_checkpoint(cfg.teacher)
    if cfg.task:
        from bench.tasks import get_task

        task = get_task(cfg.task)
        if teacher_ckpt.head.name != task.head:
            raise UserError(f"task {task.name} needs a teacher with a {task.head} head; {teacher_ckpt.name} has "
                            f"{teacher_ckpt.head.name}")
    depth = teacher_ckpt.config["num_hidden_layers"]
    if not 1 <= cfg.layers < depth and cfg.hidden is None:
        raise UserError(f"--layers must be between 1 and {depth - 1} (the teacher has {depth} layers)")
    if cfg.layers < 1 or (cfg.hidden is not None and cfg.hidden % 64):
        raise UserError("--layers must be >= 1 and --hidden a multiple of 64")
    if cfg.settings.steps < 1 or cfg.settings.batch_size < 1:
        raise UserError("--steps and --batch-size must be at least 1")
    if cfg.settings.max_minutes is not None and cfg.settings.max_minutes <= 0:
        raise UserError("--max-minutes must be positive")
    if cfg.keep_langs and not cfg.trim_vocab:
        raise UserError("--keep-langs says which languages --trim-vocab keeps; add --trim-vocab or drop it")
    text = load_training_text(cfg.data, cfg.max_per_language)
    for source in text.sources:
        log(f"  {source.kind:<11} {source.lang:<4} {source.texts:>6} texts  {source.path}"
            + (f"  (evaluation text of {source.evaluation_of}: scores that read it are refused)"
               if source.evaluation_of else ""))
    languages = sorted({s.lang for s in text.sources})
    trim_texts = None
    if cfg.trim_vocab:
        kept_langs = sorted(cfg.keep_langs) or languages
        missing = sorted(set(kept_langs) - set(languages))
        if missing:
            raise UserError(f"--keep-langs {', '.join(missing)}: no training text in that language among --data "
                            f"(languages there: {', '.join(languages)})")
        trim_texts = [t for lang in kept_langs for t in text.texts_by_lang[lang]]
    name = f"{teacher_ckpt.name if '/' not in teacher_ckpt.name else Path(teacher_ckpt.name).name}-L{cfg.layers}" + \
        (f"-H{cfg.hidden}" if cfg.hidden else "") + ("-trim" if cfg.trim_vocab else "")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out) if cfg.out else students_root() / name
    provenance = {"data_sources": [asdict(s) for s in text.sources], "languages": languages,
                  # its own sources' evaluation text, and what its teacher learned (a head's training text reaches the
                  # student through the teacher's outputs)
                  "learned_text": [t.to_dict() for t in dict.fromkeys([*learned_from(teacher_ckpt.metadata),
                                                                       *text.learned])],
                  "vocabulary_languages": kept_langs if cfg.trim_vocab else None}
    return distill(teacher_ckpt, text.pairs, [str(Path(s)) for s in cfg.data], cfg.layers, cfg.hidden, cfg.settings,
                   out, name, log, trim_texts, provenance)
