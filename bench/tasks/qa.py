"""Extractive QA: XQuAD, MLQA, TyDiQA-GoldP (SQuAD v1.1 JSON). Long contexts are read through a sliding
window (max length, stride); the best span over all windows is mapped back to the context's characters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.errors import UserError
from bench.tasks.metrics import mlqa, squad_v1
from bench.tasks.base import LanguageResult, Task
from models.taskdata.readers import DataSource, QAExample, hf_xtreme, read_squad_json


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, offsets: list, context_mask: np.ndarray,
              n_best: int = 20, max_answer_length: int = 30) -> tuple[float, int, int] | None:
    """Highest start+end score over valid spans (both ends in the context, end >= start, not too long);
    returns (score, start char, end char) or None."""
    starts = [i for i in np.argsort(start_logits)[::-1][:n_best] if context_mask[i]]
    ends = [i for i in np.argsort(end_logits)[::-1][:n_best] if context_mask[i]]
    best = None
    for s in starts:
        for e in ends:
            if e < s or e - s + 1 > max_answer_length:
                continue
            score = float(start_logits[s] + end_logits[e])
            if best is None or score > best[0]:
                best = (score, offsets[s][0], offsets[e][1])
    return best


class QATask(Task):
    family = "qa"
    head = "question-answering"
    metric_name = "f1"
    metrics = ("f1", "exact_match")
    prediction_ext = "json"
    default_max_length = 384
    stride = 128

    def score(self, predictions: dict, references: dict, lang: str) -> dict:
        return squad_v1(predictions, references)

    def evaluate(self, feed, checkpoint, examples: list[QAExample], lang, max_length):
        tok = checkpoint.tokenizer()
        with feed.tokenizing():
            enc = tok([e.question for e in examples], [e.context for e in examples], truncation="only_second",
                      max_length=max_length, stride=min(self.stride, max_length // 2),
                      return_overflowing_tokens=True, return_offsets_mapping=True)
        outputs = feed.run(enc["input_ids"], tok.pad_token_id, max_length)
        best: dict[int, tuple[float, int, int]] = {}
        for f, out in enumerate(outputs):
            ex = enc["overflow_to_sample_mapping"][f]
            context_mask = np.array([sid == 1 for sid in enc.sequence_ids(f)])
            span = best_span(out["start_logits"], out["end_logits"], enc["offset_mapping"][f], context_mask)
            if span and (ex not in best or span[0] > best[ex][0]):
                best[ex] = span
        predictions = {e.id: (e.context[best[i][1]:best[i][2]] if i in best else "")
                       for i, e in enumerate(examples)}
        references = {e.id: e.answers for e in examples}
        scores = self.score(predictions, references, lang)
        per_question = scores.pop("per_example_f1")
        return LanguageResult(scores, len(examples), predictions,
                              {"kind": "mean", "values": [round(per_question[e.id], 4) for e in examples]})

    def format_predictions(self, predictions) -> str:
        return json.dumps(predictions, ensure_ascii=False, indent=1)

    def head_kwargs(self) -> dict:
        return {"num_labels": 2}  # one start and one end score per token, whatever the base saved

    def read_training_file(self, path: Path) -> list[QAExample]:
        return read_squad_json(path)  # SQuAD v1.1 train-v1.1.json is XTREME's English training set

    def training_features(self, tok, examples: list[QAExample], max_length: int) -> list[dict]:
        """One feature per window of the sliding window that `evaluate` reads with; a window that does not
        hold the whole first answer points at <s> (position 0), as in SQuAD v2-style training."""
        answer_starts = []  # the callers' examples stay as they were
        for e in examples:
            start = e.answer_starts[0] if e.answer_starts and e.answer_starts[0] >= 0 else e.context.find(e.answers[0])
            if start < 0 or e.context[start:].find(e.answers[0]) != 0:
                raise UserError(f"training question {e.id}: its answer {e.answers[0]!r} is not in its context "
                                "at answer_start")
            answer_starts.append(start)
        enc = tok([e.question for e in examples], [e.context for e in examples], truncation="only_second",
                  max_length=max_length, stride=min(self.stride, max_length // 2), return_overflowing_tokens=True,
                  return_offsets_mapping=True)
        features = []
        for f, offsets in enumerate(enc["offset_mapping"]):
            i = enc["overflow_to_sample_mapping"][f]
            first, last = answer_starts[i], answer_starts[i] + len(examples[i].answers[0])
            context = [i for i, sid in enumerate(enc.sequence_ids(f)) if sid == 1]
            start = end = 0
            if offsets[context[0]][0] <= first and offsets[context[-1]][1] >= last:
                start = next(i for i in context if offsets[i][1] > first)
                end = next(i for i in reversed(context) if offsets[i][0] < last)
            features.append({"input_ids": enc["input_ids"][f], "attention_mask": enc["attention_mask"][f],
                             "start_positions": start, "end_positions": end})
        return features

    def _from_hf(self, config: str, split: str) -> list[QAExample]:
        data = hf_xtreme(config, split)
        return [QAExample(r["id"], r["question"], r["context"], list(r["answers"]["text"]),
                          list(r["answers"]["answer_start"])) for r in data]


class XQuAD(QATask):
    name = "xquad"
    languages = tuple("ar de el en es hi ru th tr vi zh".split())

    def load(self, lang, source: DataSource):
        self.check_language(lang, source)
        if source.data_dir is None:
            return self._from_hf(f"XQuAD.{lang}", "validation"), f"google/xtreme XQuAD.{lang}"
        path = source.find(self.name, lang, ["xquad/xquad.{lang}.json", "xquad.{lang}.json"])
        return read_squad_json(path), str(path)


class MLQA(QATask):
    name = "mlqa"
    languages = tuple("ar de en es hi vi zh".split())

    def score(self, predictions, references, lang):
        return mlqa(predictions, references, lang)

    def load(self, lang, source: DataSource):
        self.check_language(lang, source)
        if source.data_dir is None:
            return self._from_hf(f"MLQA.{lang}.{lang}", source.hub_split), f"google/xtreme MLQA.{lang}.{lang}"
        name = "{split}-context-{lang}-question-{lang}.json"
        path = source.find(self.name, lang, [f"mlqa/MLQA_V1/{{split}}/{name}", f"MLQA_V1/{{split}}/{name}", name])
        return read_squad_json(path), str(path)


TYDIQA_NAMES = {"ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
                "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}


class TyDiQA(QATask):
    name = "tydiqa"
    languages = tuple(TYDIQA_NAMES)

    def load(self, lang, source: DataSource):
        if lang not in TYDIQA_NAMES:
            raise UserError(f"tydiqa has no language '{lang}'; XTREME's are {', '.join(TYDIQA_NAMES)}")
        if source.data_dir is None:  # one validation split for all languages; ids start with the language
            examples = self._from_hf("tydiqa", "validation")
            return [e for e in examples if e.id.startswith(TYDIQA_NAMES[lang])], "google/xtreme tydiqa"
        path = source.find(self.name, lang, ["tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json",
                                             "tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json",
                                             "tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.{lang}.dev.json",
                                             "tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{name}.json",
                                             "tydiqa.{lang}.dev.json"], name=TYDIQA_NAMES[lang])
        return read_squad_json(path), str(path)
