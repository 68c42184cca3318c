"""OpenVINO on CPU: the fp32 ONNX artifact converted to OpenVINO IR (`openvino.convert_model`), compiled with the
harness's threads and one stream, dynamic batch and sequence axes kept.

Why not optimum-intel: its releases that install here pull optimum 2.3 and a newer (CUDA) torch, breaking the
project's pins (torch 2.13 CPU, optimum 2.1); `convert_model` plus NNCF is the same toolchain it wraps.

OpenVINO picks bf16 by itself on CPUs that have it; the fp32 backend fixes the precision hint to f32 and records
what the compiled model reports, so "openvino" is fp32 on every CPU and `openvino-bf16` is the bf16 path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from export.base import Artifact, Backend, Runner
from export.onnx import OnnxExportOptions
from models.errors import UserError
from models.heads import INPUT_NAMES

IR_FILE = "model.xml"


def openvino_reason() -> str | None:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return 'openvino is not installed (pip install -e ".[cpu]")'
    return None


def cpu_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin says this CPU can do (FP32, BF16, INT8, ...), detected by OpenVINO itself."""
    import openvino as ov

    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def convert_from_onnx(checkpoint, options: dict):
    """The OpenVINO model of the cached fp32 ONNX artifact, and that artifact."""
    import openvino as ov

    from export.onnx import ONNX_FILE, parent_artifact

    onnx = parent_artifact("onnx", checkpoint, options)
    return ov.convert_model(str(onnx.file(ONNX_FILE))), onnx


def save_ir(model, out: Path) -> None:
    import openvino as ov

    # save_model halves fp32 weights to fp16 unless told not to: the fp32 path must stay fp32.
    ov.save_model(model, str(out / IR_FILE), compress_to_fp16=False)


def _type_name(value) -> str:
    return value.to_string() if hasattr(value, "to_string") else str(value)  # ov.Type -> "f32", "bf16"


class OpenVinoRunner(Runner):
    def __init__(self, path: Path, threads: int, precision: str):
        import openvino as ov

        config = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                  "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = ov.Core().compile_model(str(path), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.output_names = tuple(o.get_any_name() for o in self.compiled.outputs)
        self._threads = threads
        self._details = {"device": "CPU", "requested_precision": precision,
                         "inference_precision": _type_name(self.compiled.get_property("INFERENCE_PRECISION_HINT")),
                         "num_streams": int(self.compiled.get_property("NUM_STREAMS")),
                         "inference_num_threads": int(self.compiled.get_property("INFERENCE_NUM_THREADS")),
                         "cpu_capabilities": cpu_capabilities()}

    def prepare(self, batch):
        return {k: np.ascontiguousarray(batch[k], dtype=np.int64) for k in INPUT_NAMES}

    def forward(self, prepared):
        return self.request.infer(prepared)

    def to_numpy(self, outputs):
        return {name: np.asarray(outputs[i], dtype=np.float32) for i, name in enumerate(self.output_names)}

    def threads(self):
        return {"openvino_inference_num_threads": self._details["inference_num_threads"],
                "openvino_num_streams": self._details["num_streams"]}

    def details(self):
        return self._details


class OpenVinoBackend(Backend):
    name = "openvino"
    description = "OpenVINO fp32 (IR from the ONNX export, precision hint f32, one stream)"
    devices = ("cpu",)
    Options = OnnxExportOptions  # the IR is converted from the ONNX export: its options
    precision = "f32"

    def availability(self, device):
        return super().availability(device) or openvino_reason()

    def export(self, checkpoint, options, out):
        model, onnx = convert_from_onnx(checkpoint, options)
        save_ir(model, out)
        return {"parent_artifact": str(onnx.path), "ir_weights": "fp32"}

    def load(self, artifact: Artifact, device, threads):
        if device != "cpu":
            raise UserError(f"{self.name} runs on cpu only")
        return OpenVinoRunner(artifact.file(IR_FILE), threads, self.precision)
