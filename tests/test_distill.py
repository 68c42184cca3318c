"""Distillation on a tiny teacher: the loss falls, the student beats the untrained layer-dropped student
on held-out text, it round-trips through save/load and the CLI, and bad input is refused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.commands.distill import DistillConfig, run_distill
from models.taskdata.distillation_text import load_training_text
from models.training.distillation import DistillSettings, resolve_precision
from models.training.resumable import StepBudget
from models.training.losses import in_batch_contrastive, masked_softened_kl, softened_kl
from models.training.students import build_student, kept_layers
from models.errors import UserError
from bench.variants.parity import PARITY_TEXTS
from models.checkpoint import resolve_checkpoint
from models.heads import load_model
from tests.conftest import build_tiny_checkpoint
from tests.test_cli import assert_one_line_error, bench

TRAIN = [
    "The children are playing in the garden.", "Die Kinder spielen im Garten.", "A storm is coming tonight.",
    "Ein Sturm zieht heute Nacht auf.", "She bought fresh bread at the market.", "Sie kaufte frisches Brot.",
    "The museum opens at nine o'clock.", "Das Museum öffnet um neun Uhr.", "We need more time to finish.",
    "Wir brauchen mehr Zeit.", "The river flows through the old town.", "Der Fluss fließt durch die Altstadt.",
    "My brother works at the hospital.", "Mein Bruder arbeitet im Krankenhaus.", "The concert was excellent.",
    "Das Konzert war ausgezeichnet.", "Prices rose again last month.", "Les prix ont encore augmenté.",
    "El tren sale a las ocho.", "La biblioteca está cerrada hoy.",
]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "teacher"
    build_tiny_checkpoint(path)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 2
    # a 4-layer teacher, so that a 2-layer student keeps every other layer
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(path))
    config.num_hidden_layers = 4
    torch.manual_seed(1)
    AutoModel.from_config(config).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "train.txt"
    path.write_text("\n".join(TRAIN) + "\n")
    return path


def _embed(model, tok, texts):
    batch = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


def test_kept_layers():
    assert kept_layers(12, 3) == [3, 7, 11]
    assert kept_layers(4, 2) == [1, 3]
    assert kept_layers(24, 6) == [3, 7, 11, 15, 19, 23]


def test_in_batch_contrastive_does_not_count_a_shared_target_as_negative():
    # a perfect student with orthogonal targets: every row ranks its own target first by a wide margin
    emb = torch.eye(4)
    assert float(in_batch_contrastive(emb, emb, ["a", "b", "c", "d"])) < 1e-6
    # rows 0 and 1 are translations of the same English sentence, so their teacher targets are identical:
    # unmasked, each would see the other's (equal) target as a negative and pay log 2 however good it is
    dup = torch.stack([emb[0], emb[0], emb[2], emb[3]])
    assert float(in_batch_contrastive(dup, dup, ["a", "a", "c", "d"])) < 1e-6
    # a student that maps a sentence onto another row's target pays for it
    swapped = torch.stack([emb[2], emb[1], emb[0], emb[3]])
    assert float(in_batch_contrastive(swapped, emb, ["a", "b", "c", "d"])) > 5.0


def test_resolve_precision():
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") in ("fp32", "bf16")
    with pytest.raises(UserError, match="unknown precision"):
        resolve_precision("int4")


def test_distilled_student_beats_the_untrained_layer_dropped_student(teacher, train_file, tmp_path):
    out = tmp_path / "student"
    # the MSE recipe alone: the contrastive term ranks rather than matches (tested on its own above)
    settings = DistillSettings(steps=150, batch_size=8, learning_rate=5e-4, contrastive_weight=0.0)
    run_distill(DistillConfig(teacher=str(teacher), layers=2, data=[str(train_file)], out=out, settings=settings),
                log=lambda m: None)
    meta = json.loads((out / "stilts.json").read_text())
    assert meta["layers"] == 2 and meta["teacher"] == str(teacher) and meta["steps"] == 150
    assert meta["init"] == "teacher embeddings + layers [1, 3]" and meta["data"] == [str(train_file)]
    assert meta["precision"] in ("fp32", "bf16") and "contrastive" not in meta["recipe"]
    assert meta["loss_last"] < 0.5 * meta["loss_first"]  # the distillation loss falls

    ckpt = resolve_checkpoint(str(teacher))
    tok = ckpt.tokenizer()
    teacher_model = load_model(teacher, ckpt.head, add_pooling_layer=False)
    untrained = build_student(teacher_model, 2, None).eval()
    trained = resolve_checkpoint(str(out))  # save/load round trip through the normal resolver
    assert trained.config["num_hidden_layers"] == 2
    student = load_model(trained.path, trained.head, add_pooling_layer=False)
    held_out = PARITY_TEXTS  # never seen in training
    target = _embed(teacher_model, tok, held_out)
    err_untrained = np.mean((_embed(untrained, tok, held_out) - target) ** 2)
    err_trained = np.mean((_embed(student, tok, held_out) - target) ** 2)
    assert err_trained < 0.5 * err_untrained, (err_trained, err_untrained)
    # embeddings were frozen, copied from the teacher
    np.testing.assert_array_equal(student.get_input_embeddings().weight.detach().numpy(),
                                  teacher_model.get_input_embeddings().weight.detach().numpy())


def test_student_runs_through_a_backend(teacher, train_file, tmp_path):
    out = tmp_path / "s"
    bench("distill", "--teacher", teacher, "--layers", "1", "--data", train_file, "--out", out, "--steps", "5",
          "--batch-size", "4", check_rc=0)
    proc = bench("run", "--model", out, "--backend", "onnx", "--batch-size", "2", "--seq-len", "16",
                 "--min-time", "0.2", "--min-iters", "3", "--warmup", "1", "--threads", "1", check_rc=0)
    assert "onnx" in proc.stdout


def test_distill_error_paths(teacher, train_file, tmp_path):
    out = tmp_path / "never"
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "4", "--data", train_file,
                                "--out", out), "--layers must be between 1 and 3")
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--data", tmp_path / "nope.txt",
                                "--out", out), "does not exist")
    tatoeba = tmp_path / "tatoeba.deu-eng.deu"
    tatoeba.write_text("Hallo\n")
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--data", tatoeba, "--out", out),
                          "evaluation data")
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--task", "udpos", "--data",
                                train_file, "--out", out), "needs a teacher with a token-classification head")
    bucc = tmp_path / "bucc2018"
    bucc.mkdir()
    (bucc / "zh-en.dev.zh").write_text("1\t你好\n")
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--data", bucc, "--out", out),
                          "is BUCC, evaluation data")
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--data", train_file,
                                "--keep-langs", "de", "--out", out), "add --trim-vocab")
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--data", train_file,
                                "--trim-vocab", "--keep-langs", "de", "--out", out), "no training text in that language")
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--data", train_file,
                                "--max-minutes", "0", "--out", out), "--max-minutes must be positive")
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--data", train_file,
                                "--steps", "0", "--out", out), "--steps and --batch-size must be at least 1")
    assert not out.exists()  # no half-written student


@pytest.mark.shared_data
def test_xquad_gives_parallel_pairs(shared_data):
    text = load_training_text([str(shared_data / "xquad")])
    # 240 paragraphs + 1190 questions per language, less the few repeated questions (a pair is drawn once)
    assert [(s.lang, s.kind) for s in text.sources] == [("en", "monolingual")] + [
        (lang, "parallel") for lang in ("de", "es", "ru", "zh")]
    assert all(1420 <= s.texts <= 1430 for s in text.sources) and len(text.pairs) == sum(s.texts for s in text.sources)
    assert ("Wie viele Punkte gab die Verteidigung der Panthers ab?",
            "How many points did the Panthers defense surrender?") in text.pairs


def test_panx_word_tag_file_is_read_as_sentences_not_translation_pairs(tmp_path):
    panx = tmp_path / "train-en.tsv"
    panx.write_text("R.H.\tB-ORG\nSaunders\tI-ORG\nsaid\tO\n\nParis\tB-LOC\nis\tO\nbig\tO\n")
    pairs = load_training_text([str(panx)]).pairs
    assert pairs == [("R.H. Saunders said", "R.H. Saunders said"), ("Paris is big", "Paris is big")]
    parallel = tmp_path / "pairs.tsv"
    parallel.write_text("The house is red.\tDas Haus ist rot.\n")
    pairs = load_training_text([str(parallel)]).pairs
    assert pairs == [("The house is red.", "The house is red."), ("Das Haus ist rot.", "The house is red.")]


@pytest.mark.shared_data
def test_a_data_root_gives_every_source_per_language_and_marks_evaluation_text(shared_data):
    text = load_training_text([str(shared_data)], max_per_language=40)
    by_source = {(Path(s.path).name, s.lang): s for s in text.sources}
    # Tatoeba and BUCC, the retrieval tasks' own sentences, are never drawn from a data root
    assert not any("tatoeba" in s.path or "bucc" in s.path for s in text.sources)
    # XNLI and PAWS-X rows translate each other: parallel to English, row by row
    assert by_source[("xnli", "fr")].kind == "parallel" and by_source[("xnli", "fr")].evaluation_of == "xnli dev (fr)"
    assert ("Et il a dit, maman, je suis à la maison.", "And he said, Mama, I'm home.") in text.pairs
    assert by_source[("pawsx", "ja")].kind == "parallel" and by_source[("pawsx", "ko")].texts == 40
    assert by_source[("xquad", "de")].evaluation_of == "xquad every split (de)"
    assert by_source[("dev-v1.1.json", "en")].evaluation_of == "xquad every split (en)"  # SQuAD dev holds XQuAD's
    assert by_source[("dev-context-de-question-de.json", "de")].evaluation_of == "mlqa dev (de)"
    assert by_source[("tydiqa.goldp.sw.dev.json", "sw")].evaluation_of == "tydiqa dev (sw)"
    assert by_source[("test-hi.tsv", "hi")].evaluation_of == "panx test (hi)"
    assert by_source[("test-hi.tsv", "hi")].kind == "monolingual"
    assert by_source[("train-en.tsv", "en")].evaluation_of is None  # PAN-X's training split is not scored
    assert by_source[("de_gsd-ud-test.conllu", "de")].evaluation_of == "udpos test (de)"
    # UD-POS scores the test treebanks: English EWT dev is UD-POS's text only for a run that scores --split dev
    assert by_source[("en_ewt-ud-dev.conllu", "en")].evaluation_of == "udpos dev (en)"
    assert all(s.texts <= 40 for s in text.sources)  # the per-language cap
    assert sorted({t.task for t in text.learned}) == ["mlqa", "panx", "pawsx", "tydiqa", "udpos", "xnli", "xquad"]
    assert {"ar", "de", "fr", "hi", "ja", "ru", "sw", "tr", "vi", "zh"} <= set(text.texts_by_lang)


@pytest.fixture(scope="module")
def tiny_xquad(tmp_path_factory):
    """A two-language XQuAD folder: parallel text that is also XQuAD's evaluation text."""
    folder = tmp_path_factory.mktemp("xq") / "xquad"
    folder.mkdir()
    english, german = TRAIN[0::2][:8], TRAIN[1::2][:8]
    for lang, texts in (("en", english), ("de", german)):
        data = {"data": [{"paragraphs": [{"context": t, "qas": []} for t in texts]}]}
        (folder / f"xquad.{lang}.json").write_text(json.dumps(data, ensure_ascii=False))
    return folder


