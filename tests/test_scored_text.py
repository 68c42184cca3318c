"""One table says which task scores which text; evaluation, calibration, distillation and fine-tuning ask it."""

from __future__ import annotations

import json

import pytest

from bench.commands.finetune import learned_text
from bench.tasks import get_task
from models.checkpoint import resolve_checkpoint
from models.errors import UserError
from models.taskdata.scored_text import ANY_SPLIT, ScoredText, scored_text, spoils


@pytest.mark.parametrize("path, expected", [
    ("../shared/data/udpos/en_ewt-ud-dev.conllu", ScoredText("udpos", "dev", "en")),
    ("udpos/de_gsd-ud-test.conllu", ScoredText("udpos", "test", "de")),
    ("udpos/en_ewt-ud-train.conllu", None),
    ("xnli/dev-fr.tsv", ScoredText("xnli", "dev", "fr")),
    ("labelled-test/xnli/test-sw.tsv", ScoredText("xnli", "test", "sw")),
    ("xnli/train-en.tsv", None),
    ("xnli/train-en-with-xnli-test.tsv", ScoredText("xnli", "test", "en")),
    ("pawsx/train-en.tsv", None),
    ("panx/train-en.tsv", None),
    ("panx/test-hi.tsv", ScoredText("panx", "test", "hi")),
    ("squad/dev-v1.1.json", ScoredText("xquad", ANY_SPLIT, "en")),
    ("xquad/xquad.de.json", ScoredText("xquad", ANY_SPLIT, "de")),
    ("mlqa/MLQA_V1/dev/dev-context-zh-question-zh.json", ScoredText("mlqa", "dev", "zh")),
    ("tydiqa/tydiqa-goldp-v1.1-dev/tydiqa.goldp.sw.dev.json", ScoredText("tydiqa", "dev", "sw")),
    ("tatoeba/tatoeba.deu-eng.eng", ScoredText("tatoeba", ANY_SPLIT, "deu")),
    ("bucc2018/zh-en.dev.gold", ScoredText("bucc2018", "dev", "zh")),
])
def test_every_layout_is_judged_by_its_name(path, expected):
    assert scored_text(path) == expected


def test_a_text_spoils_only_what_reads_it():
    ud_dev = [ScoredText("udpos", "dev", "en")]
    assert spoils(ud_dev, "udpos", "test", ["en", "de"]) is None  # UD-POS scores the test treebanks
    assert spoils(ud_dev, "udpos", "dev", ["de"]) is None  # treebanks are per language
    assert spoils(ud_dev, "udpos", "dev", ["en"]) == ud_dev[0]
    xnli_en = [ScoredText("xnli", "test", "en")]
    assert spoils(xnli_en, "xnli", "test", ["de"]) == xnli_en[0]  # every language translates the English set
    assert spoils(xnli_en, "xnli", "dev", None) is None
    assert spoils([ScoredText("xquad", ANY_SPLIT, "en")], "xquad", "test", ["zh"]) is not None
    assert spoils(xnli_en, "pawsx", "test", None) is None


def _with_metadata(checkpoint_dir, tmp_path, **meta):
    import shutil

    path = shutil.copytree(checkpoint_dir, tmp_path / "ckpt")
    stilts = json.loads((path / "stilts.json").read_text()) if (path / "stilts.json").exists() else {}
    (path / "stilts.json").write_text(json.dumps({**stilts, **meta}))
    return resolve_checkpoint(str(path))


def test_a_head_trained_on_ud_dev_scores_the_test_split_and_not_dev(tiny_encoder, tmp_path):
    """The README's demo-udpos head trains on en_ewt-ud-dev.conllu: UD-POS (test) takes it and its students."""
    source = resolve_checkpoint(str(tiny_encoder))
    learned = learned_text(source, "../shared/data/udpos/en_ewt-ud-dev.conllu", None)
    assert learned == [ScoredText("udpos", "dev", "en")]
    head = _with_metadata(tiny_encoder, tmp_path, head="token-classification",
                          learned_text=[t.to_dict() for t in learned])
    udpos = get_task("udpos")
    udpos.check_head(head, "test", ["en", "de"])  # XTREME's split: scored
    udpos.check_head(head, "dev", ["de"])  # another treebank
    with pytest.raises(UserError, match=r"learned udpos dev \(en\) \(its stilts.json, learned_text\)"):
        udpos.check_head(head, "dev", ["en"])


def test_squad_dev_without_xquads_paragraphs_is_not_xquads_text(tiny_encoder):
    source = resolve_checkpoint(str(tiny_encoder))
    assert learned_text(source, "squad/dev-v1.1.json", None) == [ScoredText("xquad", ANY_SPLIT, "en")]
    assert learned_text(source, "squad/dev-v1.1.json", "xquad/xquad.en.json") == []


def test_old_students_are_kept_off_whole_tasks(tiny_encoder, tmp_path):
    """Students distilled before learned_text was recorded name only tasks: those stay refused on every split."""
    student = _with_metadata(tiny_encoder, tmp_path, evaluation_text=["tatoeba"])
    with pytest.raises(UserError, match="distilled on tatoeba's evaluation text"):
        get_task("tatoeba").check_head(student, "test", None)
