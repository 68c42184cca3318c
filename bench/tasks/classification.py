"""Sentence-pair classification: XNLI and PAWS-X, scored by accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.errors import UserError
from bench.tasks.metrics import accuracy
from bench.tasks.base import LanguageResult, Task
from models.taskdata.readers import PAWSX_LABELS, XNLI_LABELS, DataSource, LabelledPair, hf_xtreme, read_pair_tsv


class PairClassification(Task):
    family = "classification"
    head = "sequence-classification"
    metric_name = "accuracy"
    metrics = ("accuracy",)
    label_set: tuple[str, ...] = ()

    def read_training_file(self, path: Path) -> list[LabelledPair]:
        return read_pair_tsv(path, self.label_set, (0, 1, 2), False)  # XTREME's train-en.tsv layout

    def training_features(self, tok, examples: list[LabelledPair], max_length: int) -> list[dict]:
        label_id = {l: i for i, l in enumerate(self.label_set)}
        return [{**tok(s1, s2, truncation=True, max_length=max_length), "labels": label_id[label]}
                for s1, s2, label in examples]

    def evaluate(self, feed, checkpoint, examples: list[LabelledPair], lang, max_length):
        labels = checkpoint.metadata.get("labels")
        if not labels or set(labels) != set(self.label_set):
            raise UserError(f"checkpoint {checkpoint.name} must list the labels {', '.join(self.label_set)} "
                            "in its stilts.json to be scored on " + self.name)
        tok = checkpoint.tokenizer()
        with feed.tokenizing():
            encoded = tok([e[0] for e in examples], [e[1] for e in examples], truncation=True,
                          max_length=max_length)["input_ids"]
        outputs = feed.run(encoded, tok.pad_token_id, max_length, token_level=False)
        predicted = [labels[int(np.argmax(o["logits"]))] for o in outputs]
        gold = [e[2] for e in examples]
        return LanguageResult({"accuracy": accuracy(predicted, gold)}, len(examples), predicted,
                              {"kind": "mean", "values": [int(p == g) for p, g in zip(predicted, gold)]})


class XNLI(PairClassification):
    name = "xnli"
    languages = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
    label_set = XNLI_LABELS

    def load(self, lang, source: DataSource):
        self.check_language(lang, source)
        if source.data_dir is None:
            data = hf_xtreme("XNLI", source.hub_split).filter(lambda r: r["language"] == lang)
            return [(r["sentence1"], r["sentence2"], r["gold_label"]) for r in data], "google/xtreme XNLI"
        raw = [p for p in source.candidates(["XNLI-1.0/xnli.{split}.tsv", "xnli.{split}.tsv"]) if p.is_file()]
        if raw:  # the published file: all languages, a header, sentence pair in columns 6 and 7
            return read_pair_tsv(raw[0], self.label_set, (6, 7, 1), True, lang_column=0, lang=lang), str(raw[0])
        path = source.find(self.name, lang, ["xnli/{split}-{lang}.tsv", "{split}-{lang}.tsv"])
        return read_pair_tsv(path, self.label_set, (0, 1, 2), False), str(path)


class PAWSX(PairClassification):
    name = "pawsx"
    languages = ("de", "en", "es", "fr", "ja", "ko", "zh")
    label_set = PAWSX_LABELS

    def load(self, lang, source: DataSource):
        self.check_language(lang, source)
        if source.data_dir is None:
            data = hf_xtreme(f"PAWS-X.{lang}", source.hub_split)
            return [(r["sentence1"], r["sentence2"], str(r["label"])) for r in data], "google/xtreme PAWS-X"
        published = {"test": "test_2k", "dev": "dev_2k", "train": "train"}[source.split]
        raw = [p for p in source.candidates([f"x-final/{{lang}}/{published}.tsv", f"{{lang}}/{published}.tsv"],
                                            lang=lang) if p.is_file()]
        if raw:  # published: header, id, sentence1, sentence2, label
            return read_pair_tsv(raw[0], self.label_set, (1, 2, 3), True), str(raw[0])
        path = source.find(self.name, lang, ["pawsx/{split}-{lang}.tsv", "{split}-{lang}.tsv"])
        return read_pair_tsv(path, self.label_set, (0, 1, 2), False), str(path)
