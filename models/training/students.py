"""Student construction: a K-layer copy of a teacher (its embeddings and every n-th layer), or a narrower,
randomly initialised one."""

from __future__ import annotations


def kept_layers(teacher_layers: int, k: int) -> list[int]:
    """Every n-th layer, ending with the last: 12 -> 3 keeps 3, 7, 11 (0-based)."""
    return [round((j + 1) * teacher_layers / k) - 1 for j in range(k)]


def build_student(teacher_model, layers: int, hidden: int | None):
    """A K-layer copy of the teacher (embeddings and every n-th layer), or a narrower random one."""
    import copy

    import torch

    config = copy.deepcopy(teacher_model.config)
    config.num_hidden_layers = layers
    if hidden:
        config.hidden_size = hidden
        config.intermediate_size = 4 * hidden
        config.num_attention_heads = max(1, hidden // 64)
    kwargs = {}
    if hasattr(teacher_model, "pooler"):  # bare encoders: mirror the teacher's (absent) pooler
        kwargs["add_pooling_layer"] = teacher_model.pooler is not None
    student = type(teacher_model)(config, **kwargs)
    if hidden is None:
        teacher_state = teacher_model.state_dict()
        mapping = {f".layer.{j}.": f".layer.{i}." for j, i in enumerate(kept_layers(teacher_model.config.num_hidden_layers, layers))}
        state = {}
        for key in student.state_dict():
            source = key
            for new, old in mapping.items():
                if new in key:
                    source = key.replace(new, old)
                    break
            state[key] = teacher_state[source]
        student.load_state_dict(state)
    else:
        torch.manual_seed(0)
    return student
