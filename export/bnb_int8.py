"""bitsandbytes LLM.int8() Linear layers, loaded through transformers' BitsAndBytesConfig.
Runs on CUDA, and on CPU where the installed bitsandbytes has a CPU backend (probed, not assumed)."""

from __future__ import annotations

import functools

from export.base import Artifact, Backend, ParityBound
from export.torch_runner import (TorchRunner, artifact_as_checkpoint, load_wrapper, save_as_checkpoint,
                                 set_torch_threads)


# On CPUs with AVX-512 BF16, bitsandbytes' CPU backend first tries to fetch a 4-bit GEMM kernel from the Hugging
# Face hub (the `kernels` package, a download) and logs a warning when it cannot, on every import; it then uses its
# own kernel, which is what runs here (offline, no `kernels`). That warning says nothing about this toolkit's
# results, so its logger is quieted to errors before bitsandbytes is imported.
BNB_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"


def quiet_bitsandbytes() -> None:
    import logging

    logging.getLogger(BNB_CPU_LOGGER).setLevel(logging.ERROR)


quiet_bitsandbytes()  # this module is what imports bitsandbytes, directly or through transformers


@functools.cache
def probe_bitsandbytes(device: str, four_bit: bool) -> str | None:
    """Quantise and run one small Linear layer on `device`; None if it works, else why not."""
    try:
        import bitsandbytes as bnb
        import torch
    except ImportError as e:
        return f"bitsandbytes is not installed ({e})"
    try:
        layer = (bnb.nn.Linear4bit(64, 64, compute_dtype=torch.float32, quant_type="nf4") if four_bit
                 else bnb.nn.Linear8bitLt(64, 64, has_fp16_weights=False))
        layer = layer.to(device)
        with torch.inference_mode():
            layer(torch.randn(2, 64, device=device, dtype=torch.float32 if four_bit else torch.float16))
    except Exception as e:  # noqa: BLE001 - any failure means "cannot run here", with its message
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        return f"bitsandbytes {bnb.__version__} cannot run on {device}: {first}"
    return None


class BnbInt8Backend(Backend):
    name = "bnb-int8"
    description = "bitsandbytes LLM.int8() Linear layers"
    # measured on the demo model (Zen 4, 2026-11-24): 0.061 / 16 of 16
    tiny_parity = ParityBound(0.5, 0.5, 0.99)
    demo_parity = {"vnni": ParityBound(0.1, 0.9375), "avx2": ParityBound(0.1, 0.9375)}
    min_agreement = 0.5
    device_specific_artifact = True  # bitsandbytes packs weights for the device it quantised on
    four_bit = False

    def availability(self, device):
        return super().availability(device) or probe_bitsandbytes(device, self.four_bit)

    def quantization_config(self):
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(load_in_8bit=True)

    def export(self, checkpoint, options, out):
        import torch

        device = options["device"]
        wrapper = load_wrapper(checkpoint, options.get("layer"), quantization_config=self.quantization_config(),
                               device_map=device, torch_dtype=torch.float32)
        save_as_checkpoint(wrapper, checkpoint, out)
        return {"quantization": wrapper.model.config.quantization_config.to_dict()}

    def load(self, artifact: Artifact, device, threads):
        import torch

        set_torch_threads(threads)
        wrapper = load_wrapper(artifact_as_checkpoint(artifact), artifact.options.get("layer"),
                               device_map=device, torch_dtype=torch.float32)
        return TorchRunner(wrapper, device, wrapper.head.outputs)