def test_trimmed_student_records_its_sources_and_is_kept_off_their_task(teacher, tiny_xquad, tmp_path):
    out = tmp_path / "trimmed"
    proc = bench("distill", "--teacher", teacher, "--layers", "2", "--data", tiny_xquad, "--out", out, "--steps",
                 "20", "--batch-size", "8", "--trim-vocab", check_rc=0)
    assert "evaluation text of xquad" in proc.stderr
    meta = json.loads((out / "stilts.json").read_text())
    assert meta["learned_text"] == [{"task": "xquad", "split": "*", "lang": "en"},
                                    {"task": "xquad", "split": "*", "lang": "de"}] and meta["languages"] == ["de", "en"]
    assert [(s["lang"], s["kind"], s["texts"]) for s in meta["data_sources"]] == [("en", "monolingual", 8),
                                                                                 ("de", "parallel", 8)]
    vocab = meta["vocabulary"]
    assert meta["vocabulary_languages"] == ["de", "en"] and vocab["pieces_before"] == 250002
    assert 15_000 < vocab["pieces_after"] < 17_000  # specials + single characters + the training text's pieces
    assert vocab["weights_bytes_after"] < 0.2 * vocab["weights_bytes_before"]
    assert (out / "model.safetensors").stat().st_size < 0.2 * vocab["weights_bytes_before"]

    # the trimmed student computes what the untrimmed one does on its languages' text: same pieces, same rows
    full_ckpt, trimmed_ckpt = resolve_checkpoint(str(teacher)), resolve_checkpoint(str(out))
    full_tok, trimmed_tok = full_ckpt.tokenizer(), trimmed_ckpt.tokenizer()
    student = load_model(trimmed_ckpt.path, trimmed_ckpt.head, add_pooling_layer=False)
    assert student.config.vocab_size == vocab["pieces_after"] == len(trimmed_tok)
    seen = TRAIN[1]
    assert trimmed_tok.tokenize(seen) == full_tok.tokenize(seen)
    # text outside the kept pieces is re-segmented into kept ones (single characters at worst), not <unk>
    dutch = "Het huis is rood en de kat slaapt."
    pieces = trimmed_tok.tokenize(dutch)
    assert pieces != full_tok.tokenize(dutch) and "<unk>" not in pieces
    assert "".join(pieces).replace("\u2581", " ").strip() == dutch
    assert trimmed_tok(dutch)["input_ids"][0] == 0 and trimmed_tok(dutch)["input_ids"][-1] == 2  # <s> ... </s>

    # XQuAD's text trained it: it is refused on XQuAD with one line, scored elsewhere
    assert_one_line_error(bench("eval", "--model", out, "--task", "xquad", "--data-dir", tiny_xquad.parent),
                          "learned xquad every split (en) (its stilts.json, learned_text), text that scoring xquad")
    proc = bench("run", "--model", out, "--backend", "onnx", "--batch-size", "2", "--seq-len", "16",
                 "--min-time", "0.2", "--min-iters", "3", "--warmup", "1", "--threads", "1", check_rc=0)
    assert "onnx" in proc.stdout


