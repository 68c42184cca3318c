"""Parity with eager fp32: every loaded variant runs the same real, multilingual, right-padded inputs
as the fp32 reference and records how far its outputs move and whether its predictions agree."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from export.inputs import TokenSpec, synthetic_batch, text_batch
from models.files import cache_root
from models.checkpoint import Checkpoint

# Translations of three sentences in six languages plus unrelated ones: real text, varied scripts and
# lengths (so rows are padded), and pairs whose nearest neighbours are meaningful for encoders.
PARITY_TEXTS = [
    "The weather is lovely today, so we are going for a walk in the park.",
    "Das Wetter ist heute herrlich, also gehen wir im Park spazieren.",
    "Il fait très beau aujourd'hui, alors nous allons nous promener dans le parc.",
    "Hace un tiempo estupendo hoy, así que vamos a dar un paseo por el parque.",
    "Сегодня прекрасная погода, поэтому мы идём гулять в парк.",
    "今天天气很好，所以我们去公园散步。",
    "The central bank raised interest rates by half a percentage point.",
    "Die Zentralbank hat die Zinsen um einen halben Prozentpunkt erhöht.",
    "La banque centrale a relevé ses taux d'intérêt d'un demi-point.",
    "El banco central subió los tipos de interés medio punto porcentual.",
    "Центральный банк повысил процентные ставки на половину процентного пункта.",
    "中央银行将利率上调了半个百分点。",
    "Where is the nearest train station?",
    "Wo ist der nächste Bahnhof?",
    "Où se trouve la gare la plus proche ?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
]


def parity_inputs(checkpoint: Checkpoint) -> dict[str, np.ndarray]:
    if checkpoint.has_tokenizer():
        return text_batch(checkpoint, PARITY_TEXTS)
    return synthetic_batch(TokenSpec.of(checkpoint), len(PARITY_TEXTS), 32, seed=1, ragged=True)


def _reference_path(checkpoint: Checkpoint, layer):
    key = hashlib.sha256(json.dumps([checkpoint.fingerprint(), layer, PARITY_TEXTS]).encode()).hexdigest()[:16]
    return cache_root() / "references" / f"{key}.npz"


INPUT_PREFIX = "inputs__"  # the parity inputs, stored beside the outputs they produced


def compute_reference(checkpoint: Checkpoint, layer=None) -> str:
    """Run eager fp32 on the parity inputs and cache the outputs together with those inputs (call it in an
    isolated process). Storing the inputs lets a timing process check parity without loading a tokenizer
    (importing transformers' tokenizer machinery costs about 4 s per process)."""
    import os

    from export.torch_runner import TorchRunner, load_wrapper

    path = _reference_path(checkpoint, layer)
    if not path.is_file():
        wrapper = load_wrapper(checkpoint, layer)
        inputs = parity_inputs(checkpoint)
        outputs = TorchRunner(wrapper, "cpu", wrapper.head.outputs)(inputs)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **outputs, **{INPUT_PREFIX + k: v for k, v in inputs.items()})
        os.replace(tmp, path)
    return str(path)


def load_reference(checkpoint: Checkpoint, layer=None) -> dict[str, np.ndarray] | None:
    """The cached eager fp32 outputs on the parity inputs, or None where none are cached."""
    cached = _load_cached(checkpoint, layer)
    return None if cached is None else {k: v for k, v in cached.items() if not k.startswith(INPUT_PREFIX)}


def load_reference_and_inputs(checkpoint: Checkpoint, layer=None) \
        -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None:
    """The cached reference outputs and the inputs they were computed on (tokenised again only for a cache
    file written before the inputs were stored with it)."""
    cached = _load_cached(checkpoint, layer)
    if cached is None:
        return None
    outputs = {k: v for k, v in cached.items() if not k.startswith(INPUT_PREFIX)}
    inputs = {k[len(INPUT_PREFIX):]: v for k, v in cached.items() if k.startswith(INPUT_PREFIX)}
    return outputs, inputs or parity_inputs(checkpoint)


def _load_cached(checkpoint: Checkpoint, layer) -> dict[str, np.ndarray] | None:
    path = _reference_path(checkpoint, layer)
    if not path.is_file():
        return None
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float64)
    pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)


def compare(outputs: dict[str, np.ndarray], reference: dict[str, np.ndarray], mask: np.ndarray,
            head) -> dict:
    """Max/mean absolute difference over real (unpadded) positions, and agreement of predictions:
    argmax labels for heads; for bare encoders, each sentence's nearest neighbour among the others."""
    result = {"reference": "eager fp32 on cpu", "n_inputs": int(mask.shape[0])}
    diffs, agree = [], []
    for name, ref in reference.items():
        out = outputs[name].astype(np.float64)
        ref = ref.astype(np.float64)
        valid = mask.astype(bool) if out.ndim >= 2 and out.shape[:2] == mask.shape else np.ones(out.shape[0], bool)
        diff = np.abs(out - ref)[valid]
        diffs.append(diff)
        if head.name == "encoder":
            a, b = _mean_pool(out, mask), _mean_pool(ref, mask)
            result["min_cosine"] = float(np.min(np.sum(a * b, axis=-1)))
            sa, sb = a @ a.T, b @ b.T
            np.fill_diagonal(sa, -np.inf)
            np.fill_diagonal(sb, -np.inf)
            agree.append(sa.argmax(1) == sb.argmax(1))
        elif out.ndim == 2 and out.shape == mask.shape:
            # one score per token (QA start/end logits): the prediction is the best real position of each row
            def best_position(scores):
                return np.where(mask.astype(bool), scores, -np.inf).argmax(-1)

            agree.append(best_position(out) == best_position(ref))
        else:  # a label axis last: per token (tagging) or per sequence (classification)
            agree.append(out.argmax(-1)[valid] == ref.argmax(-1)[valid])
    allv = np.concatenate([d.ravel() for d in diffs])
    result["max_abs_diff"] = float(allv.max())
    result["mean_abs_diff"] = float(allv.mean())
    result["label_agreement"] = float(np.concatenate([a.ravel() for a in agree]).mean())
    result["agreement_of"] = {"encoder": "nearest neighbour of mean-pooled embeddings",
                              "question-answering": "best start and end position"}.get(head.name, "argmax label")
    return result
