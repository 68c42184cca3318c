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


class ForwardWrapper(torch.nn.Module):
    """(input_ids, attention_mask) -> tuple of the head's outputs.

    For the bare encoder the output is the hidden state of `layer` (None = last layer): XTREME's
    retrieval baselines pool an intermediate layer, so the layer is part of what is exported.
    """

    def __init__(self, model: torch.nn.Module, head: HeadSpec, layer: int | None = None):
        super().__init__()
        self.model, self.head, self.layer = model, head, layer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        if self.head.name == "encoder":
            if self.layer is None:
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
                return (out.last_hidden_state,)
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True,
                             return_dict=True)
            return (out.hidden_states[self.layer],)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        return tuple(getattr(out, name) for name in self.head.outputs)


def load_model(path, head: HeadSpec, **kwargs) -> torch.nn.Module:
    """Load a checkpoint directory with the head's transformers class, in eval mode."""
    import transformers

    cls = getattr(transformers, head.auto_class)
    model = cls.from_pretrained(str(path), **kwargs)
    return model.eval()
