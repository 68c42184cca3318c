"""The embedded default: conversion shapes, determinism, and real multilingual behaviour."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tests.conftest import needs_demo

pytestmark = needs_demo


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo():
    from models.checkpoint import resolve_checkpoint

    return resolve_checkpoint(None)  # no --model: the demo


def test_default_model_is_the_demo(demo):
    assert demo.name == "demo"
    assert demo.metadata["head"] == "encoder" and demo.metadata["input_prefix"] == "query: "


def test_conversion_shapes(demo):
    from safetensors import safe_open

    cfg = demo.config
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
            cfg["intermediate_size"]) == (384, 12, 12, 1536)
    with safe_open(str(demo.path / "model.safetensors"), "np") as f:
        assert f.get_slice("embeddings.word_embeddings.weight").get_shape() == [250037, 384]
        assert f.get_slice("encoder.layer.11.intermediate.dense.weight").get_shape() == [1536, 384]
        assert f.get_slice("encoder.layer.0.attention.self.query.bias").get_shape() == [384]
        n_params = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
    assert 117_000_000 < n_params < 118_500_000
    assert len(demo.tokenizer()) == 250002


def test_conversion_is_deterministic(demo, tmp_path):
    from models.demo import build_demo_checkpoint

    again = build_demo_checkpoint(tmp_path / "demo-again")
    assert _sha(again / "model.safetensors") == _sha(demo.path / "model.safetensors")


def test_q4_dequantisation_by_hand():
    from models.demo import dequantize_q4_0

    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j + 1) % 16 | ((15 - j) << 4) for j in range(16))  # low: j+1, high: 15-j
    values = dequantize_q4_0(scale + nibbles, 32)
    expected = [((j + 1) % 16 - 8) * 0.5 for j in range(16)] + [((15 - j) - 8) * 0.5 for j in range(16)]
    np.testing.assert_array_equal(values, np.array(expected, dtype=np.float32))


def test_translations_embed_closer_than_unrelated_sentences(demo):
    from export.torch_runner import TorchRunner, load_wrapper
    from export.inputs import text_batch

    wrapper = load_wrapper(demo)
    texts = ["The cat is sleeping on the sofa.", "Die Katze schläft auf dem Sofa.",
             "El gato duerme en el sofá.", "The stock market fell sharply today.",
             "Die Börse ist heute stark gefallen.", "La bolsa cayó bruscamente hoy."]
    batch = text_batch(demo, texts)
    hidden = TorchRunner(wrapper, "cpu", wrapper.head.outputs)(batch)["hidden_state"]
    mask = batch["attention_mask"][..., None]
    emb = (hidden * mask).sum(1) / mask.sum(1)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    sim = emb @ emb.T
    for i, j in [(0, 1), (0, 2), (3, 4), (3, 5)]:  # translation pairs
        unrelated = sim[i, 3:].max() if i < 3 else sim[i, :3].max()
        assert sim[i, j] > unrelated + 0.05, (i, j, sim.round(3))
