"""Every backend on a tiny XLM-R built from a config: a real export, a real session, parity with eager
fp32 asserted with a numeric bound."""

from __future__ import annotations

import numpy as np
import pytest

from bench.variants.parity import compare, parity_inputs
from export.artifacts import ensure_artifact
from export.registry import BACKENDS, get_backend
from export.torch_runner import TorchRunner, load_wrapper
from models.checkpoint import resolve_checkpoint

CPU_BACKENDS = [b for b in BACKENDS if "cpu" in get_backend(b).devices]


@pytest.fixture(scope="module")
def reference(tiny_encoder):
    checkpoint = resolve_checkpoint(str(tiny_encoder))
    wrapper = load_wrapper(checkpoint)
    inputs = parity_inputs(checkpoint)
    return checkpoint, inputs, TorchRunner(wrapper, "cpu", wrapper.head.outputs)(inputs)


def test_every_backend_states_its_bounds():
    for name in BACKENDS:
        bound = get_backend(name).tiny_parity
        assert bound.min_cosine is not None and 0 < bound.min_cosine <= 1, name
        assert all(0 <= b.min_label_agreement <= 1 for b in get_backend(name).demo_parity.values()), name


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_backend_export_load_parity(name, reference):
    backend = get_backend(name)
    reason = backend.availability("cpu")
    if reason:
        pytest.skip(reason)
    checkpoint, inputs, expected = reference
    artifact = ensure_artifact(name, checkpoint)
    manifest = artifact.manifest
    assert manifest["backend"] == name and manifest["size_mb"] > 0
    assert manifest["export_time_s"] >= 0
    if backend.exports_files:
        assert manifest["export_peak_memory_mb"] > 100  # an isolated process holding torch
        assert any(p.name != "artifact.json" for p in artifact.path.iterdir())
    runner = backend.load(artifact, "cpu", threads=1)
    outputs = runner(inputs)
    assert outputs["hidden_state"].shape == expected["hidden_state"].shape
    parity = compare(outputs, expected, inputs["attention_mask"], checkpoint.head)
    bound = backend.tiny_parity  # stated in the backend's module
    assert parity["min_cosine"] >= bound.min_cosine, parity
    assert parity["max_abs_diff"] <= bound.max_abs_diff, parity
    assert parity["label_agreement"] >= bound.min_label_agreement, parity


def test_reexport_is_skipped_when_cached(reference):
    checkpoint = reference[0]
    first = ensure_artifact("torchscript", checkpoint)
    mtime = (first.path / "model.pt").stat().st_mtime_ns
    second = ensure_artifact("torchscript", checkpoint)
    assert second.path == first.path
    assert second.manifest["created"] == first.manifest["created"]
    assert (second.path / "model.pt").stat().st_mtime_ns == mtime


def test_options_change_the_artifact(reference):
    checkpoint = reference[0]
    fp32_embedding = ensure_artifact("onnx-int8", checkpoint, {"keep_embedding_fp32": True})
    int8_embedding = ensure_artifact("onnx-int8", checkpoint)
    assert fp32_embedding.path != int8_embedding.path
    # quantising the 250k-row embedding shrinks the file by ~3/4 of the embedding's fp32 size
    assert fp32_embedding.manifest["size_mb"] > int8_embedding.manifest["size_mb"] + 10


def test_unknown_option_is_a_user_error(reference):
    from models.errors import UserError

    with pytest.raises(UserError, match="has no option"):
        ensure_artifact("onnx", reference[0], {"nonsense": 1})


@pytest.mark.slow
def test_dynamo_exporter_matches_eager(reference):
    checkpoint, inputs, expected = reference
    artifact = ensure_artifact("onnx", checkpoint, {"exporter": "dynamo", "opset": 18})
    runner = get_backend("onnx").load(artifact, "cpu", threads=1)
    parity = compare(runner(inputs), expected, inputs["attention_mask"], checkpoint.head)
    assert parity["max_abs_diff"] < 1e-3, parity