def test_step_budget_shrinks_the_horizon_to_the_time_left():
    budget = StepBudget(steps=1000, max_minutes=1.0)
    budget.update(done=5, elapsed=3.0, recent_step_seconds=0.5)  # too early to estimate
    assert budget.horizon == 1000
    budget.update(done=20, elapsed=10.0, recent_step_seconds=0.5)  # 50 s left: 100 more steps
    assert budget.horizon == 120 and not budget.finished(119, 59.0)
    assert budget.finished(120, 59.0) and budget.finished(50, 60.0)
    unlimited = StepBudget(steps=30, max_minutes=None)
    unlimited.update(done=20, elapsed=1e6, recent_step_seconds=10.0)
    assert unlimited.horizon == 30 and not unlimited.finished(29, 1e6)


def test_max_minutes_stops_a_run_early_and_records_it(teacher, train_file, tmp_path):
    out = tmp_path / "timed"
    first = bench("distill", "--teacher", teacher, "--layers", "1", "--data", train_file, "--out", out, "--steps", "100000",
          "--batch-size", "4", "--max-minutes", "0.1", "--max-length", "48", check_rc=0)
    meta = json.loads((out / "stilts.json").read_text())
    assert meta["steps_asked"] == 100000 and meta["max_minutes"] == 0.1
    assert 10 <= meta["steps"] < 100000 and meta["train_seconds"] < 0.1 * 60 + 10
    # the teacher's targets persist per teacher and settings: the first run at this truncation length computed
    # them all, a second student of the same teacher, text and settings computes none
    assert "targets: 0 stored in" in first.stderr and f"{len(TRAIN)} to compute" in first.stderr
    again = bench("distill", "--teacher", teacher, "--layers", "2", "--data", train_file, "--out", tmp_path / "t2",
                  "--steps", "3", "--batch-size", "4", "--max-length", "48", check_rc=0)
    assert f"{len(TRAIN)} stored in" in again.stderr and ", 0 to compute" in again.stderr


