"""Resolve `--model` (a size, a local checkpoint directory or a hub id) to a checkpoint on disk.

A checkpoint is a Hugging Face directory (config.json + weights + tokenizer files), as STILTs
checkpoints are saved, with an optional `stilts.json` metadata file:

    {"head": "token-classification", "labels": ["ADJ", ...],
     "intermediate_task": "mnli", "target_task": "udpos", "layer": null}
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import UserError
from models.files import build_atomically, cache_root
from models.heads import HEADS, HeadSpec
from models.registry import SIZES

METADATA_FILE = "stilts.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


@dataclass
class Checkpoint:
    name: str  # what the user asked for: a size name, a path or a hub id
    path: Path
    metadata: dict = field(default_factory=dict)

    @property
    def head(self) -> HeadSpec:
        name = self.metadata.get("head", "encoder")
        if name not in HEADS:
            raise UserError(f"{self.path / METADATA_FILE}: unknown head '{name}'; use one of {', '.join(HEADS)}")
        return HEADS[name]

    @property
    def trained(self) -> bool:
        return not self.metadata.get("random_init", False)

    @property
    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())

    def fingerprint(self) -> str:
        """Identity for caches: file names, sizes and modification times (not contents: hashing
        gigabytes on every run costs more than it protects; rewriting a file changes its mtime)."""
        h = hashlib.sha256(str(self.path.resolve()).encode())
        for f in sorted(p for p in self.path.rglob("*") if p.is_file()):
            st = f.stat()
            h.update(f"{f.relative_to(self.path)}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]

    def has_tokenizer(self) -> bool:
        return any((self.path / f).exists() for f in ("tokenizer.json", "sentencepiece.bpe.model",
                                                       "tokenizer_config.json"))

    def tokenizer(self):
        from transformers import AutoTokenizer

        if not self.has_tokenizer():
            raise UserError(f"checkpoint {self.path} has no tokenizer files; save the tokenizer beside the model")
        return AutoTokenizer.from_pretrained(str(self.path))


def _validate_dir(path: Path, name: str) -> dict:
    if not path.is_dir():
        raise UserError(f"checkpoint '{name}' does not exist or is not a directory")
    cfg = path / "config.json"
    if not cfg.is_file():
        raise UserError(f"'{path}' is not a Hugging Face checkpoint: config.json is missing")
    try:
        json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"'{cfg}' is corrupt ({e.__class__.__name__}: {e}); re-save the checkpoint") from None
    weights = [path / w for w in WEIGHT_FILES if (path / w).is_file()]
    if not weights:
        raise UserError(f"'{path}' has no weights (expected one of {', '.join(WEIGHT_FILES)})")
    if weights[0].name == "model.safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(weights[0]), "np") as f:
                f.keys()
        except (SafetensorError, OSError, ValueError) as e:
            raise UserError(f"'{weights[0]}' is corrupt or truncated ({e}); re-save the checkpoint") from None
    meta_file = path / METADATA_FILE
    if meta_file.is_file():
        try:
            return json.loads(meta_file.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"'{meta_file}' is not valid JSON ({e})") from None
    return {}


def demo_checkpoint_dir() -> Path:
    from models.demo import CONVERTER_VERSION, build_demo_checkpoint

    target = cache_root() / "models" / f"demo-v{CONVERTER_VERSION}"
    if not _has_metadata(target):
        build_demo_checkpoint(target, complete=_has_metadata)
    return target


def _has_metadata(directory: Path) -> bool:
    """A cached model is complete once its metadata file is in place (it is written last, then moved in whole)."""
    return (directory / METADATA_FILE).is_file()


def _random_init_dir(size: str, seed: int) -> Path:
    target = cache_root() / "random-init" / f"{size}-seed{seed}"
    if _has_metadata(target):
        return target

    def build(staging: Path) -> None:
        import torch
        from transformers import AutoConfig, AutoModel

        config_dict = (json.loads((demo_checkpoint_dir() / "config.json").read_text())
                       if size == "demo" else SIZES[size].config_dict())
        config = AutoConfig.for_model(**config_dict)
        torch.manual_seed(seed)
        AutoModel.from_config(config).save_pretrained(str(staging))
        try:  # every size shares XLM-R's SentencePiece vocabulary: lend it the demo tokenizer
            demo = demo_checkpoint_dir()
            for f in demo.iterdir():
                if f.name.startswith(("tokenizer", "special_tokens", "sentencepiece")):
                    shutil.copy(f, staging / f.name)
        except UserError:
            pass  # no demo packages: synthetic inputs still work
        (staging / METADATA_FILE).write_text(json.dumps(
            {"name": f"{size} (random init)", "head": "encoder", "random_init": True, "seed": seed}, indent=2))

    return build_atomically(target, build, complete=_has_metadata)


def _hub_snapshot(hub_id: str) -> Path:
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt"]
    try:
        return Path(snapshot_download(hub_id, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not cached: try the network unless told to stay offline
        pass
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        reason = "HF_HUB_OFFLINE is set"
    else:
        try:
            return Path(snapshot_download(hub_id, allow_patterns=patterns))
        except Exception as e:  # noqa: BLE001 - any hub failure becomes the same one-line advice
            reason = f"{e.__class__.__name__}"
    raise UserError(f"no cached weights for '{hub_id}' and the hub cannot be reached ({reason}); "
                    "use --random-init for throughput only, or pass a local checkpoint directory")


def resolve_checkpoint(model: str | None, random_init: bool = False, seed: int = 0) -> Checkpoint:
    """Turn `--model` into a validated checkpoint directory."""
    name = model or "demo"
    if name in SIZES:
        if random_init:
            path = _random_init_dir(name, seed)
        elif SIZES[name].hub_id is None:
            path = demo_checkpoint_dir()
        else:
            path = _hub_snapshot(SIZES[name].hub_id)
        return Checkpoint(name, path, _validate_dir(path, name))
    from models.students import student_dir  # students are sizes too, once distilled

    student = student_dir(name)
    if student is not None:
        return Checkpoint(name, student, _validate_dir(student, name))
    local = Path(name).expanduser()
    if local.exists() or name.startswith((".", "/", "~")):
        if random_init:
            raise UserError("--random-init applies to named sizes only, not to a local checkpoint")
        return Checkpoint(name, local, _validate_dir(local, name))
    if "/" in name:
        path = _hub_snapshot(name)
        return Checkpoint(name, path, _validate_dir(path, name))
    from models.registries import unknown_name_error
    from models.students import list_students

    raise unknown_name_error("model", name, [*SIZES, *list_students()],
                             "a size or a student (bench distill), else a local checkpoint directory or a hub id")
