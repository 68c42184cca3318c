"""`bench distill`: a smaller student from a (STILTs) teacher, by knowledge distillation. This module is the
data side (which texts, read how, refused when they are evaluation data) and the command; the student, the
losses and the loop live in models/training/."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import option, threads_option
from models.checkpoint import resolve_checkpoint
from models.errors import UserError
from models.students import students_root
from models.training.distillation import DistillSettings, Pair, distill


@dataclass
class DistillConfig:
    layers: int = option(help="student depth K", required=True)
    data: list[str] = option(help="training text: .txt, .tsv (english<TAB>translation, or PAN-X word<TAB>tag), .conllu, or a directory "
                                  "of XQuAD JSON files (parallel); repeatable", repeat=True, required=True,
                             default_factory=list)
    teacher: str = option("demo", "teacher checkpoint (size, directory or hub id)")
    out: Path | None = option(None, "where the student is saved", shown_default="registered as size <teacher>-L<K>")
    hidden: int | None = option(None, "narrower student width (random init)")
    task: str | None = option(None, "the task whose head is distilled (checks the teacher has it)")
    threads: int | None = threads_option()
    settings: DistillSettings = field(default_factory=DistillSettings)


def load_training_text(specs: list[str]) -> tuple[list[Pair], list[str]]:
    """Files: `.txt` one sentence per line (target = itself), `.tsv` `english<TAB>translation` pairs or PAN-X's
    `word<TAB>tag` sentences, `.conllu` sentences, or a directory of XQuAD JSON files (xquad.{lang}.json; same articles, paragraphs and
    questions in the same order in every language, so aligned by position)."""
    pairs, sources = [], []
    for spec in specs:
        path = Path(spec)
        if not path.exists():
            raise UserError(f"distillation data {spec} does not exist")
        if "tatoeba" in path.name.lower() or (path.is_dir() and any(path.glob("tatoeba.*"))):
            raise UserError(f"{spec} is Tatoeba, the evaluation data: distil on other text (XQuAD, UD)")
        try:
            if path.is_dir():
                pairs += _xquad_pairs(path)
            elif path.suffix == ".conllu":
                from bench.tasks.tagging import read_conllu

                pairs += [(" ".join(w), " ".join(w)) for w, _ in read_conllu(path)]
            elif path.suffix == ".tsv" and _is_word_tag_tsv(path):
                from bench.tasks.tagging import PANX_LABELS, read_word_tag_tsv

                pairs += [(" ".join(w), " ".join(w)) for w, _ in read_word_tag_tsv(path, PANX_LABELS)]
            elif path.suffix == ".tsv":
                for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                    cols = line.split("\t")
                    if len(cols) != 2:
                        raise UserError(f"{path}:{n}: expected 'english<TAB>translation'")
                    pairs += [(cols[1], cols[0]), (cols[0], cols[0])]
            else:
                pairs += [(t, t) for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text") from None
        sources.append(str(path))
    if not pairs:
        raise UserError(f"no training text in {', '.join(specs)}")
    return pairs, sources


def _is_word_tag_tsv(path: Path) -> bool:
    """PAN-X's training file (`word<TAB>NER tag` per line, a blank line between sentences) is also a two-column
    .tsv: read as translation pairs it would teach the student that tags translate words. Its second column is
    always a PAN-X tag, which a translation column essentially never is."""
    from bench.tasks.tagging import PANX_LABELS

    with path.open(encoding="utf-8", errors="replace") as f:
        rows = [line.rstrip("\n").split("\t") for line, _ in zip(f, range(200)) if line.strip()]
    return bool(rows) and all(len(r) == 2 and r[1] in PANX_LABELS for r in rows)


def _xquad_pairs(directory: Path) -> list[Pair]:
    english = directory / "xquad.en.json"
    if not english.is_file():
        raise UserError(f"{directory}: parallel XQuAD text needs xquad.en.json beside the other languages")

    def texts(path: Path) -> list[str]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise UserError(f"{path}: not SQuAD-format JSON ({e})") from None
        out = []
        for article in data:
            for paragraph in article["paragraphs"]:
                out.append(paragraph["context"])
                out += [qa["question"] for qa in paragraph["qas"]]
        return out

    en = texts(english)
    pairs = [(t, t) for t in en]
    for other in sorted(directory.glob("xquad.*.json")):
        if other == english:
            continue
        xx = texts(other)
        if len(xx) != len(en):
            raise UserError(f"{other} does not align with {english} ({len(xx)} vs {len(en)} texts)")
        pairs += list(zip(xx, en))
    return pairs


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
    pairs, sources = load_training_text(cfg.data)
    name = f"{teacher_ckpt.name if '/' not in teacher_ckpt.name else Path(teacher_ckpt.name).name}-L{cfg.layers}" + \
        (f"-H{cfg.hidden}" if cfg.hidden else "")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out) if cfg.out else students_root() / name
    return distill(teacher_ckpt, pairs, sources, cfg.layers, cfg.hidden, cfg.settings, out, name, log)