def test_masked_kl_ignores_padding():
    torch.manual_seed(0)
    # two sequences of 3 and 5 tokens, padded to 5: the padded loss equals the unpadded sequences' loss
    student, teacher = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    padded = masked_softened_kl([student], [teacher], mask, 2.0, positional=False)
    # softened_kl on one sequence ([1, length, labels]) sums its tokens' KL; the batch's loss averages sequences
    unpadded = (softened_kl([student[0:1, :3]], [teacher[0:1, :3]], 2.0)
                + softened_kl([student[1:2]], [teacher[1:2]], 2.0)) / 2
    assert float(padded) == pytest.approx(float(unpadded), rel=1e-5)
    # what padding holds does not matter
    junk_s, junk_t = student.clone(), teacher.clone()
    junk_s[0, 3:], junk_t[0, 3:] = 50.0, -50.0
    assert float(masked_softened_kl([junk_s], [junk_t], mask, 2.0, positional=False)) == pytest.approx(float(padded))
    # QA start/end logits: a distribution over positions, with none on padding
    starts_s, starts_t = torch.randn(2, 5), torch.randn(2, 5)
    positional = masked_softened_kl([starts_s], [starts_t], mask, 2.0, positional=True)
    first = softened_kl([starts_s[0:1, :3]], [starts_t[0:1, :3]], 2.0)
    second = softened_kl([starts_s[1:2]], [starts_t[1:2]], 2.0)
    assert float(positional) == pytest.approx(float(first + second) / 2, rel=1e-4)


