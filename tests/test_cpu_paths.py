"""The CPU paths users deploy: ONNX Runtime's fused graphs, OpenVINO, and what this CPU accelerates. Real exports
and sessions on a tiny XLM-R; nothing here assumes which CPU it runs on (the ISA is read, not hard-coded)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from bench.records.env import this_cpu_isa
from bench.variants.parity import compare, parity_inputs
from export.artifacts import ensure_artifact
from export.registry import BACKENDS, get_backend
from export.torch_runner import TorchRunner, load_wrapper
from models.checkpoint import resolve_checkpoint


@pytest.fixture(scope="module")
def tiny(tiny_encoder):
    checkpoint = resolve_checkpoint(str(tiny_encoder))
    wrapper = load_wrapper(checkpoint)
    inputs = parity_inputs(checkpoint)
    return checkpoint, inputs, TorchRunner(wrapper, "cpu", wrapper.head.outputs)(inputs)


def _ops(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}


def test_onnx_opt_fuses_attention_and_records_it(tiny):
    checkpoint, inputs, expected = tiny
    artifact = ensure_artifact("onnx-opt", checkpoint)
    fused = artifact.manifest["fused_operators"]
    layers = checkpoint.config["num_hidden_layers"]
    assert fused["Attention"] == layers and fused["SkipLayerNormalization"] >= layers
    assert {"Attention", "SkipLayerNormalization"} <= _ops(artifact.file("model.onnx"))
    # XLM-R derives position ids from the mask: the embedding fusion that assumes 0..n stays off for it
    assert artifact.manifest["embed_layer_norm_fusion"] is False
    assert "EmbedLayerNormalization" not in _ops(artifact.file("model.onnx"))
    runner = get_backend("onnx-opt").load(artifact, "cpu", 1)
    parity = compare(runner(inputs), expected, inputs["attention_mask"], checkpoint.head)
    assert parity["max_abs_diff"] < 1e-3 and parity["label_agreement"] == 1.0, parity
    assert runner.details()["fused_operators"] == fused


def test_int8_of_the_fused_graph_quantises_attention(tiny):
    checkpoint, inputs, expected = tiny
    plain = ensure_artifact("onnx-int8", checkpoint)
    fused = ensure_artifact("onnx-int8", checkpoint, {"graph": "fused"})
    assert plain.path != fused.path and fused.manifest["parent_backend"] == "onnx-opt"
    assert "QAttention" in _ops(fused.file("model.onnx")) and "QAttention" not in _ops(plain.file("model.onnx"))
    parity = compare(get_backend("onnx-int8").load(fused, "cpu", 1)(inputs), expected, inputs["attention_mask"],
                     checkpoint.head)
    assert parity["min_cosine"] > 0.98, parity


def test_static_int8_is_qdq_with_per_channel_weights(tiny):
    checkpoint = tiny[0]
    artifact = ensure_artifact("onnx-static-int8", checkpoint, {"calibration": "xnli:en:16"})
    ops = _ops(artifact.file("model.onnx"))
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert artifact.manifest["calibrate_method"] == "minmax" and artifact.manifest["quant_format"] == "QDQ"
    assert artifact.manifest["calibration"]["per_language"] == {"en": 16}
    model = onnx.load(str(artifact.file("model.onnx")), load_external_data=False)
    scales = {i.name: list(i.dims) for i in model.graph.initializer if i.name.endswith("_scale")}
    assert any(dims == [checkpoint.config["hidden_size"]] for dims in scales.values())  # one scale per channel


def test_openvino_runs_the_settings_it_was_given(tiny):
    checkpoint, inputs, expected = tiny
    artifact = ensure_artifact("openvino", checkpoint)
    runner = get_backend("openvino").load(artifact, "cpu", threads=1)
    details = runner.details()
    assert details["inference_precision"] == "f32"  # never bf16 behind an fp32 name, whatever the CPU has
    assert details["num_streams"] == 1 and details["inference_num_threads"] == 1
    parity = compare(runner(inputs), expected, inputs["attention_mask"], checkpoint.head)
    assert parity["max_abs_diff"] < 1e-3, parity
    # dynamic shapes kept: another batch size and length run on the same compiled model
    small = {k: v[:2, :7] for k, v in inputs.items()}
    assert runner(small)["hidden_state"].shape[:2] == (2, 7)


def test_openvino_int8_weights_shrink_the_model(tiny):
    checkpoint = tiny[0]
    fp32 = ensure_artifact("openvino", checkpoint)
    int8w = ensure_artifact("openvino-int8w", checkpoint)
    assert int8w.manifest["size_mb"] < fp32.manifest["size_mb"] / 3  # the 250k-row embedding is most of it


def test_bf16_availability_follows_the_cpu():
    from export.openvino import cpu_capabilities

    isa = this_cpu_isa()
    has_bf16 = bool(isa["avx512_bf16"] or isa["amx"])
    assert ("BF16" in cpu_capabilities()) == has_bf16
    reason = get_backend("openvino-bf16").availability("cpu")
    assert (reason is None) == has_bf16, reason


@pytest.mark.parametrize("isa, accelerated", [
    ({"avx2": True, "avx512f": False, "avx512_vnni": False, "avx_vnni": False, "avx512_bf16": False, "amx": False},
     {"onnx-int8": False, "openvino-int8": False, "onnx-static-int8": False, "bf16": False, "openvino-bf16": False}),
    ({"avx2": True, "avx512f": True, "avx512_vnni": True, "avx_vnni": False, "avx512_bf16": True, "amx": False},
     {"onnx-int8": True, "openvino-int8": True, "onnx-static-int8": True, "bf16": True, "openvino-bf16": True}),
])
def test_cpu_acceleration_is_derived_from_the_isa(isa, accelerated):
    for name, expected in accelerated.items():
        verdict = get_backend(name).cpu_acceleration(isa)
        assert verdict["accelerated"] is expected, (name, verdict)
        assert ("lacks" in verdict["note"]) is (not expected)
    fp32 = get_backend("openvino").cpu_acceleration(isa)
    assert fp32["accelerated"] is None and fp32["needs"] == []


def test_every_cpu_backend_says_what_it_needs():
    for name in BACKENDS:
        backend = get_backend(name)
        if "cpu" in backend.devices:
            assert set(backend.isa_features) <= {"avx512_vnni", "avx_vnni", "amx", "avx512_bf16", "avx512f", "avx2"}


def test_speed_and_numerics_classes_follow_the_detected_instruction_sets(monkeypatch):
    """Zen 3 (AVX2), Zen 4 (AVX-512 VNNI/BF16) and Intel with AMX: numerics bounds per int8 class, speed floors per
    speed class (AMX hosts run eager fp32 on oneDNN at full speed, so ONNX Runtime fp32 gains nothing there)."""
    from bench.records.env import isa_class, speed_class
    from bench.records.schema import cpu_isa

    monkeypatch.delenv("STILTS_BENCH_ISA_CLASS", raising=False)
    zen3, zen4 = cpu_isa({"avx2", "fma"}), cpu_isa({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})
    sapphire = cpu_isa({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"})
    assert [isa_class(i) for i in (zen3, zen4, sapphire)] == ["avx2", "vnni", "vnni"]
    assert [speed_class(i) for i in (zen3, zen4, sapphire)] == ["avx2", "vnni", "amx"]
