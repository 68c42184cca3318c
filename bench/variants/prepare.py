"""One path from a request to a ready variant, shared by `bench run`, `bench eval` and the sweep cell:
the backend can run on this device -> the checkpoint resolves -> the task picks the output layer -> eager
fp32 reference outputs are cached -> the artifact is exported (or found in the cache)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.records.env import default_threads
from export.artifacts import ensure_artifact
from export.base import Artifact
from export.choice import BackendChoice
from export.isolate import run_isolated
from export.options import parse_assignment
from models.checkpoint import Checkpoint, resolve_checkpoint
from models.errors import UserError


@dataclass
class Variant:
    checkpoint: Checkpoint
    choice: BackendChoice  # the artifact's backend and resolved options (layer included)
    artifact: Artifact
    threads: int

    @property
    def backend(self) -> str:
        return self.choice.name

    @property
    def device(self) -> str:
        return self.choice.device

    @property
    def layer(self) -> int | None:
        """The encoder layer the artifact outputs; None: the head's own output."""
        return self.choice.layer


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


def choose_backend(backend: str, device: str = "cpu", options: dict | None = None, layer: int | None = None, *,
                   runnable: bool = True) -> BackendChoice:
    """A command's backend request (a name and its `--option`s, or a sweep's variant label) as the plan's
    `BackendChoice`: looked up once and its options resolved once, before any work is done (one line naming
    why it cannot run on `device` here, or what is wrong with its options: names, types, ranges)."""
    if "layer" in (options or {}):
        raise UserError("give the encoder layer with --layer N, not --option layer=N")
    if "[" in backend:
        backend, label_options = split_variant(backend)
        options = {**label_options, **(options or {})}
    return BackendChoice.resolve(backend, {**(options or {}), "layer": layer}, device, runnable=runnable)


def check_calibration(choice: BackendChoice, task, split: str = "test", langs: list[str] | None = None) -> None:
    """Static quantisation must not calibrate on the text that scoring the task's `split` in `langs` reads (one
    line, before any export)."""
    from export.calibration import check_not_scored

    if choice.backend.calibrated and task is not None:
        check_not_scored(choice.options["calibration"], task.name, split, langs)


def ensure_reference(checkpoint: Checkpoint, layer: int | None) -> None:
    from bench.variants.parity import compute_reference, load_reference

    if load_reference(checkpoint, layer) is None:
        run_isolated(compute_reference, checkpoint, layer)


def prepare_variant(model: str | None, choice: BackendChoice, *, task=None, random_init: bool = False,
                    threads: int | None = None, before_export: Callable[[Checkpoint], None] | None = None,
                    data_dir: Path | None = None, split: str = "test", langs: list[str] | None = None) -> Variant:
    """`choice`: the plan's backend (choose_backend), with its layer when the command gave one, else the task's.
    `before_export(checkpoint)` runs once the checkpoint is known and before anything is computed: the place
    for a command's own checks (the task's head, reading every data file)."""
    check_calibration(choice, task, split, langs)
    checkpoint = resolve_checkpoint(model, random_init)
    if before_export:
        before_export(checkpoint)
    if choice.layer is None and task is not None:
        choice = choice.with_layer(task.output_layer(checkpoint))
    depth = checkpoint.config.get("num_hidden_layers")
    if choice.layer is not None and depth is not None and choice.layer > depth:
        raise UserError(f"layer {choice.layer} does not exist: {checkpoint.name} has layers 0 (embeddings) to {depth}")
    ensure_reference(checkpoint, choice.layer)
    # calibration text is read where the task's data is: the directory goes to the export as an argument
    artifact = ensure_artifact(choice, checkpoint, data_dir=data_dir and Path(data_dir).resolve())
    return Variant(checkpoint, choice, artifact, threads or default_threads())
