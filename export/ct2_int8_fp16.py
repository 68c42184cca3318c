"""CTranslate2 int8 weights and matmuls with float16 elsewhere, on CUDA (`int8_float16`)."""

from __future__ import annotations

from export.base import ParityBound
from export.ct2 import Ct2Backend


class Ct2Int8FP16Backend(Ct2Backend):
    name = "ct2-int8-fp16"
    description = "CTranslate2 int8 weights and matmuls, float16 elsewhere (CUDA)"
    devices = ("cuda",)
    weight_type = "int8"
    compute_type = "int8_float16"
    tiny_parity = ParityBound(1.0, 0.5, 0.98)
    demo_parity: dict = {}  # a CUDA path: the demo-model guards run on CPU
    min_agreement = 0.5
