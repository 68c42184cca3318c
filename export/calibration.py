"""Calibration text for static quantisation: which text, in which languages, how much.

A spec is `SOURCE:LANGS:N`: `xnli:en:128` (English only), `xnli:de+fr+zh:128`, `xnli:all:128` (the default: an
even mix over every language the source has). Sources are training or dev text in XTREME's layout under the data
directory. Whether a source is text that the scored run reads is asked of one table, models/taskdata/scored_text.py (XNLI
dev is XNLI's `--split dev` text in every language; SQuAD dev holds XQuAD's paragraphs): such a calibration is
refused for that run. Tatoeba, BUCC, XQuAD, MLQA and TyDiQA are not sources at all: their text is what is scored.

Texts are drawn deterministically (a seeded shuffle of each language's lines), so one spec is one artifact.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

from models.errors import UserError
from models.registries import unknown_name_error
from models.taskdata.calibration_sources import SOURCES
from models.taskdata.scored_text import spoils

DEFAULT_SPEC = "xnli:all:128"
CALIBRATION_HELP = ("calibration text SOURCE:LANGS:N (xnli:en:128, xnli:de+fr:64; LANGS `all`: every language of "
                    "the source); never text the scored task evaluates")
SEED = 0


@dataclass(frozen=True)
class CalibrationSpec:
    source: str
    languages: tuple[str, ...]
    samples: int

    @classmethod
    def parse(cls, text: str) -> "CalibrationSpec":
        parts = text.split(":")
        hint = f"calibration takes SOURCE:LANGS:N, e.g. {DEFAULT_SPEC} or xnli:en:128 (sources: {', '.join(SOURCES)})"
        if len(parts) != 3:
            raise UserError(f"calibration '{text}' is malformed; {hint}")
        name, langs, count = parts
        if name not in SOURCES:
            raise unknown_name_error("calibration source", name, SOURCES.names(),
                                     f"calibration takes SOURCE:LANGS:N, e.g. {DEFAULT_SPEC}")
        source = SOURCES[name]
        languages = source.languages if langs == "all" else tuple(langs.split("+"))
        unknown = [lang for lang in languages if lang not in source.languages]
        if unknown or not languages:
            raise UserError(f"calibration source {name} has no language {', '.join(unknown) or '(none given)'}; "
                            f"it has {', '.join(source.languages)} (or 'all')")
        if not count.isdigit() or not 1 <= int(count) <= 4096:
            raise UserError(f"calibration sample count must be 1..4096, not '{count}'; {hint}")
        return cls(name, languages, int(count))

    @property
    def english_only(self) -> bool:
        return self.languages == ("en",)


def default_data_dir() -> Path | None:
    """`STILTS_BENCH_DATA_DIR`, else the shared data beside the checkout when present (a user's clone has none)."""
    if os.environ.get("STILTS_BENCH_DATA_DIR"):
        return Path(os.environ["STILTS_BENCH_DATA_DIR"])
    beside = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return beside if beside.is_dir() else None


def check_not_scored(spec_text: str, task: str, split: str, langs: list[str] | None = None) -> None:
    """Refuse calibrating on text that scoring `task`'s `split` in `langs` reads (one line; models/taskdata/scored_text.py):
    the quantiser would have seen the scored inputs."""
    spec = CalibrationSpec.parse(spec_text)
    spoiled = spoils(SOURCES[spec.source].scored_texts(spec.languages), task, split, langs)
    if spoiled:
        others = [n for n, s in SOURCES.items() if not spoils(s.scored_texts(s.languages), task, split, langs)]
        raise UserError(f"calibration source {spec.source} is {spoiled}, text that scoring {task} {split} reads; "
                        f"calibrate on another source ({', '.join(others)}), e.g. "
                        f"--option calibration={others[0]}:all:128")


def calibration_texts(spec_text: str, data_dir: Path | None = None) -> tuple[list[tuple[str, str]], dict]:
    """[(lang, text)] drawn evenly over the spec's languages, and what was drawn (for the manifest)."""
    spec = CalibrationSpec.parse(spec_text)
    data_dir = data_dir or default_data_dir()
    if data_dir is None or not Path(data_dir).is_dir():
        raise UserError("static quantisation calibrates on text under a data directory: set STILTS_BENCH_DATA_DIR "
                        "to XTREME's layout (e.g. ../shared/data)")
    source = SOURCES[spec.source]
    per_lang = [spec.samples // len(spec.languages) + (i < spec.samples % len(spec.languages))
                for i in range(len(spec.languages))]
    drawn: list[tuple[str, str]] = []
    for lang, n in zip(spec.languages, per_lang):
        lines = source.read(Path(data_dir), lang)
        random.Random(f"{SEED}:{spec.source}:{lang}").shuffle(lines)
        drawn.extend((lang, text) for text in lines[:n])
    digest = hashlib.sha256("\n".join(f"{lang}\t{t}" for lang, t in drawn).encode()).hexdigest()[:16]
    record = {"spec": spec_text, "source": spec.source, "source_description": source.description,
              "split": source.split, "languages": list(spec.languages), "samples": len(drawn),
              "per_language": {lang: sum(1 for x, _ in drawn if x == lang) for lang in spec.languages},
              "data_dir": str(Path(data_dir).resolve()), "texts_sha256": digest}
    return drawn, record


def calibration_batches(checkpoint, spec_text: str, batch_size: int = 8, max_length: int = 128,
                        data_dir: Path | None = None, fixed_length: bool = False) -> tuple[list[dict], dict]:
    """The spec's texts tokenised as the tasks tokenise them (the checkpoint's prefix, padding to the longest of
    each batch), in batches, languages interleaved so every batch mixes them as a multilingual stream would.
    `fixed_length` pads every batch to `max_length` (ORT's histogram calibrators stack all batches into one array)."""
    import numpy as np

    if not checkpoint.has_tokenizer():
        raise UserError(f"static quantisation calibrates on real text, and {checkpoint.name} has no tokenizer")
    drawn, record = calibration_texts(spec_text, data_dir)
    order = sorted(range(len(drawn)), key=lambda i: (i % max(1, record["samples"] // len(record["languages"])), i))
    prefix = checkpoint.metadata.get("input_prefix", "")
    texts = [prefix + drawn[i][1] for i in order]
    tokenizer = checkpoint.tokenizer()
    batches = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], padding="max_length" if fixed_length else "longest",
                        truncation=True, max_length=max_length, return_tensors="np")
        batches.append({k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")})
    return batches, {**record, "batch_size": batch_size, "max_length": max_length,
                     "padding": "max_length" if fixed_length else "longest in batch"}
