"""Retrieval: Tatoeba and BUCC. Sentences are embedded by mean-pooling the token vectors of one encoder
layer (the artifact's `layer`; XTREME's baselines use a middle layer) and matched by cosine similarity."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.errors import UserError
from bench.tasks.metrics import accuracy, bucc_f1, bucc_per_source
from bench.tasks.base import LanguageResult, Task
from models.taskdata.readers import DataSource, hf_xtreme, read_lines

TATOEBA_ISO3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn",
}


def default_layer(checkpoint) -> int:
    """The checkpoint's own pooling layer if its metadata names one (e5 models: the last), else XTREME's
    baseline choice: the middle of the stack (layer 7 of 12 for mBERT, 13 of 24 for XLM-R large)."""
    layers = checkpoint.config["num_hidden_layers"]
    return checkpoint.metadata.get("retrieval_layer") or layers // 2 + 1


class RetrievalTask(Task):
    family = "retrieval"
    head = "encoder"

    def output_layer(self, checkpoint) -> int | None:
        return default_layer(checkpoint)


def embed(feed, checkpoint, texts: list[str], max_length: int) -> np.ndarray:
    tok = checkpoint.tokenizer()
    prefix = checkpoint.metadata.get("input_prefix", "")
    with feed.tokenizing():
        encoded = tok([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    outputs = feed.run(encoded, tok.pad_token_id, max_length)
    pooled = np.stack([o["hidden_state"].astype(np.float64).mean(0) for o in outputs])
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class Tatoeba(RetrievalTask):
    name = "tatoeba"
    metric_name = "accuracy"
    metrics = ("accuracy",)
    languages = tuple(TATOEBA_ISO3)
    direction = "xx->en"  # XTREME's: for each non-English sentence, find its English translation

    def load(self, lang: str, source: DataSource):
        if lang not in TATOEBA_ISO3:
            raise UserError(f"tatoeba has no language '{lang}'; XTREME's are {', '.join(TATOEBA_ISO3)}")
        iso3 = TATOEBA_ISO3[lang]
        if source.data_dir is None:
            data = hf_xtreme(f"tatoeba.{iso3}", "validation")
            return (list(data["source_sentence"]), list(data["target_sentence"])), f"google/xtreme tatoeba.{iso3}"
        patterns = ["tatoeba/tatoeba.{iso3}-eng.{iso3}", "tatoeba.{iso3}-eng.{iso3}",
                    "tatoeba/v1/tatoeba.{iso3}-eng.{iso3}"]
        if not any(p.is_file() for p in source.candidates(patterns, iso3=iso3)):
            if any(p.is_file() for p in source.candidates(["tatoeba/{lang}-en.{lang}"], lang=lang)):
                raise UserError(f"{source.data_dir}/tatoeba/{lang}-en.en is XTREME's preprocessed copy, whose "
                                "English side is sorted (alignment removed); point --data-dir at LASER's "
                                f"tatoeba.{iso3}-eng.* files")
        src_path = source.find(self.name, lang, patterns, iso3=iso3)
        eng_path = Path(str(src_path)[: -len(iso3)] + "eng")
        if not eng_path.is_file():
            raise UserError(f"{eng_path} is missing (the English side of {src_path.name})")
        src, eng = read_lines(src_path), read_lines(eng_path)
        if len(src) != len(eng):
            raise UserError(f"{src_path} has {len(src)} lines but {eng_path} has {len(eng)}: line i of one "
                            "must translate line i of the other")
        for path, lines in ((src_path, src), (eng_path, eng)):
            empty = next((i for i, line in enumerate(lines, 1) if not line.strip()), None)
            if empty:
                raise UserError(f"{path}:{empty}: empty line (every line must hold one sentence)")
        return (src, eng), str(src_path)

    def first(self, examples, n):
        """The first n queries, and every candidate: XTREME retrieves among all of the other side's sentences, so
        a cap must not shrink the pool (that would raise accuracy as n falls and change the task)."""
        src, eng = examples
        return (src[:n], eng) if self.direction == "xx->en" else (src, eng[:n])

    def evaluate(self, feed, checkpoint, examples, lang, max_length):
        src, eng = examples
        a = embed(feed, checkpoint, src, max_length)
        b = embed(feed, checkpoint, eng, max_length)
        queries, keys = (a, b) if self.direction == "xx->en" else (b, a)
        predicted = (queries @ keys.T).argmax(1)  # query i's translation is candidate i (aligned files)
        correct = {"kind": "mean", "values": [int(p == i) for i, p in enumerate(predicted)]}
        return LanguageResult({"accuracy": accuracy(list(predicted), list(range(len(queries))))}, len(queries),
                              [int(p) for p in predicted], correct)


def _margin_candidates(a: np.ndarray, b: np.ndarray, k: int = 4, chunk: int = 2048):
    """Ratio-margin scores (cos / mean cos to each side's k nearest neighbours), forward best match."""

    def knn_mean(x, y):
        means = np.empty(len(x))
        for s in range(0, len(x), chunk):
            sims = x[s : s + chunk] @ y.T
            kk = min(k, sims.shape[1])
            means[s : s + chunk] = np.sort(np.partition(sims, -kk, axis=1)[:, -kk:], axis=1).mean(1)
        return means

    ma, mb = knn_mean(a, b), knn_mean(b, a)
    out = []
    for s in range(0, len(a), chunk):
        sims = a[s : s + chunk] @ b.T
        margin = sims / ((ma[s : s + chunk, None] + mb[None, :]) / 2)
        best = margin.argmax(1)
        out.extend((float(margin[i, j]), s + i, int(j)) for i, j in enumerate(best))
    return out


class BUCC(RetrievalTask):
    name = "bucc2018"
    metric_name = "f1"
    metrics = ("f1", "precision", "recall")
    languages = ("de", "fr", "ru", "zh")
    prediction_ext = "tsv"

    def _read_ids(self, path: Path) -> tuple[list[str], list[str]]:
        ids, texts = [], []
        for n, line in enumerate(read_lines(path), 1):
            parts = line.split("\t")
            if len(parts) != 2:
                raise UserError(f"{path}:{n}: expected 'id<TAB>sentence'")
            ids.append(parts[0])
            texts.append(parts[1])
        return ids, texts

    def load(self, lang: str, source: DataSource):
        self.check_language(lang, source)
        if source.data_dir is None:  # the hub copy holds the aligned pairs only: mine among them
            data = hf_xtreme(f"bucc18.{lang}", source.hub_split)
            n = len(data)
            ids = [str(i) for i in range(n)]
            return ((ids, list(data["source_sentence"]), ids, list(data["target_sentence"]),
                     {(i, i) for i in ids}), f"google/xtreme bucc18.{lang}")
        patterns = ["bucc2018/{lang}-en.{split}.{lang}", "{lang}-en.{split}.{lang}"]
        src_path = source.find(self.name, lang, patterns)
        base = str(src_path)[: -len(lang)]
        trg_path, gold_path = Path(base + "en"), Path(base + "gold")
        if not gold_path.is_file():
            raise UserError(f"{gold_path} is missing: BUCC's test gold is withheld; use --split dev")
        src_ids, src = self._read_ids(src_path)
        trg_ids, trg = self._read_ids(trg_path)
        gold = set()
        for n, line in enumerate(read_lines(gold_path), 1):
            parts = line.split("\t")
            if len(parts) != 2:
                raise UserError(f"{gold_path}:{n}: expected 'source_id<TAB>target_id'")
            gold.add((parts[0], parts[1]))
        return (src_ids, src, trg_ids, trg, gold), str(src_path)

    def first(self, examples, n):
        """Every gold pair (both its sentences) and, as distractors, the first n other sentences of each side, in
        file order. F1 rests on all the gold pairs whatever the cap (the first n source sentences kept 32 of the
        dev sample's 257 pairs at n = 2000); n, recorded as the cap, is the distractor count per side."""
        src_ids, src, trg_ids, trg, gold = examples
        gold_src, gold_trg = {s for s, _ in gold}, {t for _, t in gold}
        keep_src = gold_src | set([i for i in src_ids if i not in gold_src][:n])
        keep_trg = gold_trg | set([i for i in trg_ids if i not in gold_trg][:n])
        src_kept = [(i, t) for i, t in zip(src_ids, src) if i in keep_src]
        trg_kept = [(i, t) for i, t in zip(trg_ids, trg) if i in keep_trg]
        return ([i for i, _ in src_kept], [t for _, t in src_kept], [i for i, _ in trg_kept],
                [t for _, t in trg_kept], gold)

    def evaluate(self, feed, checkpoint, examples, lang, max_length):
        src_ids, src, trg_ids, trg, gold = examples
        a = embed(feed, checkpoint, src, max_length)
        b = embed(feed, checkpoint, trg, max_length)
        candidates = [(score, src_ids[i], trg_ids[j]) for score, i, j in _margin_candidates(a, b)]
        scores = bucc_f1(candidates, gold)
        chosen = [f"{s}\t{t}" for score, s, t in candidates if score >= scores["threshold"]]
        # per source sentence at this variant's threshold: the drop's interval and verdict as the other tasks'
        per_source = {"kind": "f1_counts", "values": bucc_per_source(candidates, gold, scores["threshold"])}
        return LanguageResult(scores, len(src), chosen, per_source)
