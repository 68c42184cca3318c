"""What the PyTorch-based backends share: loading a checkpoint as a `ForwardWrapper` and running it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from export.base import Artifact, Runner
from models.checkpoint import Checkpoint
from models.heads import ForwardWrapper, load_model


def set_torch_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    try:  # settable once per process, before any inter-op work
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def load_wrapper(checkpoint: Checkpoint, layer: int | None = None, **kwargs) -> ForwardWrapper:
    head = checkpoint.head
    if head.name == "encoder":
        kwargs.setdefault("add_pooling_layer", False)  # unused by every task here; saves a matmul
    return ForwardWrapper(load_model(checkpoint.path, head, **kwargs), head, layer).eval()


def reference_artifact_manifest(backend: str, checkpoint: Checkpoint, options: dict) -> dict:
    """For backends that run the checkpoint as it is: the artifact only points at it."""
    weights = [p for p in checkpoint.path.iterdir() if p.suffix in (".safetensors", ".bin")]
    return {"size_mb": sum(p.stat().st_size for p in weights) / 2**20, "size_from": "checkpoint weights"}


class TorchRunner(Runner):
    def __init__(self, module: torch.nn.Module, device: str, output_names, dtype: torch.dtype | None = None):
        self.module, self.device, self.output_names = module, device, tuple(output_names)
        self.dtype = dtype
        self.timer = "cuda_events" if device == "cuda" else "wall"

    def prepare(self, batch):
        return tuple(torch.from_numpy(np.ascontiguousarray(batch[k])).to(self.device)
                     for k in ("input_ids", "attention_mask"))

    def forward(self, prepared):
        with torch.inference_mode():
            return self.module(*prepared)

    def to_numpy(self, outputs):
        return {n: o.detach().float().cpu().numpy() for n, o in zip(self.output_names, outputs)}

    def synchronize(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def threads(self):
        return {"torch_intra_op": torch.get_num_threads(), "torch_inter_op": torch.get_num_interop_threads()}


def save_as_checkpoint(wrapper: ForwardWrapper, source: Checkpoint, out: Path) -> None:
    """Save a converted model as a checkpoint directory (weights, config, tokenizer, metadata)."""
    import shutil

    wrapper.model.save_pretrained(str(out))
    for f in source.path.iterdir():
        if f.is_file() and f.name.startswith(("tokenizer", "special_tokens", "sentencepiece", "stilts")):
            shutil.copy(f, out / f.name)


def artifact_as_checkpoint(artifact: Artifact) -> Checkpoint:
    """Backends that save a whole checkpoint directory (bf16, fp16, bitsandbytes) load it like one."""
    source = artifact.checkpoint
    return Checkpoint(source.name, artifact.path, source.metadata)
