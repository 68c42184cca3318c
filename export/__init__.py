"""Inference paths: each backend is one module behind the `Backend` interface (see base.py)."""

from export.base import Artifact, Backend, Runner
from export.registry import BACKENDS, get_backend

__all__ = ["Artifact", "Backend", "Runner", "BACKENDS", "get_backend"]
