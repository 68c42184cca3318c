"""Exported artifacts, cached on disk by a hash of checkpoint + backend + options + library versions.

An artifact directory is complete when its `artifact.json` exists: exports are written to a
staging directory and moved into place, so an interrupted export leaves nothing half-made.
Each export runs in its own process so its time and peak memory are measured alone."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

from export.isolate import peak_rss_mb, run_isolated
from models.files import build_atomically, cache_root
from export.base import MANIFEST, Artifact, Backend
from export.choice import BackendChoice
from export.versions import package_versions
from models.checkpoint import Checkpoint
from models.heads import layers_executed

ARTIFACT_FORMAT = 2  # 2: encoders cut at their output layer for every backend


def _versions(backend: Backend) -> dict:
    """The libraries an artifact's bytes depend on: a new version means a new export."""
    return package_versions(("torch", "transformers", "onnx", "onnxruntime", "onnxruntime-gpu", "bitsandbytes",
                             "openvino", "nncf", *backend.libraries))


def artifact_dir(choice: BackendChoice, checkpoint: Checkpoint, data_dir: Path | None = None) -> Path:
    """Where the artifact lives in the cache. `data_dir`: where a calibrated backend's text is read (the command's
    --data-dir; None: export.calibration.default_data_dir)."""
    identity = {"format": ARTIFACT_FORMAT, "backend": choice.name, "checkpoint": checkpoint.fingerprint(),
                "options": choice.options, "versions": _versions(choice.backend)}
    if choice.backend.calibrated:
        from export.calibration import calibration_texts

        # the text drawn, not only its spec: the same spec over another data directory is another artifact
        identity["calibration_texts"] = calibration_texts(choice.options["calibration"], data_dir)[1]["texts_sha256"]
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", checkpoint.name).strip("_")[-40:]
    return cache_root() / "artifacts" / choice.name / f"{slug}-{key}"


def _complete(target: Path) -> bool:
    """An artifact is complete once its manifest is in place (written last, then moved in whole)."""
    return (target / MANIFEST).is_file()


def _dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _export(choice: BackendChoice, checkpoint: Checkpoint, target: Path, data_dir: Path | None = None) -> dict:
    backend, options = choice.backend, choice.options
    start_rss = peak_rss_mb()
    manifest: dict = {}

    def build(staging: Path) -> None:
        t0 = time.perf_counter()
        # a calibrated backend reads its text from the data directory it is given, never from the environment
        extra = (backend.export(checkpoint, options, staging, data_dir=data_dir) if backend.calibrated
                 else backend.export(checkpoint, options, staging)) or {}
        manifest.update({
            "backend": choice.name, "options": options,
            "checkpoint_name": checkpoint.name, "checkpoint_path": str(checkpoint.path.resolve()),
            "checkpoint_fingerprint": checkpoint.fingerprint(),
            "layers_executed": layers_executed(checkpoint.config, checkpoint.head, options.get("layer")),
            "size_mb": _dir_size_mb(staging), "export_time_s": time.perf_counter() - t0,
            # a process high-water mark: only meaningful when the export had its process to itself
            "export_peak_memory_mb": peak_rss_mb() if backend.exports_files else None,
            "export_start_memory_mb": start_rss,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": _versions(backend),
            **extra,
        })
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))

    build_atomically(target, build, complete=_complete)  # keyed by what it holds: another process's copy is as good
    return manifest


def ensure_artifact(backend: BackendChoice | str, checkpoint: Checkpoint, options: dict | None = None,
                    device: str = "cpu", isolate: bool = True, data_dir: Path | None = None) -> Artifact:
    """The cached artifact for this checkpoint and backend choice, exporting it first if needed. A plan passes its
    `BackendChoice` (nothing is looked up or resolved again); a backend name with `options` and `device` is
    resolved here, once. `data_dir`: where a calibrated backend reads its calibration text (passed on to the
    export's process as an argument)."""
    choice = backend if isinstance(backend, BackendChoice) else \
        BackendChoice.resolve(backend, options, device, runnable=False)
    target = artifact_dir(choice, checkpoint, data_dir)
    if _complete(target):
        return Artifact.read(target)
    if isolate and choice.backend.exports_files:
        run_isolated(_export, choice, checkpoint, target, data_dir)
    else:
        _export(choice, checkpoint, target, data_dir)
    return Artifact.read(target)
