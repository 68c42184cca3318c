"""ONNX Runtime's transformer optimizer on the fp32 ONNX artifact: attention, SkipLayerNorm, bias-GELU and
embedding fusions (`model_type` bert, which XLM-R's graph matches), the fusions applied recorded.

ORT's default graph optimisation does not fuse attention in a legacy-exported XLM-R graph: the fused ops are
where its fp32 CPU speed is. XLM-R derives position ids from the padding mask (offset by its pad id), which the
EmbedLayerNormalization fusion assumes away, so that fusion is off for XLM-R configs; BERT-style configs (the demo)
keep it. The parity check against eager fp32 is what says the fused graph computes the same thing."""

from __future__ import annotations

from export.base import Artifact
from export.onnx import ONNX_FILE, OnnxBackend, OrtRunner, ort_session, parent_artifact


def optimize_fused(fp32_path, out_path, config: dict, external_data: bool) -> dict:
    """Write the fused graph of `fp32_path` to `out_path`; return what was fused."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    fusion = FusionOptions("bert")
    position_ids_from_mask = config.get("model_type") in ("xlm-roberta", "roberta", "camembert")
    if position_ids_from_mask:
        fusion.enable_embed_layer_norm = False
    model = optimize_model(str(fp32_path), model_type="bert", num_heads=config["num_attention_heads"],
                           hidden_size=config["hidden_size"], optimization_options=fusion, opt_level=0)
    fused = {op: n for op, n in model.get_fused_operator_statistics().items() if n}
    model.save_model_to_file(str(out_path), use_external_data_format=external_data)
    return {"fused_operators": fused, "embed_layer_norm_fusion": not position_ids_from_mask}


class OnnxOptBackend(OnnxBackend):
    name = "onnx-opt"
    description = "ONNX Runtime fp32 after its transformer optimizer (fused attention, SkipLayerNorm, GELU)"
    devices = ("cpu", "cuda")
    parent_backend = "onnx"

    def export(self, checkpoint, options, out):
        fp32 = parent_artifact("onnx", checkpoint, options)
        external = fp32.manifest.get("external_data", False)
        info = optimize_fused(fp32.file(ONNX_FILE), out / ONNX_FILE, checkpoint.config, external)
        return {"parent_artifact": str(fp32.path), "external_data": external, **info}

    def load(self, artifact: Artifact, device, threads):
        session, details = ort_session(artifact.file(ONNX_FILE), device, threads)
        return OrtRunner(session, device, threads, {**details, "fused_operators": artifact.manifest["fused_operators"]})
