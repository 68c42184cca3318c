"""A backend as a plan carries it: the name looked up in the registry once and its options resolved once (typed,
validated, defaults filled in: the dict that keys the artifact and goes into manifests and records). Everything
after the command line takes a `BackendChoice` and asks it, never the registry again; a new process (a sweep
cell, an isolated export) rebuilds it from `to_dict()` with the one look-up of that process."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from export.base import Backend
from export.options import validate
from export.registry import get_backend
from models.errors import UserError


def resolve_options(backend: Backend, options: dict[str, Any] | None, device: str) -> dict[str, Any]:
    """The backend's typed options for `options` (export/options.py validates: one line on any error), with its
    defaults filled in, as the dict that keys the artifact and goes into manifests and records."""
    typed = validate(backend.Options, backend.name, dict(options or {}))
    backend.check_options(typed)
    merged = dataclasses.asdict(typed)
    if getattr(backend, "device_specific_artifact", False):
        merged["device"] = device
    return merged


def _refuse_if_unavailable(backend: Backend, name: str, device: str) -> None:
    reason = backend.availability(device)
    if reason:
        raise UserError(f"backend {name} cannot run on {device}: {reason}")


@dataclass(frozen=True)
class BackendChoice:
    name: str
    device: str
    options: dict[str, Any]  # resolved: every field of the backend's Options
    backend: Backend = field(compare=False, repr=False)

    @classmethod
    def resolve(cls, name: str, options: dict[str, Any] | None = None, device: str = "cpu", *,
                runnable: bool = True) -> "BackendChoice":
        """The one look-up and the one resolution. `runnable`: refuse, in one line, a backend that cannot run on
        `device` here (a sweep driver plans cells for other nodes and leaves that to each cell)."""
        backend = get_backend(name)  # a mistyped name: one line with the nearest names
        if runnable:  # before its options: a path that cannot run here is the first thing to say
            _refuse_if_unavailable(backend, name, device)
        return cls(name, device, resolve_options(backend, options, device), backend)

    def refuse_if_unavailable(self) -> None:
        """One line naming why this backend cannot run on its device here (a library, the CPU, no GPU)."""
        _refuse_if_unavailable(self.backend, self.name, self.device)

    @property
    def layer(self) -> int | None:
        layer = self.options.get("layer")
        return None if layer is None else int(layer)

    def with_layer(self, layer: int | None) -> "BackendChoice":
        """The same choice cut at `layer` (the task's output layer, known once the checkpoint is): `layer` is
        validated where it is chosen (against the checkpoint's depth), nothing else is resolved again."""
        return dataclasses.replace(self, options={**self.options, "layer": layer})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BackendChoice":
        """In another process: the registry looked up once there; the options stay as they were resolved."""
        return cls(str(data["name"]), str(data["device"]), dict(data["options"]), get_backend(str(data["name"])))

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (an isolated export, a Ray task) as its dict: the backend instance is rebuilt, not copied
        return (BackendChoice.from_dict, (self.to_dict(),))
