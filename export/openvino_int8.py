"""OpenVINO with NNCF post-training static int8: weights and activations int8, activation ranges calibrated on
the text named by the `calibration` option (export/calibration.py), NNCF's transformer preset (which keeps
softmax, layer norms and the like in floating point)."""

from __future__ import annotations

from export.calibration import DEFAULT_SPEC, CalibrationSpec, calibration_batches
from export.openvino import OpenVinoBackend, convert_from_onnx, save_ir


class OpenVinoInt8Backend(OpenVinoBackend):
    name = "openvino-int8"
    description = "OpenVINO, NNCF static int8 (calibrated activations, transformer preset)"
    default_options = {**OpenVinoBackend.default_options, "calibration": DEFAULT_SPEC}
    calibrated = True
    min_agreement = 0.5
    isa_features = ("avx512_vnni", "avx_vnni", "amx")

    def check_options(self, options):
        CalibrationSpec.parse(options["calibration"])

    def export(self, checkpoint, options, out):
        import nncf

        model, onnx = convert_from_onnx(checkpoint, options)
        batches, calibration = calibration_batches(checkpoint, options["calibration"])
        quantized = nncf.quantize(model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(batches))
        save_ir(quantized, out)
        return {"parent_artifact": str(onnx.path), "ir_weights": "int8 (NNCF static)", "calibration": calibration}
