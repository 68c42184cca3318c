"""The backend interface.

A backend turns a checkpoint into an artifact on disk (`export`) and an artifact into a runner
(`load`). A runner splits a call into `prepare` (host -> device, outside the timed path),
`forward` (the timed part) and `to_numpy` (device -> host), so the harness times only inference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from export.options import BackendOptions
from models.checkpoint import Checkpoint, _validate_dir

MANIFEST = "artifact.json"


@dataclass(frozen=True)
class ParityBound:
    """The worst parity against eager fp32 that a backend may show before a guard fails: the largest absolute
    difference of outputs, the least agreement of predictions, and (on the random-init tiny model, where labels
    mean little) the least cosine of mean-pooled embeddings.

    Bounds are recorded measurements with a margin: max_abs_diff about 1.5x the measured value (fp32 paths: a
    fixed 1e-4 on the demo model, 1e-3 on the tiny one), agreement one sentence of 16 below the measured one.
    int8 numerics depend on the instruction set (fbgemm's and MLAS's kernels differ with and without VNNI), so the
    demo model's bounds are per CPU class (bench.records.env.isa_class); a class a backend has no bound for asserts
    nothing there until one is measured."""

    max_abs_diff: float
    min_label_agreement: float = 1.0
    min_cosine: float | None = None


FP32_TINY = ParityBound(1e-3, 1.0, 1 - 1e-6)  # fp32 paths differ from eager only by kernel order
FP32_DEMO = ParityBound(1e-4, 1.0)


@dataclass
class Artifact:
    """An exported variant on disk. `manifest` records how it was made and what it cost."""

    path: Path
    manifest: dict = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return self.manifest["backend"]

    @property
    def options(self) -> dict:
        return self.manifest["options"]

    @property
    def checkpoint(self) -> Checkpoint:
        path = Path(self.manifest["checkpoint_path"])
        return Checkpoint(self.manifest["checkpoint_name"], path, _validate_dir(path, str(path)))

    def file(self, name: str) -> Path:
        return self.path / name

    @classmethod
    def read(cls, path: Path) -> "Artifact":
        return cls(path, json.loads((path / MANIFEST).read_text()))


class Runner:
    """Runs one prepared batch. Subclasses set `output_names` and implement the three steps."""

    device: str = "cpu"
    output_names: tuple[str, ...] = ()
    # "wall": host clock, read after `synchronize` (every backend here: one clock for all of them);
    # "cuda_events": CUDA events on torch's current stream (kept in the harness for runners that need it).
    timer: str = "wall"

    def prepare(self, batch: dict[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def forward(self, prepared: Any) -> Any:
        raise NotImplementedError

    def to_numpy(self, outputs: Any) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def synchronize(self) -> None:
        """Block until queued device work is done (no-op on CPU)."""

    def context(self):
        """Entered once around a timing loop, so per-call setup (torch's inference mode) is not timed."""
        import contextlib

        return contextlib.nullcontext()

    def threads(self) -> dict:
        """Thread settings actually in force, for the record."""
        return {}

    def compilations(self) -> int:
        """Graphs this runner has compiled so far (compiling runners build one per new input shape); the task
        feed times a call that compiled again once compiled, and reports the compiles apart."""
        return 0

    def details(self) -> dict:
        """Numerics and placement actually in force (TF32, providers, CPU fallback), for the record."""
        return {}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = self.forward(self.prepare(batch))
        self.synchronize()
        return self.to_numpy(out)


class Backend:
    """One inference path. Subclasses: a module under export/ plus one line in registry.py."""

    name: ClassVar[str]
    description: ClassVar[str]
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    # The typed options (export/options.py): validation and `bench list --options` come from this one class.
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    # Parity guards. `tiny_parity`: a random-init 2-layer XLM-R built from a config (tests/test_backends.py);
    # `demo_parity`: the demo model's 16 fixed multilingual parity sentences, per CPU class
    # (tests/benchmarks/test_guards.py). Subclasses inherit their parent's: a quantising subclass states its own.
    tiny_parity: ClassVar[ParityBound] = FP32_TINY
    demo_parity: ClassVar[dict[str, ParityBound]] = {"vnni": FP32_DEMO, "avx2": FP32_DEMO}
    # The least agreement of predictions with eager fp32 on the parity sentences (bench.variants.parity) for a variant
    # to count: below it a variant is marked failed (`--min-agreement` overrides). fp32 paths allow one flip
    # of 16 (near-ties); reduced precision and quantisation are judged by the accuracy gate, this bound only
    # catches broken variants (a wrong layer or mask agrees about 1 time in 16).
    min_agreement: ClassVar[float] = 0.9375
    # Libraries beyond the common ones (export/artifacts._versions) whose version changes this backend's bytes:
    # they join its artifacts' cache key and manifest.
    libraries: ClassVar[tuple[str, ...]] = ()
    # Backends whose artifact is the checkpoint itself plus a manifest (nothing is converted).
    exports_files: ClassVar[bool] = True

    # CPU instruction sets that make this path fast (keys of the detected ISA: avx512_vnni, avx_vnni, amx,
    # avx512_bf16); empty: it runs the fp32 AVX2/AVX-512 kernels every x86-64 CPU here has.
    isa_features: ClassVar[tuple[str, ...]] = ()
    # Static quantisation: the artifact holds activation ranges calibrated on text (option `calibration`), which
    # the bench checks is not the text of the task being scored.
    calibrated: ClassVar[bool] = False

    def check_options(self, options: BackendOptions) -> None:
        """Checks across or inside option values beyond type, choices and range (one-line UserError), before any
        export."""

    def cpu_acceleration(self, isa: dict) -> dict:
        """Whether this CPU has the instructions this path is built for, from the detected ISA (bench.records.env)."""
        if not self.isa_features:
            return {"needs": [], "accelerated": None, "note": "fp32 kernels: no special instructions needed"}
        have = [f for f in self.isa_features if isa.get(f)]
        names = "/".join(self.isa_features)
        note = (f"accelerated by {', '.join(have)}" if have else
                f"not accelerated: this CPU lacks {names} (the kernels run, slower)")
        return {"needs": list(self.isa_features), "accelerated": bool(have), "note": note}

    def engine_note(self, device: str) -> str | None:
        """What the engine itself reports it can do on `device` here (e.g. its compute types), for `bench list`."""
        return None

    def availability(self, device: str) -> str | None:
        """None when this backend can run on `device` here, else the reason it cannot."""
        if device not in self.devices:
            return f"{self.name} runs on {' or '.join(self.devices)} only, not {device}"
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                return "no CUDA GPU is visible to torch"
        return None

    def export(self, checkpoint: Checkpoint, options: dict, out: Path) -> dict:
        """Write the artifact's files into `out`; return extra manifest fields. A `calibrated` backend's export
        takes `data_dir=` too: where its calibration text is read (export/artifacts passes the command's)."""
        raise NotImplementedError

    def load(self, artifact: Artifact, device: str, threads: int) -> Runner:
        raise NotImplementedError
