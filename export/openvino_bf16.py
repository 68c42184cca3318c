"""OpenVINO with inference precision bf16: the fp32 IR, compiled to compute in bfloat16. Only where OpenVINO's
CPU plugin reports BF16 (AVX-512 BF16 or AMX): elsewhere it would silently run fp32 under a bf16 name."""

from __future__ import annotations

from export.base import ParityBound
from export.openvino import OpenVinoBackend, cpu_capabilities


class OpenVinoBF16Backend(OpenVinoBackend):
    name = "openvino-bf16"
    description = "OpenVINO, inference precision bf16 (CPUs with AVX-512 BF16 or AMX)"
    # measured on the demo model (Zen 4, 2026-11-25): 0.0055 / 16 of 16; no AVX2-only measurement yet
    tiny_parity = ParityBound(0.1, 0.5, 0.999)
    demo_parity = {"vnni": ParityBound(0.01, 0.9375)}
    precision = "bf16"
    min_agreement = 0.75
    isa_features = ("avx512_bf16", "amx")

    def availability(self, device):
        reason = super().availability(device)
        if reason is None and "BF16" not in cpu_capabilities():
            return "this CPU has no bf16 instructions (OpenVINO reports no BF16 capability)"
        return reason
