"""bitsandbytes 4-bit NormalFloat (NF4) Linear layers with fp32 compute."""

from export.base import ParityBound
from export.bnb_int8 import BnbInt8Backend


class BnbNF4Backend(BnbInt8Backend):
    name = "bnb-nf4"
    description = "bitsandbytes 4-bit NF4 Linear layers"
    # measured on the demo model (Zen 4, 2026-11-24): 0.25 / 14 of 16
    tiny_parity = ParityBound(1.5, 0.5, 0.95)
    demo_parity = {"vnni": ParityBound(0.4, 0.8125), "avx2": ParityBound(0.4, 0.8125)}
    four_bit = True

    def quantization_config(self):
        import torch
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=torch.float32)
