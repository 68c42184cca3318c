"""Model sizes, task heads and checkpoint loading."""

from models.checkpoint import Checkpoint, resolve_checkpoint
from models.heads import HEADS, HeadSpec, load_model
from models.registry import SIZES, ModelSize

__all__ = ["Checkpoint", "resolve_checkpoint", "HEADS", "HeadSpec", "load_model", "SIZES", "ModelSize"]
