"""ONNX Runtime static int8 (QDQ): per-channel int8 weights, uint8 activations whose ranges were calibrated on
text named by the `calibration` option (export/calibration.py: source, languages, count; never the text being
scored). Only MatMuls with constant weights are quantised (`MatMulConstBOnly`): attention's score and context
products stay fp32, as ORT's dynamic path does."""

from __future__ import annotations

from dataclasses import dataclass

from export.base import Artifact, ParityBound
from export.calibration import CALIBRATION_HELP, DEFAULT_SPEC, CalibrationSpec, calibration_batches
from export.onnx import ONNX_FILE, OnnxBackend, OnnxExportOptions, OrtRunner, ort_session, parent_artifact
from export.options import option

CALIBRATE_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


@dataclass(frozen=True)
class OnnxStaticInt8Options(OnnxExportOptions):
    calibration: str = option(DEFAULT_SPEC, CALIBRATION_HELP)
    calibrate_method: str = option("minmax", "how activation ranges are read from the calibration batches",
                                   choices=tuple(CALIBRATE_METHODS))
    per_channel: bool = option(True, "int8 weight scales per output channel (false: one per tensor)")


class OnnxStaticInt8Backend(OnnxBackend):
    name = "onnx-static-int8"
    description = "ONNX Runtime static int8 QDQ (per-channel weights, calibrated activations)"
    # measured on the demo model (Zen 4, 2026-11-25, calibrated on the tests' XNLI-layout text): 0.46 /
    # 11 of 16; no AVX2-only measurement yet
    tiny_parity = ParityBound(1.5, 0.5, 0.95)
    demo_parity = {"vnni": ParityBound(0.7, 0.625)}
    devices = ("cpu",)
    Options = OnnxStaticInt8Options
    calibrated = True  # the bench refuses calibration text that the scored task evaluates
    min_agreement = 0.5
    isa_features = ("avx512_vnni", "avx_vnni", "amx")

    def check_options(self, options):
        CalibrationSpec.parse(options.calibration)

    def export(self, checkpoint, options, out, data_dir=None):
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                              quantize_static)

        fp32 = parent_artifact("onnx", checkpoint, options)
        histogram = options["calibrate_method"] != "minmax"  # histograms need one shape across batches
        batches, calibration = calibration_batches(checkpoint, options["calibration"], data_dir=data_dir,
                                                   fixed_length=histogram)
        if histogram and len(batches) > 1 and len(batches[-1]["input_ids"]) < len(batches[0]["input_ids"]):
            batches = batches[:-1]  # a short last batch would not stack either

        class Reader(CalibrationDataReader):
            def __init__(self):
                self._batches = iter(batches)

            def get_next(self):
                return next(self._batches, None)

        method = getattr(CalibrationMethod, CALIBRATE_METHODS[options["calibrate_method"]])
        quantize_static(str(fp32.file(ONNX_FILE)), str(out / ONNX_FILE), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["MatMul"], per_channel=options["per_channel"],
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=method,
                        use_external_data_format=fp32.manifest.get("external_data", False),
                        extra_options={"MatMulConstBOnly": True, "WeightSymmetric": True,
                                       "ActivationSymmetric": False})
        for leftover in out.glob("*.onnx-*"):  # calibration's augmented model, when ORT leaves it behind
            leftover.unlink()
        return {"parent_artifact": str(fp32.path), "quantized_ops": ["MatMul"], "weight_type": "QInt8",
                "activation_type": "QUInt8", "quant_format": "QDQ",
                "calibrate_method": options["calibrate_method"], "calibration": calibration}

    def load(self, artifact: Artifact, device, threads):
        session, details = ort_session(artifact.file(ONNX_FILE), device, threads)
        return OrtRunner(session, device, threads, {**details, "calibration": artifact.manifest["calibration"]})
