"""OpenVINO with NNCF post-training static int8: weights and activations int8, activation ranges calibrated on
the text named by the `calibration` option (export/calibration.py), NNCF's transformer preset (which keeps
softmax, layer norms and the like in floating point)."""

from __future__ import annotations

from dataclasses import dataclass

from export.base import ParityBound
from export.calibration import CALIBRATION_HELP, DEFAULT_SPEC, CalibrationSpec, calibration_batches
from export.onnx import OnnxExportOptions
from export.openvino import OpenVinoBackend, convert_from_onnx, save_ir
from export.options import option


@dataclass(frozen=True)
class OpenVinoInt8Options(OnnxExportOptions):
    calibration: str = option(DEFAULT_SPEC, CALIBRATION_HELP)


class OpenVinoInt8Backend(OpenVinoBackend):
    name = "openvino-int8"
    description = "OpenVINO, NNCF static int8 (calibrated activations, transformer preset)"
    # measured on the demo model (Zen 4, 2026-11-25, calibrated on the tests' XNLI-layout text): 0.45 / 13
    # of 16; no AVX2-only measurement yet
    tiny_parity = ParityBound(1.5, 0.5, 0.95)
    demo_parity = {"vnni": ParityBound(0.7, 0.75)}
    Options = OpenVinoInt8Options
    calibrated = True
    min_agreement = 0.5
    isa_features = ("avx512_vnni", "avx_vnni", "amx")

    def check_options(self, options):
        CalibrationSpec.parse(options.calibration)

    def export(self, checkpoint, options, out, data_dir=None):
        import nncf

        model, onnx = convert_from_onnx(checkpoint, options)
        batches, calibration = calibration_batches(checkpoint, options["calibration"], data_dir=data_dir)
        quantized = nncf.quantize(model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(batches))
        save_ir(quantized, out)
        return {"parent_artifact": str(onnx.path), "ir_weights": "int8 (NNCF static)", "calibration": calibration}
