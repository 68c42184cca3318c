"""Each metric against values computed by hand on small cases."""

from __future__ import annotations

import numpy as np
import pytest

from bench.tasks.metrics import accuracy, bucc_f1, mlqa, seqeval_f1, squad_v1
from bench.tasks.qa import best_span


def test_accuracy():
    assert accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == 75.0
    with pytest.raises(ValueError):
        accuracy([1], [1, 2])


def test_seqeval_f1_on_ner_chunks():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    # chunks: gold {PER(0-1), LOC(3)}, pred {PER(0-1), ORG(3)}: P = R = 1/2
    assert seqeval_f1(pred, gold) == pytest.approx(50.0)


def test_seqeval_f1_on_pos_tags_as_xtreme_scores_them():
    # XTREME feeds bare UPOS tags to seqeval, which reads each as a one-token chunk
    gold = [["DET", "NOUN", "VERB"]]
    assert seqeval_f1([["DET", "NOUN", "VERB"]], gold) == pytest.approx(100.0)
    assert seqeval_f1([["DET", "NOUN", "NOUN"]], gold) < 100.0


def test_squad_v1_exact_match_and_f1():
    refs = {"q1": ["The Eiffel Tower"], "q2": ["in 1889", "1889"], "q3": ["Paris France"]}
    preds = {"q1": "eiffel tower!", "q2": "1889", "q3": "Paris"}
    scores = squad_v1(preds, refs)
    # q1: exact after normalisation (article, case, punctuation); q2: exact vs second gold;
    # q3: P = 1/1, R = 1/2 -> F1 = 2/3
    assert scores["exact_match"] == pytest.approx(200 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3) / 3)
    with pytest.raises(ValueError, match="no prediction"):
        squad_v1({}, refs)


def test_mlqa_language_aware_normalisation():
    # German articles are dropped only under de; Chinese is scored per character
    assert mlqa({"q": "die Katze"}, {"q": ["Katze"]}, "de")["exact_match"] == 100.0
    assert mlqa({"q": "die Katze"}, {"q": ["Katze"]}, "en")["exact_match"] == 0.0
    zh = mlqa({"q": "北京大学"}, {"q": ["北京"]}, "zh")
    assert zh["exact_match"] == 0.0 and zh["f1"] == pytest.approx(100 * 2 * 0.5 * 1 / 1.5)


def test_mlqa_strips_what_the_official_scorer_strips():
    """MLQA's evaluate script: PUNCT is Unicode punctuation *and* string.punctuation, and Chinese is split per
    character in [\u4e00-\u9fa5] only (google-research/xtreme third_party/evaluate_mlqa.py)."""
    # '$' is a currency symbol (Sc), not Unicode punctuation: the official scorer strips it all the same
    assert mlqa({"q": "16,181"}, {"q": ["$16,181"]}, "en")["f1"] == 100.0
    assert mlqa({"q": "a+b"}, {"q": ["ab"]}, "es")["exact_match"] == 100.0
    # U+3400/U+3401 (CJK Extension A) lie outside the scorer's range: "㐀㐁" is one token, so "㐀" shares none
    assert mlqa({"q": "㐀"}, {"q": ["㐀㐁"]}, "zh")["f1"] == 0.0
    assert mlqa({"q": "北"}, {"q": ["北京"]}, "zh")["f1"] == pytest.approx(100 * 2 * 1 * 0.5 / 1.5)


def test_bucc_threshold_maximises_f1():
    gold = {("a", "x"), ("b", "y"), ("c", "z")}
    candidates = [(0.9, "a", "x"), (0.8, "b", "y"), (0.7, "d", "w"), (0.6, "c", "z"), (0.5, "e", "v")]
    # thresholds: 0.9 -> F1 .5; 0.8 -> .8; 0.7 -> 2/3 prec, 2/3 rec; 0.6 -> P 3/4 R 1 -> 6/7
    result = bucc_f1(candidates, gold)
    assert result["threshold"] == 0.6
    assert result["f1"] == pytest.approx(100 * 6 / 7)
    assert result["precision"] == pytest.approx(75.0) and result["recall"] == pytest.approx(100.0)


