"""Distillation on a tiny teacher: the loss falls, the student beats the untrained layer-dropped student
on held-out text, it round-trips through save/load and the CLI, and bad input is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.distill import DistillConfig, load_training_text, run_distill
from models.training.distillation import DistillSettings, resolve_precision
from models.training.losses import in_batch_contrastive
from models.training.students import build_student, kept_layers
from models.errors import UserError
from bench.parity import PARITY_TEXTS
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
    assert_one_line_error(bench("distill", "--teacher", teacher, "--layers", "1", "--data", train_file,
                                "--steps", "0", "--out", out), "--steps and --batch-size must be at least 1")
    assert not out.exists()  # no half-written student


@pytest.mark.shared_data
def test_xquad_gives_parallel_pairs(shared_data):
    pairs, _ = load_training_text([str(shared_data / "xquad")])
    per_language = 240 + 1190
    assert len(pairs) == 5 * per_language  # en with itself + de, es, ru, zh paired with en
    german = [p for p in pairs[per_language:2 * per_language]]
    assert german[1][1].startswith("How many points did the Panthers defense surrender")
    assert german[1][0] == "Wie viele Punkte gab die Verteidigung der Panthers ab?"


def test_panx_word_tag_file_is_read_as_sentences_not_translation_pairs(tmp_path):
    panx = tmp_path / "train-en.tsv"
    panx.write_text("R.H.\tB-ORG\nSaunders\tI-ORG\nsaid\tO\n\nParis\tB-LOC\nis\tO\nbig\tO\n")
    pairs, _ = load_training_text([str(panx)])
    assert pairs == [("R.H. Saunders said", "R.H. Saunders said"), ("Paris is big", "Paris is big")]
    parallel = tmp_path / "pairs.tsv"
    parallel.write_text("The house is red.\tDas Haus ist rot.\n")
    pairs, _ = load_training_text([str(parallel)])
    assert pairs == [("Das Haus ist rot.", "The house is red."), ("The house is red.", "The house is red.")]