def test_head_students_learn_the_teachers_tags_from_cached_targets(tmp_path, train_file):
    teacher = build_tiny_checkpoint(tmp_path / "tagger", head="token-classification", num_labels=17)
    meta = json.loads((teacher / "stilts.json").read_text())
    (teacher / "stilts.json").write_text(json.dumps({**meta, "labels": [f"L{i}" for i in range(17)]}))
    out = tmp_path / "tagger-L1"
    bench("distill", "--teacher", teacher, "--layers", "1", "--task", "udpos", "--data", train_file, "--out", out,
          "--steps", "60", "--batch-size", "8", "--lr", "2e-3", check_rc=0)
    meta = json.loads((out / "stilts.json").read_text())
    assert meta["recipe"].startswith("kl on softened logits") and meta["loss_last"] < 0.5 * meta["loss_first"]
    assert meta["labels"] == [f"L{i}" for i in range(17)]


def test_a_killed_run_resumes_from_its_last_saved_state_to_the_uninterrupted_students_losses(teacher, train_file,
                                                                                            tmp_path):
    """`bench distill` killed (SIGKILL) after it saved its training state: without --resume the next run refuses to
    lose that state, with other settings --resume refuses to mix runs, and --resume continues with the optimiser,
    schedule and random state, reaching the losses of one uninterrupted run; the record keeps both sittings."""
    import signal
    import subprocess

    from models.training.resumable import state_dir
    from tests.test_cli import BENCH

    settings = {"steps": 150, "batch_size": 4, "max_length": 48, "save_every": 7}
    threads = torch.get_num_threads()

    def in_process(out: Path, resume: bool = False, **changed) -> dict:
        try:
            run_distill(DistillConfig(teacher=str(teacher), layers=1, data=[str(train_file)], out=out, threads=1,
                                      resume=resume, settings=DistillSettings(**{**settings, **changed})),
                        log=lambda m: None)
        finally:
            torch.set_num_threads(threads)  # this test worker's other tests keep their threads
        return json.loads((out / "stilts.json").read_text())

    whole = in_process(tmp_path / "whole")
    split = tmp_path / "split"
    state = state_dir(split) / "state.pt"
    proc = subprocess.Popen([BENCH, "distill", "--teacher", str(teacher), "--layers", "1", "--data", str(train_file),
                             "--out", str(split), "--threads", "1",
                             *(f"--{k.replace('_', '-')}={v}" for k, v in settings.items())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not state.exists() and proc.poll() is None:
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = torch.load(state, weights_only=True)
    assert not saved["complete"] and saved["step"] % 7 == 0 and 7 <= saved["step"] < 150, saved["step"]
    assert not split.exists()  # killed mid-run: no student yet, only its state
    with pytest.raises(UserError, match=r"holds the training state of an unfinished run \(step \d+ of 150\): add "
                                        r"--resume"):
        in_process(split)
    with pytest.raises(UserError, match="belongs to another run \\(learning_rate differ\\)"):
        in_process(split, resume=True, learning_rate=1e-3)
    resumed = in_process(split, resume=True)
    assert resumed["complete"] and resumed["steps"] == 150 and len(resumed["losses"]) == 150
    np.testing.assert_allclose(resumed["losses"], whole["losses"], rtol=1e-4)
    first, second = resumed["sittings"]
    assert first["from_step"] == 0 and first["ended"] == "stopped" and first["to_step"] == saved["step"]
    assert second == {**second, "from_step": saved["step"], "to_step": 150, "ended": "complete"}
    assert resumed["train_seconds"] == pytest.approx(first["seconds"] + second["seconds"], abs=0.05)


def test_a_sitting_limit_ends_the_sitting_keeps_the_schedule_and_says_how_to_go_on(teacher, train_file, tmp_path):
    out, said = tmp_path / "sitting", []

    def sitting(resume: bool) -> dict:
        settings = DistillSettings(steps=100000, batch_size=4, max_length=48, sitting_minutes=0.03)
        run_distill(DistillConfig(teacher=str(teacher), layers=1, data=[str(train_file)], out=out, resume=resume,
                                  settings=settings), log=said.append)
        return json.loads((out / "stilts.json").read_text())

    meta = sitting(resume=False)
    assert "run the same command with --resume to continue" in said[-1]
    assert not meta["complete"] and meta["sittings"][0]["ended"] == "sitting limit"
    assert 0 < meta["steps"] < 100000  # the partial student is saved, its schedule still spans 100000 steps
    again = sitting(resume=True)
    assert any(f"resuming from step {meta['steps']} of 100000" in line for line in said)
    assert [s["ended"] for s in again["sittings"]] == ["sitting limit"] * 2 and again["steps"] > meta["steps"]
    assert again["losses"][:meta["steps"]] == meta["losses"]
