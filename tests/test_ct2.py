"""CTranslate2 backends on tiny models built from configs: a real conversion, a real `ctranslate2.Encoder`, the
task heads run on its hidden states, the compute type it really ran recorded."""

from __future__ import annotations

import numpy as np
import pytest

from bench.variants.parity import compare, parity_inputs
from export.artifacts import ensure_artifact
from export.registry import get_backend
from export.torch_runner import TorchRunner, load_wrapper
from models.checkpoint import resolve_checkpoint
from models.errors import UserError
from tests.conftest import build_tiny_checkpoint

pytest.importorskip("ctranslate2", reason="ctranslate2 is not installed (it comes with the cpu extra)")


def _parity(name: str, checkpoint):
    wrapper = load_wrapper(checkpoint)
    inputs = parity_inputs(checkpoint)
    expected = TorchRunner(wrapper, "cpu", wrapper.head.outputs)(inputs)
    runner = get_backend(name).load(ensure_artifact(name, checkpoint), "cpu", 1)
    return compare(runner(inputs), expected, inputs["attention_mask"], checkpoint.head), runner


@pytest.mark.parametrize("head, model_type", [("question-answering", "xlm-roberta"),
                                              ("token-classification", "bert"),
                                              ("sequence-classification", "bert")])
def test_ct2_runs_every_task_head(head, model_type, tmp_path_factory):
    path = build_tiny_checkpoint(tmp_path_factory.mktemp("ct2") / f"{head}-{model_type}", head=head,
                                 model_type=model_type, num_labels=2 if head == "question-answering" else 5)
    checkpoint = resolve_checkpoint(str(path))
    parity, runner = _parity("ct2", checkpoint)
    assert parity["max_abs_diff"] < 1e-4 and parity["label_agreement"] == 1.0, parity
    assert runner.details()["head_in"] == "pytorch"
    outputs = runner(parity_inputs(checkpoint))
    assert set(outputs) == set(checkpoint.head.outputs)


def test_ct2_records_the_compute_type_it_ran(tiny_encoder):
    import ctranslate2

    checkpoint = resolve_checkpoint(str(tiny_encoder))
    parity, runner = _parity("ct2-int8", checkpoint)
    details = runner.details()
    assert details["ct2_compute_type_requested"] == "int8_float32"
    assert details["ct2_compute_type"] in ctranslate2.get_supported_compute_types("cpu")
    assert details["ct2_supported_compute_types"] == sorted(ctranslate2.get_supported_compute_types("cpu"))
    assert details["skips_padding"] is True and runner.threads() == {"ct2_intra_threads": 1, "ct2_inter_threads": 1}
    assert parity["min_cosine"] > 0.98, parity
    artifact = ensure_artifact("ct2-int8", checkpoint)
    assert artifact.manifest["ct2_weight_type"] == "int8" and "ctranslate2" in artifact.manifest["versions"]
    # int8 weights: about a quarter of the float32 conversion's bytes (the embedding dominates a tiny model)
    assert artifact.manifest["size_mb"] < 0.4 * ensure_artifact("ct2", checkpoint).manifest["size_mb"]


def test_ct2_cuts_a_bare_encoder_at_its_layer(tiny_encoder):
    checkpoint = resolve_checkpoint(str(tiny_encoder))
    wrapper = load_wrapper(checkpoint, 1)
    inputs = parity_inputs(checkpoint)
    expected = TorchRunner(wrapper, "cpu", wrapper.head.outputs)(inputs)
    artifact = ensure_artifact("ct2", checkpoint, {"layer": 1})
    assert artifact.manifest["layers_converted"] == 1
    outputs = get_backend("ct2").load(artifact, "cpu", 1)(inputs)
    assert compare(outputs, expected, inputs["attention_mask"], checkpoint.head)["max_abs_diff"] < 1e-4


def test_ct2_refuses_left_padded_batches(tiny_encoder):
    checkpoint = resolve_checkpoint(str(tiny_encoder))
    runner = get_backend("ct2").load(ensure_artifact("ct2", checkpoint), "cpu", 1)
    batch = {"input_ids": np.array([[1, 0, 5, 2]]), "attention_mask": np.array([[0, 1, 1, 1]])}
    with pytest.raises(UserError, match="right-padded"):
        runner.prepare(batch)


def test_ct2_bf16_is_offered_exactly_where_ctranslate2_has_bfloat16():
    import ctranslate2

    reason = get_backend("ct2-bf16").availability("cpu")
    has_bf16 = "bfloat16" in ctranslate2.get_supported_compute_types("cpu")
    assert (reason is None) == has_bf16, reason
    if not has_bf16:
        assert "no bfloat16 compute type" in reason
