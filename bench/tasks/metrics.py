"""XTREME's metrics, computed as its official scorers compute them.

* accuracy: XNLI, PAWS-X, Tatoeba.
* seqeval F1 over per-word tag sequences: UD-POS, PAN-X (seqeval itself, as XTREME's scorer calls it).
* SQuAD v1.1 exact match / F1: XQuAD, TyDiQA-GoldP. Written out here rather than `evaluate.load("squad")`
  because that fetches the metric script from the hub at run time, which fails offline; the logic is the
  official v1.1 script's (lower-case, strip punctuation and English articles, collapse whitespace; max over
  gold answers; averaged in percent).
* MLQA: the same with MLQA's language-aware normalisation (Unicode punctuation, per-language articles,
  and character-level tokens for Chinese).
* BUCC: F1 of mined pairs at the score threshold that maximises F1 on the gold pairs (XTREME's recipe).
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata
from collections import Counter


def accuracy(predictions, references) -> float:
    if len(predictions) != len(references) or not references:
        raise ValueError("accuracy needs equally many predictions and references (and at least one)")
    return 100.0 * sum(p == r for p, r in zip(predictions, references)) / len(references)


def seqeval_f1(predictions: list[list[str]], references: list[list[str]]) -> float:
    import warnings

    from seqeval.metrics import f1_score

    with warnings.catch_warnings():  # bare UPOS tags are "not NE tags" to seqeval: expected for POS
        warnings.simplefilter("ignore", UserWarning)
        return 100.0 * f1_score(references, predictions)


# --- SQuAD v1.1 -----------------------------------------------------------------------------------------

def _squad_normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _qa_scores(predictions: dict[str, str], references: dict[str, list[str]], normalize, tokenize) -> dict:
    missing = set(references) - set(predictions)
    if missing:
        raise ValueError(f"{len(missing)} questions have no prediction")
    em = f1 = 0.0
    per_example = {}
    for qid, golds in references.items():
        pred = normalize(predictions[qid])
        em += max(float(pred == normalize(g)) for g in golds)
        per_example[qid] = max(_f1(tokenize(pred), tokenize(normalize(g))) for g in golds)
        f1 += per_example[qid]
    n = len(references)
    # per_example_f1 (0..1 per question) feeds paired bootstrap intervals; callers pop it before reporting
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n, "per_example_f1": per_example}


def squad_v1(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """{id: predicted text}, {id: [gold texts]} -> {"exact_match", "f1"} in percent."""
    return _qa_scores(predictions, references, _squad_normalize, str.split)


# --- MLQA --------------------------------------------------------------------------------------------

@functools.cache
def _punctuation() -> frozenset[str]:
    """What MLQA's scorer strips (its PUNCT): every Unicode punctuation character and Python's
    string.punctuation, which adds ASCII symbols that are not Unicode punctuation ($ + < = > ^ ` | ~)."""
    return frozenset(chr(i) for i in range(sys.maxunicode)
                     if unicodedata.category(chr(i)).startswith("P")) | frozenset(string.punctuation)

_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b", "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b", "ar": "\\sال^|ال", "hi": None, "zh": None,
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")  # MLQA's scorer's range exactly (narrower than all CJK ideographs)


def _mlqa_tokenize(text: str, lang: str) -> list[str]:
    if lang != "zh":
        return text.split()
    tokens, buffer = [], ""
    for ch in text:  # MLQA's mixed segmentation: each CJK character is a token, other runs split by spaces
        if _CJK.match(ch) or ch in _punctuation() or ch.isspace():
            tokens.extend(buffer.split())
            buffer = ""
            if not ch.isspace():
                tokens.append(ch)
        else:
            buffer += ch
    tokens.extend(buffer.split())
    return tokens


def mlqa(predictions: dict[str, str], references: dict[str, list[str]], lang: str) -> dict:
    article = _MLQA_ARTICLES.get(lang)

    def normalize(text: str) -> str:
        punct = _punctuation()
        text = "".join(ch for ch in text.lower() if ch not in punct)
        if article:
            text = re.sub(article, " ", text)
        return " ".join(_mlqa_tokenize(text, lang))

    return _qa_scores(predictions, references, normalize, lambda t: _mlqa_tokenize(t, lang))


# --- BUCC ----------------------------------------------------------------------------------------------

def bucc_f1(candidates: list[tuple[float, str, str]], gold: set[tuple[str, str]]) -> dict:
    """Candidates (score, source id, target id); pick the threshold maximising F1 against the gold
    pairs and report precision/recall/F1 there (percent) and the threshold itself."""
    if not gold:
        raise ValueError("BUCC needs gold pairs")
    ranked = sorted(candidates, key=lambda c: -c[0])
    best = {"f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": float("inf")}
    correct = 0
    for i, (score, src, trg) in enumerate(ranked, start=1):
        correct += (src, trg) in gold
        precision, recall = correct / i, correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
        if f1 > best["f1"]:
            best = {"f1": f1, "precision": precision, "recall": recall, "threshold": score}
    return {k: (100.0 * v if k != "threshold" else v) for k, v in best.items()}


def bucc_per_source(candidates: list[tuple[float, str, str]], gold: set[tuple[str, str]],
                    threshold: float) -> list[list[int]]:
    """[true positives, predicted, gold] per source sentence (in the candidates' order) at a fixed threshold:
    their sums give bucc_f1's F1 at that threshold, so the drop gets a paired bootstrap over source sentences with
    each variant's threshold held (XTREME picks the threshold on the same pairs; resampling does not re-pick it)."""
    gold_of: dict[str, int] = {}
    for src, _ in gold:
        gold_of[src] = gold_of.get(src, 0) + 1
    rows = []
    for score, src, trg in candidates:
        chosen = score >= threshold
        rows.append([int(chosen and (src, trg) in gold), int(chosen), gold_of.get(src, 0)])
    return rows


# --- per-example decomposition and paired bootstrap ------------------------------------------------------

def entity_counts(predictions: list[list[str]], references: list[list[str]]) -> list[list[int]]:
    """Per sentence: [entities predicted and correct, predicted, gold], as seqeval counts them. Summed, they
    give seqeval's micro F1 exactly (its entities never cross a sentence boundary)."""
    from seqeval.metrics.sequence_labeling import get_entities

    counts = []
    for pred, gold in zip(predictions, references):
        p, g = set(get_entities(pred)), set(get_entities(gold))
        counts.append([len(p & g), len(p), len(g)])
    return counts


def per_example_metric(per_example: dict, rows=None) -> float:
    """The primary metric in percent from per-example values, over all examples or the rows `rows` (an index
    array, possibly 2-D: one resample per row, giving one value per resample)."""
    import numpy as np

    values = np.asarray(per_example["values"], dtype=np.float64)
    picked = values if rows is None else values[rows]
    if per_example["kind"] == "mean":
        return 100.0 * picked.mean(axis=-1)
    tp, pred, gold = picked[..., 0].sum(axis=-1), picked[..., 1].sum(axis=-1), picked[..., 2].sum(axis=-1)
    return 100.0 * np.where(pred + gold > 0, 2 * tp / np.maximum(pred + gold, 1), 0.0)


def paired_bootstrap_drop(reference: dict[str, dict], variant: dict[str, dict], higher_is_better: bool = True,
                          resamples: int = 1000, confidence: float = 0.95, seed: int = 0):
    """Drop of `variant` against `reference` (points; positive = worse) with a paired bootstrap interval, per
    language and for the average over languages. Both hold per-example values of the same examples in the
    same order (language -> per_example); each resample draws the same examples for both sides, language by
    language. Returns {"languages": {lang: (drop, low, high)}, "average": (drop, low, high)}."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tail = (1 - confidence) / 2 * 100
    sign = 1.0 if higher_is_better else -1.0
    per_language, draws = {}, []
    for lang in reference:
        ref, var = reference[lang], variant[lang]
        n = len(ref["values"])
        if n == 0 or len(var["values"]) != n:
            raise ValueError(f"{lang}: the two sides were not scored on the same examples")
        rows = rng.integers(0, n, size=(resamples, n))
        drops = sign * (per_example_metric(ref, rows) - per_example_metric(var, rows))
        point = sign * (per_example_metric(ref) - per_example_metric(var))
        per_language[lang] = (float(point), float(np.percentile(drops, tail)), float(np.percentile(drops, 100 - tail)))
        draws.append(drops)
    average = np.mean(draws, axis=0)
    point = float(np.mean([v[0] for v in per_language.values()]))
    return {"languages": per_language,
            "average": (point, float(np.percentile(average, tail)), float(np.percentile(average, 100 - tail)))}
