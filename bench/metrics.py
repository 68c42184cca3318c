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
    for qid, golds in references.items():
        pred = normalize(predictions[qid])
        em += max(float(pred == normalize(g)) for g in golds)
        f1 += max(_f1(tokenize(pred), tokenize(normalize(g))) for g in golds)
    n = len(references)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


def squad_v1(predictions: dict[str, str], references: dict[str, list[str]]) -> dict:
    """{id: predicted text}, {id: [gold texts]} -> {"exact_match", "f1"} in percent."""
    return _qa_scores(predictions, references, _squad_normalize, str.split)


# --- MLQA --------------------------------------------------------------------------------------------

@functools.cache
def _punctuation() -> frozenset[str]:
    """Every Unicode punctuation character, as MLQA's scorer strips them (built once, when first needed)."""
    return frozenset(chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P"))

_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b", "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b", "ar": "\\sال^|ال", "hi": None, "zh": None,
}
_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")


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
