"""The text static quantisation may calibrate on: each source's languages, split and file per language under a
data directory, and its reader. Whether a source is text that a scored run reads is asked of
models/taskdata/scored_text.py (export/calibration.py refuses such a calibration)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models.errors import UserError
from models.registries import Registry
from models.taskdata.readers import PANX_LABELS, read_word_tag_tsv, squad_texts, unique_column
from models.taskdata.scored_text import ScoredText, scored_text


@dataclass(frozen=True)
class TextSource:
    description: str
    languages: tuple[str, ...]
    split: str  # "train" or "dev"
    files: str  # the file of each language under the data directory ({lang}): models/taskdata/scored_text.py judges it
    read: Callable[[Path, str], list[str]]

    def scored_texts(self, languages: tuple[str, ...]) -> list[ScoredText]:
        return [t for t in (scored_text(self.files.format(lang=lang)) for lang in languages) if t]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"calibration text {path} is missing (XTREME's layout under the data directory)")
    return path


def _tsv_column(pattern: str, column: int) -> Callable[[Path, str], list[str]]:
    def read(data_dir: Path, lang: str) -> list[str]:
        return unique_column(_existing(data_dir / pattern.format(lang=lang)), column)
    return read


def _panx_sentences(data_dir: Path, lang: str) -> list[str]:
    words = read_word_tag_tsv(_existing(data_dir / "panx" / f"train-{lang}.tsv"), PANX_LABELS)
    return [" ".join(w) for w, _ in words]


def _squad_questions(data_dir: Path, lang: str) -> list[str]:
    # Questions, not contexts: SQuAD dev's contexts contain XQuAD's paragraphs (XQuAD was built from them).
    return squad_texts(_existing(data_dir / "squad" / "dev-v1.1.json"), questions_only=True)


SOURCES: Registry[TextSource] = Registry("calibration source", TextSource)
SOURCES.register("xnli", TextSource("XNLI dev premises", ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw",
                                                         "th", "tr", "ur", "vi", "zh"), "dev", "xnli/dev-{lang}.tsv",
                                    _tsv_column("xnli/dev-{lang}.tsv", 0)))
SOURCES.register("pawsx", TextSource("PAWS-X dev first sentences", ("de", "en", "es", "fr", "ja", "ko", "zh"), "dev",
                                     "pawsx/dev-{lang}.tsv", _tsv_column("pawsx/dev-{lang}.tsv", 0)))
SOURCES.register("panx", TextSource("PAN-X English training sentences", ("en",), "train", "panx/train-{lang}.tsv",
                                    _panx_sentences))
SOURCES.register("squad", TextSource("SQuAD v1.1 dev questions", ("en",), "dev", "squad/dev-v1.1.json",
                                     _squad_questions))
