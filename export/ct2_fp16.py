"""CTranslate2 float16 on CUDA (CTranslate2 has no CPU float16 compute type)."""

from __future__ import annotations

from export.base import ParityBound
from export.ct2 import Ct2Backend


class Ct2FP16Backend(Ct2Backend):
    name = "ct2-fp16"
    description = "CTranslate2 float16 weights and compute (CUDA)"
    devices = ("cuda",)
    weight_type = "float16"
    compute_type = "float16"
    tiny_parity = ParityBound(0.05, 0.5, 0.999)
    demo_parity: dict = {}  # a CUDA path: the demo-model guards run on CPU
    min_agreement = 0.75
