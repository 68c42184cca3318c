"""ONNX Runtime dynamic int8 quantisation of the fp32 ONNX artifact: weights QInt8 per channel
(signed weights keep VNNI kernels exact; QUInt8 weights were measured slower and less accurate),
activations quantised at run time. The word embedding can stay fp32 (`keep_embedding_fp32`). With
`graph=fused` the quantised graph is onnx-opt's (fused attention becomes ORT's QAttention), else the plain export."""

from __future__ import annotations

from dataclasses import dataclass

from export.base import Artifact, ParityBound
from export.onnx import ONNX_FILE, OnnxBackend, OnnxExportOptions, OrtRunner, ort_session, parent_artifact
from export.options import option


@dataclass(frozen=True)
class OnnxInt8Options(OnnxExportOptions):
    per_channel: bool = option(True, "int8 weight scales per output channel (false: one per tensor)")
    keep_embedding_fp32: bool = option(False, "leave the word embedding (Gather) in fp32")
    graph: str = option("plain", "quantise the plain export or onnx-opt's fused graph (attention -> QAttention)",
                        choices=("plain", "fused"))


class OnnxInt8Backend(OnnxBackend):
    name = "onnx-int8"
    description = "ONNX Runtime dynamic int8 (QInt8 weights, per channel)"
    # measured on the demo model: 0.19 / 14 of 16 (Zen 4, vnni); the same bound held on Zen 3 (avx2)
    tiny_parity = ParityBound(1.0, 0.5, 0.98)
    demo_parity = {"vnni": ParityBound(0.3, 0.8125), "avx2": ParityBound(0.3, 0.8125)}
    devices = ("cpu",)  # ORT's dynamic-quantisation kernels (MatMulInteger) are CPU kernels
    Options = OnnxInt8Options
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
