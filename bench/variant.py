"""One path from a request to a ready variant, shared by `bench run`, `bench eval` and the sweep cell:
the backend can run on this device -> the checkpoint resolves -> the task picks the output layer -> eager
fp32 reference outputs are cached -> the artifact is exported (or found in the cache)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.env import default_threads
from export.artifacts import ensure_artifact, resolve_options
from export.base import Artifact
from export.isolate import run_isolated
from export.options import parse_assignment
from export.registry import get_backend
from models.checkpoint import Checkpoint, resolve_checkpoint
from models.errors import UserError


@dataclass
class Variant:
    checkpoint: Checkpoint
    backend: str
    device: str
    artifact: Artifact
    layer: int | None  # encoder layer the artifact outputs; None: the head's own output
    threads: int


def split_variant(label: str) -> tuple[str, dict]:
    """A sweep's backend entry: `onnx-static-int8` or `onnx-static-int8[calibration=xnli:en:128;per_channel=false]`
    -> (backend, options). The whole label names the variant in records and reports, so two calibrations of one
    backend are two variants side by side."""
    if "[" not in label:
        return label, {}
    name, _, rest = label.partition("[")
    if not rest.endswith("]") or not name:
        raise UserError(f"variant '{label}' is malformed: write BACKEND[KEY=VALUE;KEY=VALUE]")
    options: dict = {}
    for item in filter(None, (part.strip() for part in rest[:-1].split(";"))):
        key, value = parse_assignment(item, f"variant '{label}'")
        options[key] = value
    return name.strip(), options


def check_calibration(backend: str, resolved: dict, task, split: str = "test", langs: list[str] | None = None) -> None:
    """Static quantisation must not calibrate on the text that scoring the task's `split` in `langs` reads (one
    line, before any export). `resolved`: the backend's options with defaults filled in (resolve_options)."""
    from export.calibration import check_not_scored

    if get_backend(backend).calibrated and task is not None:
        check_not_scored(resolved["calibration"], task.name, split, langs)


def check_available(backend: str, device: str, options: dict | None = None) -> dict:
    """One line naming why `backend` cannot run on `device` here, or what is wrong with its options (names,
    types, ranges), before any work is done. Returns the options with defaults filled in."""
    reason = get_backend(backend).availability(device)
    if reason:
        raise UserError(f"backend {backend} cannot run on {device}: {reason}")
    return resolve_options(get_backend(backend), options, device)


def ensure_reference(checkpoint: Checkpoint, layer: int | None) -> None:
    from bench.parity import compute_reference, load_reference

    if load_reference(checkpoint, layer) is None:
        run_isolated(compute_reference, checkpoint, layer)


def prepare_variant(model: str | None, backend: str, device: str = "cpu", *, task=None, layer: int | None = None,
                    options: dict | None = None, random_init: bool = False, threads: int | None = None,
                    before_export: Callable[[Checkpoint], None] | None = None, data_dir: Path | None = None,
                    split: str = "test", langs: list[str] | None = None) -> Variant:
    """`before_export(checkpoint)` runs once the checkpoint is known and before anything is computed: the
    place for a command's own checks (the task's head, reading every data file)."""
    if "layer" in (options or {}):
        raise UserError("give the encoder layer with --layer N, not --option layer=N")
    check_calibration(backend, check_available(backend, device, {**(options or {}), "layer": layer}), task, split,
                      langs)
    checkpoint = resolve_checkpoint(model, random_init)
    if before_export:
        before_export(checkpoint)
    if layer is None and task is not None:
        layer = task.output_layer(checkpoint)
    depth = checkpoint.config.get("num_hidden_layers")
    if layer is not None and depth is not None and layer > depth:
        raise UserError(f"layer {layer} does not exist: {checkpoint.name} has layers 0 (embeddings) to {depth}")
    ensure_reference(checkpoint, layer)
    # calibration text is read where the task's data is: the directory goes to the export as an argument
    artifact = ensure_artifact(backend, checkpoint, {**(options or {}), "layer": layer}, device,
                               data_dir=data_dir and Path(data_dir).resolve())
    return Variant(checkpoint, backend, device, artifact, layer, threads or default_threads())