def test_large_models_use_one_external_data_file(reference, tmp_path, monkeypatch):
    """XLM-R large is over protobuf's 2 GB limit; force the same path on the tiny model."""
    import export.onnx as onnx_backend

    monkeypatch.setattr(onnx_backend, "PROTOBUF_LIMIT", 1024)
    checkpoint, inputs, expected = reference
    info = onnx_backend.export_onnx(checkpoint, {"exporter": "legacy", "opset": 17, "layer": None}, tmp_path)
    assert info["external_data"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.data"]
    assert (tmp_path / "model.onnx").stat().st_size < 1024 * 1024  # weights are outside the graph
    session, details = onnx_backend.ort_session(tmp_path / "model.onnx", "cpu", 1)
    out = onnx_backend.OrtRunner(session, "cpu", 1, details)(inputs)
    np.testing.assert_allclose(out["hidden_state"], expected["hidden_state"], atol=1e-3)


@pytest.mark.parametrize("name", ["onnx", "torch-int8"])
def test_classifier_head_labels_agree(name, tiny_classifier):
    checkpoint = resolve_checkpoint(str(tiny_classifier))
    wrapper = load_wrapper(checkpoint)
    inputs = parity_inputs(checkpoint)
    expected = TorchRunner(wrapper, "cpu", wrapper.head.outputs)(inputs)
    assert expected["logits"].shape == (len(inputs["input_ids"]), 3)
    artifact = ensure_artifact(name, checkpoint)
    parity = compare(get_backend(name).load(artifact, "cpu", 1)(inputs), expected, inputs["attention_mask"],
                     checkpoint.head)
    assert parity["agreement_of"] == "argmax label"
    assert parity["label_agreement"] >= (1.0 if name == "onnx" else 0.75), parity


@pytest.mark.gpu
@pytest.mark.parametrize("name", [b for b in BACKENDS if "cuda" in get_backend(b).devices])
def test_backend_on_cuda(name, reference):
    backend = get_backend(name)
    reason = backend.availability("cuda")
    if reason:
        pytest.skip(reason)
    checkpoint, inputs, expected = reference
    runner = backend.load(ensure_artifact(name, checkpoint, device="cuda"), "cuda", threads=1)
    parity = compare(runner(inputs), expected, inputs["attention_mask"], checkpoint.head)
    bound = backend.tiny_parity
    assert parity["min_cosine"] >= bound.min_cosine and parity["max_abs_diff"] <= bound.max_abs_diff, parity
    details = runner.details()
    if name.startswith("ct2"):  # on the GPU, in the compute type asked for (CTranslate2 substitutes silently)
        assert details["ct2_device"] == "cuda", details
        assert details["ct2_compute_type"] == details["ct2_compute_type_requested"], details
    elif name == "onnx-trt":  # TensorRT first (not the CUDA provider under TensorRT's name), fp16 engines
        assert details["providers"][0] == "TensorrtExecutionProvider" and details["trt_fp16"] is True, details
    else:
        assert details["tf32"] is False and runner.timer == "wall"  # IEEE fp32 on both sides, one clock for all
    if name in ("fp16", "bf16"):  # reduced precision really in force, with PyTorch's SDPA attention
        assert details["weights_dtype"] == {"fp16": "float16", "bf16": "bfloat16"}[name], details
        assert details["attention"] == "sdpa", details
    if name == "onnx":  # placement recorded: None means every node runs on the CUDA provider
        assert details["providers"][0] == "CUDAExecutionProvider" and "cpu_fallback" in details
        prepared = runner.prepare(inputs)  # outputs pre-bound to device buffers of the right shape
        assert [v.shape() for v in prepared.get_outputs()] == [list(expected["hidden_state"].shape)]


@pytest.fixture(scope="module")
def four_layer_encoder(tmp_path_factory):
    """A 4-layer tiny XLM-R: reading layer 2 leaves two layers that feed nothing."""
    import json

    import torch
    from transformers import AutoConfig, AutoModel

    from tests.conftest import build_tiny_checkpoint

    path = build_tiny_checkpoint(tmp_path_factory.mktemp("deep") / "xlmr-4")
    config = AutoConfig.from_pretrained(str(path))
    config.num_hidden_layers = 4
    torch.manual_seed(1)
    AutoModel.from_config(config).save_pretrained(str(path))
    assert json.loads((path / "config.json").read_text())["num_hidden_layers"] == 4
    return resolve_checkpoint(str(path))


@pytest.mark.parametrize("name", ["eager", "torchscript", "onnx", "bf16"])
def test_every_backend_runs_the_encoder_cut_at_its_output_layer(name, four_layer_encoder):
    """Same work for every backend: the pooled layer's hidden state, with the layers above it gone."""
    import onnx
    import torch

    from models.heads import load_model

    checkpoint = four_layer_encoder
    inputs = parity_inputs(checkpoint)
    full = load_model(checkpoint.path, checkpoint.head, add_pooling_layer=False)
    with torch.inference_mode():
        expected = full(input_ids=torch.from_numpy(inputs["input_ids"]),
                        attention_mask=torch.from_numpy(inputs["attention_mask"]),
                        output_hidden_states=True).hidden_states[2].numpy()
    artifact = ensure_artifact(name, checkpoint, {"layer": 2})
    assert artifact.manifest["layers_executed"] == 2
    outputs = get_backend(name).load(artifact, "cpu", threads=1)(inputs)["hidden_state"]
    mask = inputs["attention_mask"].astype(bool)
    assert np.abs(outputs - expected)[mask].max() < (0.1 if name == "bf16" else 1e-4)
    full_size = ensure_artifact(name, checkpoint).manifest["size_mb"]
    assert artifact.manifest["size_mb"] < full_size  # two of four layers' weights are not there
    if name == "onnx":
        graph = onnx.load(str(artifact.file("model.onnx"))).graph
        import re

        names = " ".join([i.name for i in graph.initializer] + [n.name for n in graph.node])
        assert {int(i) for i in re.findall(r"layer\.(\d+)[./]", names)} == {0, 1}  # layers 2 and 3 are gone
