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
    """For backends that run the checkpoint as it is: the artifact only points at it. Its size is that of the
    weights the variant executes (a cut encoder leaves the layers above its output out, as exports do)."""
    import re

    from safetensors import safe_open

    from models.heads import layers_executed

    kept = layers_executed(checkpoint.config, checkpoint.head, options.get("layer"))
    layer_key = re.compile(r"encoder\.layer\.(\d+)\.")
    total, source = 0, "checkpoint weights"
    for path in checkpoint.path.iterdir():
        if path.suffix == ".safetensors":
            with safe_open(str(path), "np") as f:
                for key in f.keys():
                    match = layer_key.search(key)
                    if match and int(match.group(1)) >= kept:
                        continue
                    tensor = f.get_slice(key)
                    n = 1
                    for d in tensor.get_shape():
                        n *= d
                    total += n * _dtype_bytes(tensor.get_dtype())
            source = f"checkpoint weights of the {kept} executed layers and the embeddings"
        elif path.suffix == ".bin":
            total += path.stat().st_size
    return {"size_mb": total / 2**20, "size_from": source}


def _dtype_bytes(dtype: str) -> int:
    return {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2, "I8": 1, "U8": 1,
            "BOOL": 1}.get(dtype, 4)


class TorchTensorOutputs(Runner):
    """For runners whose forward returns torch tensors (PyTorch's own, and CTranslate2's with a PyTorch head):
    outputs as numpy, and the CUDA stream finished before a clock is read."""

    device: str
    output_names: tuple[str, ...]

    def to_numpy(self, outputs):
        return {n: o.detach().float().cpu().numpy() for n, o in zip(self.output_names, outputs)}

    def synchronize(self):
        if self.device == "cuda":
            torch.cuda.synchronize()


class TorchRunner(TorchTensorOutputs):
    def __init__(self, module: torch.nn.Module, device: str, output_names, dtype: torch.dtype | None = None):
        self.module, self.device, self.output_names = module, device, tuple(output_names)
        self.dtype = dtype
        self.timer = "wall"  # after synchronize(): the clock ONNX Runtime's runners are read with too
        if device == "cuda":  # IEEE fp32 matmuls, as ONNX Runtime is told (use_tf32=0): an equal race
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False

    def prepare(self, batch):
        return tuple(torch.from_numpy(np.ascontiguousarray(batch[k])).to(self.device)
                     for k in ("input_ids", "attention_mask"))

    def forward(self, prepared):
        if torch.is_inference_mode_enabled():  # inside `context()`: the harness entered it once for the loop
            return self.module(*prepared)
        with torch.inference_mode():
            return self.module(*prepared)

    def context(self):
        return torch.inference_mode()

    def threads(self):
        return {"torch_intra_op": torch.get_num_threads(), "torch_inter_op": torch.get_num_interop_threads()}

    def details(self):
        if self.device != "cuda":
            return {}
        config = getattr(getattr(self.module, "model", None), "config", None)
        weights = next(iter(self.module.parameters()), None)
        return {"tf32": bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32),
                # transformers' attention kernel (sdpa: PyTorch's scaled-dot-product attention) and the weights' dtype
                "attention": getattr(config, "_attn_implementation", None),
                "weights_dtype": str(weights.dtype).removeprefix("torch.") if weights is not None else None}


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
