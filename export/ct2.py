"""CTranslate2 (float32): the checkpoint's encoder converted offline by CTranslate2's Transformers converter
(BERT and XLM-RoBERTa), run by its `Encoder` with the real sequence lengths, so that it skips padding inside the
encoder; the task head (classification, tagging, QA span) runs in PyTorch on the encoder's last hidden state in
the same runner (HeadOnHiddenState), so every task family works as with the other backends.

The conversion reads a checkpoint directory (never the hub). A bare encoder read at layer L is converted from a
view of the checkpoint whose config says L layers (the weights above L are left unread), as every backend cuts it.

Which compute type CTranslate2 really runs is read back from the loaded encoder (`compute_type`) and recorded
beside the requested one: CTranslate2 silently substitutes a type the device lacks, and the record must show it.
Subclasses (ct2-int8, ct2-fp16, ...) change the stored weight type and the compute type only."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from export.base import Artifact, Backend
from export.torch_runner import TorchTensorOutputs
from models.errors import UserError
from models.heads import HeadSpec, layers_executed, load_model

HEAD_FILE = "head.pt"  # the checkpoint's head weights (heads other than the bare encoder), as a torch state dict


class HeadOnHiddenState(torch.nn.Module):
    """The task head alone, as a function of the encoder's last hidden state, for engines that run only the
    encoder (CTranslate2 converts the encoder, not the heads): the same modules, in the same order, as the
    transformers classes apply them after the encoder (dropout is the identity in eval mode).

    Kept apart from the full model: only the head's own weights stay in memory."""

    def __init__(self, model: torch.nn.Module, head: HeadSpec):
        super().__init__()
        self.head = head
        base = getattr(model, model.base_model_prefix, model)
        self.pooler = None
        if head.name == "question-answering":
            self.layer = model.qa_outputs
        elif head.name in ("token-classification", "sequence-classification"):
            self.layer = model.classifier
            # BERT classifies the pooler's tanh(dense(CLS)); XLM-R's classification head pools CLS itself
            if head.name == "sequence-classification" and not hasattr(self.layer, "out_proj"):
                self.pooler = base.pooler
        elif head.name != "encoder":
            raise ValueError(f"no head-only path for head {head.name}")

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.head.name == "encoder":
            return (hidden,)
        if self.head.name == "question-answering":
            start, end = self.layer(hidden).split(1, dim=-1)
            return start.squeeze(-1).contiguous(), end.squeeze(-1).contiguous()
        return (self.layer(self.pooler(hidden) if self.pooler is not None else hidden),)


def ct2_reason(device: str, compute_type: str) -> str | None:
    """None when CTranslate2 is installed and supports `compute_type` on `device` here, else why not."""
    try:
        import ctranslate2
    except ImportError:
        return "ctranslate2 is not installed (pip install -e '.[cpu]')"
    if device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        return "CTranslate2 sees no CUDA device"
    supported = ctranslate2.get_supported_compute_types(device)
    if compute_type not in supported:
        return (f"CTranslate2 has no {compute_type} compute type on this {device} "
                f"(it supports {', '.join(sorted(supported))})")
    return None


def _checkpoint_view(checkpoint, layers: int, out: Path) -> Path:
    """A directory that reads as the checkpoint with only its first `layers` layers: its config rewritten,
    every other file linked."""
    view = out / "source"
    view.mkdir()
    for f in checkpoint.path.iterdir():
        if f.is_file() and f.name != "config.json":
            os.symlink(f.resolve(), view / f.name)
    config = json.loads((checkpoint.path / "config.json").read_text())
    config["num_hidden_layers"] = layers
    (view / "config.json").write_text(json.dumps(config))
    return view


