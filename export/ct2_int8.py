"""CTranslate2 int8: int8 weights (per output row), int8 matrix products with float32 for the rest
(`int8_float32`, CTranslate2's int8 path on x86 CPUs)."""

from __future__ import annotations

from export.base import ParityBound
from export.ct2 import Ct2Backend


class Ct2Int8Backend(Ct2Backend):
    name = "ct2-int8"
    description = "CTranslate2 int8 weights and matmuls, float32 elsewhere (int8_float32)"
    devices = ("cpu",)  # on CUDA: ct2-int8-fp16
    weight_type = "int8"
    compute_type = "int8_float32"
    # measured on the demo model (Zen 4, 2026-12-02): 0.074 / 15 of 16; no AVX2-only measurement yet
    tiny_parity = ParityBound(1.0, 0.5, 0.98)
    demo_parity = {"vnni": ParityBound(0.12, 0.875)}
    min_agreement = 0.5
    isa_features = ("avx512_vnni", "avx_vnni", "amx")
