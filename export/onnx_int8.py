"""ONNX Runtime dynamic int8 quantisation of the fp32 ONNX artifact: weights QInt8 per channel
(signed weights keep VNNI kernels exact; QUInt8 weights were measured slower and less accurate),
activations quantised at run time. The word embedding can stay fp32 (`keep_embedding_fp32`). With
`graph=fused` the quantised graph is onnx-opt's (fused attention becomes ORT's QAttention), else the plain export."""

from __future__ import annotations

from export.base import Artifact
from export.onnx import ONNX_FILE, OnnxBackend, OrtRunner, ort_session, parent_artifact


class OnnxInt8Backend(OnnxBackend):
    name = "onnx-int8"
    description = "ONNX Runtime dynamic int8 (QInt8 weights, per channel)"
    devices = ("cpu",)  # ORT's dynamic-quantisation kernels (MatMulInteger) are CPU kernels
    default_options = {**OnnxBackend.default_options, "per_channel": True, "keep_embedding_fp32": False,
                       "graph": "plain"}
    option_values = {**OnnxBackend.option_values, "graph": ("plain", "fused")}
    min_agreement = 0.5
    isa_features = ("avx512_vnni", "avx_vnni", "amx")
    parent_backend = "onnx"  # exported from the cached fp32 ONNX artifact

    def export(self, checkpoint, options, out):
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        parent = "onnx-opt" if options["graph"] == "fused" else "onnx"
        fp32 = parent_artifact(parent, checkpoint, options)
        ops = ["MatMul", "Attention"] if options["graph"] == "fused" else ["MatMul"]
        if not options["keep_embedding_fp32"]:
            ops.append("Gather")
        quantize_dynamic(fp32.file(ONNX_FILE), out / ONNX_FILE, weight_type=QuantType.QInt8,
                         per_channel=options["per_channel"], op_types_to_quantize=ops,
                         use_external_data_format=fp32.manifest.get("external_data", False),
                         # the fused graph's contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape
                         # inference: their outputs are fp32, said here
                         extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT})
        return {"parent_artifact": str(fp32.path), "parent_backend": parent, "quantized_ops": ops,
                "weight_type": "QInt8", "fused_operators": fp32.manifest.get("fused_operators")}

    def load(self, artifact: Artifact, device, threads):
        session, details = ort_session(artifact.file(ONNX_FILE), device, threads)
        return OrtRunner(session, device, threads, details)
