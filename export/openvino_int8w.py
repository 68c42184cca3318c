"""OpenVINO with NNCF weight-only int8 (asymmetric, per output channel; data-free): weights are stored in int8
and decompressed in the kernels, activations stay fp32. Smaller and lighter on memory bandwidth; no calibration."""

from __future__ import annotations

from export.base import ParityBound
from export.openvino import OpenVinoBackend, convert_from_onnx, save_ir


class OpenVinoInt8WeightsBackend(OpenVinoBackend):
    name = "openvino-int8w"
    description = "OpenVINO, NNCF weight-only int8 (data-free), fp32 activations"
    # measured on the demo model (Zen 4, 2026-11-25): 0.035 / 15 of 16; no AVX2-only measurement yet
    tiny_parity = ParityBound(0.5, 0.5, 0.99)
    demo_parity = {"vnni": ParityBound(0.06, 0.875)}
    min_agreement = 0.5  # as the other int8 paths: the accuracy gate judges; this bound catches broken graphs

    def export(self, checkpoint, options, out):
        import nncf

        model, onnx = convert_from_onnx(checkpoint, options)
        save_ir(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM), out)
        return {"parent_artifact": str(onnx.path), "ir_weights": "int8 weight-only (NNCF INT8_ASYM)"}
