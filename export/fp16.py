"""float16 weights and compute on CUDA (CPU fp16 matmuls are emulated; use bf16 there)."""

import torch

from export.base import ParityBound
from export.bf16 import BF16Backend


class FP16Backend(BF16Backend):
    name = "fp16"
    description = "PyTorch eager, float16 weights and compute (CUDA)"
    tiny_parity = ParityBound(0.05, 0.5, 0.999)
    demo_parity: dict = {}  # a CUDA path: the demo-model guards run on CPU
    devices = ("cuda",)
    dtype = torch.float16
    isa_features = ()  # a CUDA path: no CPU instructions to report
