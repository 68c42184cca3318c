"""Task heads: which transformers class loads a checkpoint and which named outputs it produces.

Every backend runs the same `ForwardWrapper`, so eager, TorchScript, ONNX and quantised variants
return the same named outputs in the same order, and parity checks compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class HeadSpec:
    name: str
    auto_class: str  # attribute of `transformers`
    outputs: tuple[str, ...]
    label_axis_is_token: bool = False  # token-level labels (tagging) vs one label per sequence


HEADS: dict[str, HeadSpec] = {
    h.name: h
    for h in (
        HeadSpec("encoder", "AutoModel", ("hidden_state",)),
        HeadSpec("sequence-classification", "AutoModelForSequenceClassification", ("logits",)),
        HeadSpec("token-classification", "AutoModelForTokenClassification", ("logits",), True),
        HeadSpec("question-answering", "AutoModelForQuestionAnswering", ("start_logits", "end_logits"), True),
    )
}

INPUT_NAMES = ("input_ids", "attention_mask")


def cut_encoder(model: torch.nn.Module, layers: int) -> int:
    """Keep only the first `layers` transformer layers (0: the embeddings alone); returns how many run.

    XTREME's retrieval pools hidden_states[layer]; the layers above it feed nothing that is read. Cutting them
    makes every backend do the same work: eager would otherwise run all layers and keep one hidden state,
    while an ONNX exporter's dead-code pass (or Inductor) drops the unread layers, inflating speedups (up to
    12/7 for the middle layer of 12) and shrinking sizes."""
    base = getattr(model, model.base_model_prefix, model)
    stack = base.encoder.layer
    if layers < len(stack):
        base.encoder.layer = stack[:layers]
        model.config.num_hidden_layers = layers
    return len(base.encoder.layer)


def layers_executed(config: dict, head: HeadSpec, layer: int | None) -> int:
    """How many transformer layers a variant runs: the cut for a bare encoder read at `layer`, else all."""
    depth = config["num_hidden_layers"]
    return min(layer, depth) if head.name == "encoder" and layer is not None else depth


class ForwardWrapper(torch.nn.Module):
    """(input_ids, attention_mask) -> tuple of the head's outputs.

    For the bare encoder the output is the hidden state of `layer` (None = last layer): XTREME's retrieval
    baselines pool an intermediate layer, so the layer is part of what is exported, and the encoder is cut
    there (`cut_encoder`), for every backend alike. `layers_executed` says how many transformer layers run.
    """

    def __init__(self, model: torch.nn.Module, head: HeadSpec, layer: int | None = None):
        super().__init__()
        self.model, self.head, self.layer = model, head, layer
        expected = layers_executed(model.config.to_dict(), head, layer)
        self.layers_executed = cut_encoder(model, layer) if head.name == "encoder" and layer is not None else expected
        assert self.layers_executed == expected, (self.layers_executed, expected)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        if self.head.name == "encoder":
            return (out.last_hidden_state,)  # = hidden_states[layer] of the uncut model
        return tuple(getattr(out, name) for name in self.head.outputs)


def load_model(path, head: HeadSpec, **kwargs) -> torch.nn.Module:
    """Load a checkpoint directory with the head's transformers class, in eval mode."""
    import transformers

    cls = getattr(transformers, head.auto_class)
    model = cls.from_pretrained(str(path), **kwargs)
    return model.eval()
