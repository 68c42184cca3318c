"""The backends, one lazy entry each (name -> "module:Class"): heavy imports (onnxruntime, bitsandbytes) happen
only when a backend is used. Adding a backend = one module + one line here."""

from __future__ import annotations

from export.base import Backend
from models.registries import Registry

BACKENDS: Registry[type[Backend]] = Registry("backend", Backend, hint="see `bench list`")
for _name, _entry in {
    "eager": "export.eager:EagerBackend",
    "compile": "export.compiled:CompileBackend",
    "torchscript": "export.torchscript:TorchScriptBackend",
    "onnx": "export.onnx:OnnxBackend",
    "onnx-int8": "export.onnx_int8:OnnxInt8Backend",
    "onnx-opt": "export.onnx_opt:OnnxOptBackend",
    "onnx-static-int8": "export.onnx_static_int8:OnnxStaticInt8Backend",
    "onnx-trt": "export.onnx_trt:OnnxTrtBackend",
    "openvino": "export.openvino:OpenVinoBackend",
    "openvino-bf16": "export.openvino_bf16:OpenVinoBF16Backend",
    "openvino-int8w": "export.openvino_int8w:OpenVinoInt8WeightsBackend",
    "openvino-int8": "export.openvino_int8:OpenVinoInt8Backend",
    "torch-int8": "export.torch_int8:TorchInt8Backend",
    "bf16": "export.bf16:BF16Backend",
    "fp16": "export.fp16:FP16Backend",
    "bnb-int8": "export.bnb_int8:BnbInt8Backend",
    "bnb-nf4": "export.bnb_nf4:BnbNF4Backend",
    "ct2": "export.ct2:Ct2Backend",
    "ct2-int8": "export.ct2_int8:Ct2Int8Backend",
    "ct2-bf16": "export.ct2_bf16:Ct2BF16Backend",
    "ct2-fp16": "export.ct2_fp16:Ct2FP16Backend",
    "ct2-int8-fp16": "export.ct2_int8_fp16:Ct2Int8FP16Backend",
}.items():
    BACKENDS.register(_name, _entry)

_instances: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend's one instance (a mistyped name: one line with the nearest names)."""
    if name not in _instances:
        _instances[name] = BACKENDS.get(name)()
    return _instances[name]