def test_bucc_decomposes_per_source_sentence_at_its_threshold():
    """Summed per source sentence at the chosen threshold, the counts give bucc_f1's F1: the paired bootstrap
    resamples source sentences with that threshold held."""
    from bench.tasks.metrics import bucc_per_source, per_example_metric

    gold = {("a", "x"), ("b", "y"), ("c", "z")}
    candidates = [(0.9, "a", "x"), (0.8, "b", "q"), (0.7, "d", "w"), (0.6, "c", "z"), (0.5, "e", "v")]
    result = bucc_f1(candidates, gold)
    rows = bucc_per_source(candidates, gold, result["threshold"])
    assert rows == [[1, 1, 1], [0, 1, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]]
    assert per_example_metric({"kind": "f1_counts", "values": rows}) == pytest.approx(result["f1"])


def test_a_bucc_cap_keeps_every_gold_pair_and_n_distractors_per_side():
    from bench.tasks import get_task

    src_ids = [f"s{i}" for i in range(10)]
    trg_ids = [f"t{i}" for i in range(12)]
    gold = {("s8", "t11"), ("s9", "t0")}  # beyond the first two sources: the old cap dropped both
    examples = (src_ids, [f"src {i}" for i in src_ids], trg_ids, [f"trg {i}" for i in trg_ids], gold)
    kept_src, src, kept_trg, trg, kept_gold = get_task("bucc2018").first(examples, 2)
    assert kept_gold == gold
    assert kept_src == ["s0", "s1", "s8", "s9"] and src == ["src s0", "src s1", "src s8", "src s9"]
    assert kept_trg == ["t0", "t1", "t2", "t11"]  # gold t0 and t11, distractors t1 and t2 (t0 is gold)


def test_best_span_maps_tokens_back_to_characters():
    context = "Paris is the capital of France."
    # tokens: [CLS] q q [SEP] Paris is the capital of France .
    offsets = [(0, 0), (0, 0), (0, 0), (0, 0), (0, 5), (6, 8), (9, 12), (13, 20), (21, 23), (24, 30), (30, 31)]
    context_mask = np.array([False] * 4 + [True] * 7)
    start = np.full(11, -5.0)
    end = np.full(11, -5.0)
    start[1], end[1] = 20.0, 20.0  # the question scores highest but is outside the context
    start[7], end[9] = 4.0, 3.0  # "capital of France"
    start[9], end[7] = 3.5, 2.5  # (9, 7) ends before it starts; (7, 7) and (9, 9) score 6.5 < 7
    score, a, b = best_span(start, end, offsets, context_mask)
    assert context[a:b] == "capital of France"
    assert score == pytest.approx(7.0)
    assert best_span(start, end, offsets, context_mask, max_answer_length=2) is not None
    assert best_span(start, end, offsets, np.zeros(11, bool)) is None


def test_entity_counts_sum_to_seqeval_f1_exactly():
    from bench.tasks.metrics import entity_counts, per_example_metric

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"], ["B-LOC", "O"], ["O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG", "O"], ["B-LOC", "B-PER"], ["B-MISC"]]
    counts = entity_counts(pred, gold)
    assert counts[0] == [1, 1, 2] and counts[1] == [0, 1, 1]
    assert per_example_metric({"kind": "f1_counts", "values": counts}) == pytest.approx(seqeval_f1(pred, gold))


def test_paired_bootstrap_separates_a_real_drop_from_noise():
    import numpy as np

    from bench.tasks.metrics import paired_bootstrap_drop

    rng = np.random.default_rng(0)
    ref = rng.random(2000) < 0.9
    same = ref.copy()  # 5 answers lost and 5 gained: a net drop of 0, the noise two variants differ by
    same[np.flatnonzero(ref)[:5]] = False
    same[np.flatnonzero(~ref)[:5]] = True
    worse = ref.copy()
    worse[np.flatnonzero(ref)[:120]] = False  # 120 of the correct answers lost: a 6-point drop
    as_pe = lambda v: {"kind": "mean", "values": v.astype(int).tolist()}  # noqa: E731
    noise = paired_bootstrap_drop({"de": as_pe(ref)}, {"de": as_pe(same)})["average"]
    real = paired_bootstrap_drop({"de": as_pe(ref)}, {"de": as_pe(worse)})["average"]
    assert noise[1] <= 0 <= noise[2] and noise[2] - noise[1] < 1.0  # paired: a narrow interval around 0
    assert real[0] == pytest.approx(6.0) and 4.5 < real[1] < 6.0 < real[2] < 7.5  # ~1.1 points either side
    with pytest.raises(ValueError, match="same examples"):
        paired_bootstrap_drop({"de": as_pe(ref)}, {"de": as_pe(ref[:100])})
