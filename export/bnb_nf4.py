"""bitsandbytes 4-bit NormalFloat (NF4) Linear layers with fp32 compute."""

from export.bnb_int8 import BnbInt8Backend


class BnbNF4Backend(BnbInt8Backend):
    name = "bnb-nf4"
    description = "bitsandbytes 4-bit NF4 Linear layers"
    four_bit = True

    def quantization_config(self):
        import torch
        from transformers import BitsAndBytesConfig

        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=torch.float32)
