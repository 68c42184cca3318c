"""Lazy backend registry: name -> "module:Class". Heavy imports (onnxruntime, bitsandbytes)
happen only when a backend is used. Adding a backend = one module + one line here."""

from __future__ import annotations

import importlib

from models.errors import UserError

BACKENDS: dict[str, str] = {
    "eager": "export.eager:EagerBackend",
    "compile": "export.compiled:CompileBackend",
    "torchscript": "export.torchscript:TorchScriptBackend",
    "onnx": "export.onnx:OnnxBackend",
    "onnx-int8": "export.onnx_int8:OnnxInt8Backend",
    "onnx-opt": "export.onnx_opt:OnnxOptBackend",
    "onnx-static-int8": "export.onnx_static_int8:OnnxStaticInt8Backend",
    "openvino": "export.openvino:OpenVinoBackend",
    "openvino-bf16": "export.openvino_bf16:OpenVinoBF16Backend",
    "openvino-int8w": "export.openvino_int8w:OpenVinoInt8WeightsBackend",
    "openvino-int8": "export.openvino_int8:OpenVinoInt8Backend",
    "torch-int8": "export.torch_int8:TorchInt8Backend",
    "bf16": "export.bf16:BF16Backend",
    "fp16": "export.fp16:FP16Backend",
    "bnb-int8": "export.bnb_int8:BnbInt8Backend",
    "bnb-nf4": "export.bnb_nf4:BnbNF4Backend",
}

_instances: dict = {}


def get_backend(name: str):
    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}'; use one of {', '.join(BACKENDS)} (see `bench list`)")
    if name not in _instances:
        module, cls = BACKENDS[name].split(":")
        _instances[name] = getattr(importlib.import_module(module), cls)()
    return _instances[name]
