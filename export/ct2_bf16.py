"""CTranslate2 bfloat16 on CPUs where CTranslate2 reports a bfloat16 compute type (AVX-512 BF16 or AMX builds);
elsewhere unavailable, said by `bench list`, rather than run in float32 under a bf16 name."""

from __future__ import annotations

from export.base import ParityBound
from export.ct2 import Ct2Backend


class Ct2BF16Backend(Ct2Backend):
    name = "ct2-bf16"
    description = "CTranslate2 bfloat16 weights and compute (CPUs with AVX-512 BF16 or AMX; CUDA)"
    weight_type = "bfloat16"
    compute_type = "bfloat16"
    tiny_parity = ParityBound(0.1, 0.5, 0.999)
    demo_parity: dict = {}  # unmeasured: no CPU seen so far had CTranslate2's bfloat16 (none asserted until one has)
    min_agreement = 0.75
    isa_features = ("avx512_bf16", "amx")
