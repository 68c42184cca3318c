"""TorchScript: the fp32 model traced once and saved; loading needs no Python model code."""

from pathlib import Path

import torch

from export.inputs import TokenSpec, synthetic_batch
from export.base import Artifact, Backend, ParityBound
from export.torch_runner import TorchRunner, load_wrapper, set_torch_threads

TRACED_FILE = "model.pt"


def trace_and_save(module: torch.nn.Module, checkpoint, out: Path) -> None:
    """Trace with right-padded rows, so the traced graph keeps the attention-mask path
    (an all-ones mask would let transformers skip masking at trace time)."""
    batch = synthetic_batch(TokenSpec.of(checkpoint), batch_size=2, seq_len=16, seed=0, ragged=True)
    example = (torch.from_numpy(batch["input_ids"]), torch.from_numpy(batch["attention_mask"]))
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(module, example, strict=False, check_trace=False)
    torch.jit.save(traced, str(out / TRACED_FILE))


class TorchScriptBackend(Backend):
    name = "torchscript"
    description = "TorchScript (torch.jit.trace), fp32"
    tiny_parity = ParityBound(1e-4, 1.0, 1 - 1e-6)

    def export(self, checkpoint, options, out):
        trace_and_save(load_wrapper(checkpoint, options.get("layer")), checkpoint, out)
        return {}

    def load(self, artifact: Artifact, device, threads):
        set_torch_threads(threads)
        module = torch.jit.load(str(artifact.file(TRACED_FILE)), map_location=device).eval()
        return TorchRunner(module, device, artifact.checkpoint.head.outputs)
