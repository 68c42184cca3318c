"""float16 weights and compute on CUDA (CPU fp16 matmuls are emulated; use bf16 there)."""

import torch

from export.bf16 import BF16Backend


class FP16Backend(BF16Backend):
    name = "fp16"
    description = "PyTorch eager, float16 weights and compute (CUDA)"
    devices = ("cuda",)
    dtype = torch.float16
    isa_features = ()  # a CUDA path: no CPU instructions to report
