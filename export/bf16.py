"""bfloat16 weights and compute. Fast on CPUs with AVX-512 BF16 or AMX and on CUDA GPUs."""

import torch

from export.base import Artifact, Backend, ParityBound
from export.torch_runner import (TorchRunner, artifact_as_checkpoint, load_wrapper, save_as_checkpoint,
                                 set_torch_threads)


class BF16Backend(Backend):
    name = "bf16"
    description = "PyTorch eager, bfloat16 weights and compute"
    # measured on the demo model (Zen 4, 2026-11-24): 0.017 / 16 of 16 sentences
    tiny_parity = ParityBound(0.1, 0.5, 0.999)
    demo_parity = {"vnni": ParityBound(0.03, 0.9375), "avx2": ParityBound(0.03, 0.9375)}
    dtype = torch.bfloat16
    min_agreement = 0.75
    isa_features = ("avx512_bf16", "amx")

    def export(self, checkpoint, options, out):
        save_as_checkpoint(load_wrapper(checkpoint, options.get("layer"), torch_dtype=self.dtype), checkpoint, out)
        return {"dtype": str(self.dtype).removeprefix("torch.")}

    def load(self, artifact: Artifact, device, threads):
        set_torch_threads(threads)
        wrapper = load_wrapper(artifact_as_checkpoint(artifact), artifact.options.get("layer"),
                               torch_dtype=self.dtype).to(device)
        return TorchRunner(wrapper, device, wrapper.head.outputs, dtype=self.dtype)
