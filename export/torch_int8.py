"""PyTorch dynamic int8 quantisation of every Linear layer (weights int8, activations quantised on
the fly), saved as TorchScript so loading does not rebuild the fp32 model."""

import torch

from export.base import Artifact, Backend, ParityBound
from export.torch_runner import TorchRunner, load_wrapper, set_torch_threads
from export.torchscript import TRACED_FILE, trace_and_save


class TorchInt8Backend(Backend):
    name = "torch-int8"
    description = "PyTorch dynamic quantisation, int8 Linear layers (CPU)"
    # measured on the demo model: 0.51 / 13 of 16 (Zen 4, vnni); 11 of 16 on Zen 3 (avx2, fbgemm without VNNI)
    tiny_parity = ParityBound(1.0, 0.5, 0.98)
    demo_parity = {"vnni": ParityBound(0.8, 0.75), "avx2": ParityBound(0.8, 0.625)}
    min_agreement = 0.5
    isa_features = ("avx512_vnni", "avx_vnni", "amx")
    devices = ("cpu",)  # quantized::linear_dynamic has CPU kernels only

    def availability(self, device):
        reason = super().availability(device)
        if reason is None and torch.backends.quantized.engine == "none":
            return "this PyTorch build has no quantised CPU engine (fbgemm/onednn/x86)"
        return reason

    def export(self, checkpoint, options, out):
        wrapper = load_wrapper(checkpoint, options.get("layer"))
        quantized = torch.ao.quantization.quantize_dynamic(wrapper, {torch.nn.Linear}, dtype=torch.qint8)
        trace_and_save(quantized, checkpoint, out)
        return {"quantized_modules": "torch.nn.Linear", "weight_dtype": "qint8",
                "quantized_engine": torch.backends.quantized.engine}

    def load(self, artifact: Artifact, device, threads):
        set_torch_threads(threads)
        module = torch.jit.load(str(artifact.file(TRACED_FILE)), map_location=device).eval()
        return TorchRunner(module, device, artifact.checkpoint.head.outputs)