class Ct2Runner(TorchTensorOutputs):
    def __init__(self, encoder, head: HeadOnHiddenState | None, output_names, device: str, threads: int,
                 details: dict):
        self.encoder, self.head, self.output_names = encoder, head, tuple(output_names)
        self.device, self._threads, self._details = device, threads, details

    def prepare(self, batch):
        import ctranslate2

        mask = np.asarray(batch["attention_mask"])
        lengths = mask.sum(axis=1).astype(np.int32)
        # CTranslate2 takes lengths, not a mask: the real tokens must come first in every row
        if not np.array_equal(mask.astype(bool), np.arange(mask.shape[1])[None, :] < lengths[:, None]):
            raise UserError("CTranslate2 needs right-padded batches (real tokens first); this batch is not")
        ids = np.ascontiguousarray(batch["input_ids"], dtype=np.int32)
        return ctranslate2.StorageView.from_array(ids), ctranslate2.StorageView.from_array(lengths)

    def forward(self, prepared):
        hidden = self.encoder.forward_batch(prepared[0], prepared[1]).last_hidden_state
        if self.device == "cuda":
            states = torch.as_tensor(hidden, device="cuda")
        else:
            states = torch.from_numpy(np.asarray(hidden))
        if self.head is None:
            return (states,)
        with torch.inference_mode():
            return self.head(states.float())

    def threads(self):
        return {"ct2_intra_threads": self._threads, "ct2_inter_threads": 1}

    def details(self):
        return self._details


class Ct2Backend(Backend):
    name = "ct2"
    description = "CTranslate2 float32 encoder (skips padding; task head in PyTorch)"
    devices = ("cpu", "cuda")
    libraries = ("ctranslate2",)
    weight_type: ClassVar[str] = "float32"  # the converter's `quantization`: the type the weights are stored in
    compute_type: ClassVar[str] = "float32"  # the type CTranslate2 is asked to compute in

    def availability(self, device):
        return super().availability(device) or ct2_reason(device, self.compute_type)

    def engine_note(self, device):
        import ctranslate2

        return (f"runs {self.compute_type}; CTranslate2's compute types here: "
                f"{', '.join(sorted(ctranslate2.get_supported_compute_types(device)))}")

    def export(self, checkpoint, options, out):
        import tempfile

        from ctranslate2.converters import TransformersConverter

        layers = layers_executed(checkpoint.config, checkpoint.head, options.get("layer"))
        if checkpoint.config.get("model_type") not in ("bert", "xlm-roberta"):
            raise UserError(f"CTranslate2 converts BERT and XLM-RoBERTa encoders, not "
                            f"{checkpoint.config.get('model_type')!r} ({checkpoint.name})")
        with tempfile.TemporaryDirectory() as tmp:
            source = _checkpoint_view(checkpoint, layers, Path(tmp))
            TransformersConverter(str(source)).convert(str(out), quantization=self.weight_type, force=True)
        if checkpoint.head.name != "encoder":
            head = HeadOnHiddenState(load_model(checkpoint.path, checkpoint.head), checkpoint.head)
            torch.save(head.state_dict(), out / HEAD_FILE)
        return {"ct2_weight_type": self.weight_type, "layers_converted": layers}

    def load(self, artifact: Artifact, device, threads):
        import ctranslate2

        reason = self.availability(device)
        if reason:
            raise UserError(f"backend {self.name} cannot run on {device}: {reason}")
        encoder = ctranslate2.Encoder(str(artifact.path), device=device, compute_type=self.compute_type,
                                      inter_threads=1, intra_threads=threads)
        checkpoint = artifact.checkpoint
        head = None
        if checkpoint.head.name != "encoder":
            torch.set_num_threads(threads)
            # the head's modules only: built from the config (no encoder weights read), then its saved weights
            import transformers

            config = transformers.AutoConfig.from_pretrained(str(checkpoint.path))
            with torch.device("meta"):  # no memory and no random init for the encoder that is never run here
                model = getattr(transformers, checkpoint.head.auto_class).from_config(config)
            head = HeadOnHiddenState(model, checkpoint.head)
            head.load_state_dict(torch.load(artifact.file(HEAD_FILE), weights_only=True), assign=True)
            head = head.eval().to(device)
            del model
        details = {"ct2_device": encoder.device, "ct2_compute_type_requested": self.compute_type,
                   "ct2_compute_type": encoder.compute_type,
                   "ct2_supported_compute_types": sorted(ctranslate2.get_supported_compute_types(device)),
                   "ct2_weight_type": artifact.manifest.get("ct2_weight_type"), "skips_padding": True,
                   "head_in": None if head is None else "pytorch"}
        return Ct2Runner(encoder, head, checkpoint.head.outputs, device, threads, details)
