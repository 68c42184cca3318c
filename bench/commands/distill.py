"""`bench distill`: a smaller student from a (STILTs) teacher, by knowledge distillation. This module is the
command; which texts a student may learn from, read how, is the data floor's (models/taskdata/distillation_text.py);
the student, the losses and the loop live in models/training/."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.config import csv, option, threads_option
from models.checkpoint import resolve_checkpoint
from models.errors import UserError
from models.taskdata.distillation_text import load_training_text
from models.taskdata.scored_text import learned_from
from models.students import students_root
from models.training.distillation import DistillSettings, distill


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
    resume: bool = option(False, "continue the run whose training state is saved beside the student (OUT.training/, "
                                 "written every --save-every steps and when a sitting ends): its weights, optimiser, "
                                 "schedule and random state; the record keeps every sitting and the total time")
    threads: int | None = threads_option()
    settings: DistillSettings = field(default_factory=DistillSettings)


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
    if (cfg.settings.sitting_minutes is not None and cfg.settings.sitting_minutes <= 0) or cfg.settings.save_every < 0:
        raise UserError("--sitting-minutes must be positive and --save-every at least 0")
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
                   out, name, log, trim_texts, provenance, resume=cfg.resume)
