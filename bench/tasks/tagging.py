"""Tagging: UD-POS (UPOS from CoNLL-U) and PAN-X NER. Each word's tag is predicted from its first
sub-token; scored with seqeval F1 over the per-word sequences, as XTREME's scorer does."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.errors import UserError
from bench.tasks.metrics import entity_counts, seqeval_f1
from bench.tasks.base import LanguageResult, Task
from models.taskdata.readers import (PANX_LABELS, UD_LANGUAGE_NAMES, UPOS, DataSource, Sentence, hf_xtreme,
                                     read_conllu, read_word_tag_tsv)


def _chunks(word_lengths: list[int], budget: int) -> list[tuple[int, int]]:
    """Split a sentence into word ranges whose sub-tokens fit the budget (XTREME splits long sentences)."""
    spans, start, used = [], 0, 0
    for i, n in enumerate(word_lengths):
        n = max(1, min(n, budget))
        if used + n > budget and i > start:
            spans.append((start, i))
            start, used = i, 0
        used += n
    spans.append((start, len(word_lengths)))
    return spans


class TaggingTask(Task):
    family = "tagging"
    head = "token-classification"
    metric_name = "f1"
    metrics = ("f1",)
    label_set: tuple[str, ...] = ()

    def evaluate(self, feed, checkpoint, examples: list[Sentence], lang, max_length):
        labels = checkpoint.metadata.get("labels")
        if not labels:
            raise UserError(f"{checkpoint.path}/stilts.json lists no 'labels' for its token-classification head")
        missing = set(self.label_set) - set(labels)
        if missing:
            raise UserError(f"checkpoint {checkpoint.name} was trained on other labels: it lacks "
                            f"{', '.join(sorted(missing))} of {self.name}")
        tok = checkpoint.tokenizer()
        budget = max_length - tok.num_special_tokens_to_add()
        with feed.tokenizing():
            encoded, index = [], []  # index: (sentence, first word, per-word first sub-token positions)
            for s, (words, _) in enumerate(examples):
                pieces = [tok(w, add_special_tokens=False)["input_ids"] or [tok.unk_token_id] for w in words]
                for a, b in _chunks([len(p) for p in pieces], budget):
                    ids, firsts = [], []
                    for p in pieces[a:b]:
                        firsts.append(len(ids) + 1)  # +1 for <s>
                        ids.extend(p[:budget])
                    encoded.append(tok.build_inputs_with_special_tokens(ids[:budget]))
                    index.append((s, a, firsts))
        outputs = feed.run(encoded, tok.pad_token_id, max_length)
        predicted = [[None] * len(words) for words, _ in examples]
        for (s, a, firsts), out in zip(index, outputs):
            logits = out["logits"]
            for k, pos in enumerate(firsts):
                predicted[s][a + k] = labels[int(np.argmax(logits[min(pos, len(logits) - 1)]))]
        gold = [tags for _, tags in examples]
        return LanguageResult({"f1": seqeval_f1(predicted, gold)}, len(examples), predicted,
                              {"kind": "f1_counts", "values": entity_counts(predicted, gold)})

    def read_training_file(self, path: Path) -> list[Sentence]:
        return read_conllu(path, self.label_set) if path.suffix == ".conllu" else read_word_tag_tsv(path, self.label_set)

    def training_features(self, tok, examples: list[Sentence], max_length: int) -> list[dict]:
        label_id = {l: i for i, l in enumerate(self.label_set)}
        features = []
        for words, tags in examples:
            enc = tok(words, is_split_into_words=True, truncation=True, max_length=max_length)
            previous, targets = None, []
            for word in enc.word_ids():
                # only a word's first sub-token carries its tag (as `evaluate` reads it); -100: ignored by the loss
                targets.append(-100 if word is None or word == previous else label_id[tags[word]])
                previous = word
            features.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                             "labels": targets})
        return features

    def training_collator(self, tok):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tok)

    def format_predictions(self, predictions) -> str:
        return "".join("".join(f"{t}\n" for t in sent) + "\n" for sent in predictions)


class UDPOS(TaggingTask):
    name = "udpos"
    languages = tuple(UD_LANGUAGE_NAMES)
    label_set = UPOS

    def load(self, lang, source: DataSource):
        if lang not in UD_LANGUAGE_NAMES:
            raise UserError(f"udpos has no language '{lang}'; XTREME's are {', '.join(UD_LANGUAGE_NAMES)}")
        if source.data_dir is None:
            data = hf_xtreme(f"udpos.{UD_LANGUAGE_NAMES[lang]}", source.hub_split)
            names = data.features["pos_tags"].feature.names
            return [(list(r["tokens"]), [names[t] for t in r["pos_tags"]]) for r in data], "google/xtreme"
        # every treebank of the language, as XTREME concatenates them
        conllu = sorted({*source.data_dir.glob(f"udpos/{lang}_*-ud-{source.split}.conllu"),
                         *source.data_dir.glob(f"{lang}_*-ud-{source.split}.conllu")})
        if conllu:
            return [s for path in conllu for s in read_conllu(path)], ", ".join(map(str, conllu))
        path = source.find(self.name, lang, ["udpos/{split}-{lang}.tsv", "{split}-{lang}.tsv",
                                             f"udpos/{lang}_*-ud-{{split}}.conllu"])
        return read_word_tag_tsv(path, UPOS), str(path)


class PANX(TaggingTask):
    name = "panx"
    languages = tuple("ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja "
                      "ka ko th sw yo my zh kk tr et fi hu".split())
    label_set = PANX_LABELS

    def load(self, lang, source: DataSource):
        self.check_language(lang, source)
        if source.data_dir is None:
            data = hf_xtreme(f"PAN-X.{lang}", source.hub_split)
            names = data.features["ner_tags"].feature.names
            return [(list(r["tokens"]), [names[t] for t in r["ner_tags"]]) for r in data], "google/xtreme"
        path = source.find(self.name, lang, ["panx/{split}-{lang}.tsv", "{split}-{lang}.tsv", "{lang}-{split}"])
        return read_word_tag_tsv(path, PANX_LABELS), str(path)
