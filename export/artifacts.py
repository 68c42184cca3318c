"""Exported artifacts, cached on disk by a hash of checkpoint + backend + options + library versions.

An artifact directory is complete when its `artifact.json` exists: exports are written to a
staging directory and moved into place, so an interrupted export leaves nothing half-made.
Each export runs in its own process so its time and peak memory are measured alone."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from pathlib import Path

from export.isolate import peak_rss_mb, run_isolated
from models.files import build_atomically, cache_root
from export.base import MANIFEST, Artifact
from export.options import validate
from export.registry import get_backend
from export.versions import package_versions
from models.checkpoint import Checkpoint
from models.heads import layers_executed

ARTIFACT_FORMAT = 2  # 2: encoders cut at their output layer for every backend


def _versions(backend_name: str) -> dict:
    """The libraries an artifact's bytes depend on: a new version means a new export."""
    return package_versions(("torch", "transformers", "onnx", "onnxruntime", "onnxruntime-gpu", "bitsandbytes",
                             "openvino", "nncf", *get_backend(backend_name).libraries))


def resolve_options(backend, options: dict | None, device: str) -> dict:
    """The backend's typed options for `options` (export/options.py validates: one line on any error), with its
    defaults filled in, as the dict that keys the artifact and goes into manifests and records."""
    typed = validate(backend.Options, backend.name, dict(options or {}))
    backend.check_options(typed)
    merged = dataclasses.asdict(typed)
    if getattr(backend, "device_specific_artifact", False):
        merged["device"] = device
    return merged


def artifact_dir(backend_name: str, checkpoint: Checkpoint, options: dict, data_dir: Path | None = None) -> Path:
    """Where the artifact lives in the cache. `data_dir`: where a calibrated backend's text is read (the command's
    --data-dir; None: export.calibration.default_data_dir)."""
    identity = {"format": ARTIFACT_FORMAT, "backend": backend_name, "checkpoint": checkpoint.fingerprint(),
                "options": options, "versions": _versions(backend_name)}
    if get_backend(backend_name).calibrated:
        from export.calibration import calibration_texts

        # the text drawn, not only its spec: the same spec over another data directory is another artifact
        identity["calibration_texts"] = calibration_texts(options["calibration"], data_dir)[1]["texts_sha256"]
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", checkpoint.name).strip("_")[-40:]
    return cache_root() / "artifacts" / backend_name / f"{slug}-{key}"


def _dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _export(backend_name: str, checkpoint: Checkpoint, options: dict, target: Path,
            data_dir: Path | None = None) -> dict:
    backend = get_backend(backend_name)
    start_rss = peak_rss_mb()
    manifest: dict = {}

    def build(staging: Path) -> None:
        t0 = time.perf_counter()
        # a calibrated backend reads its text from the data directory it is given, never from the environment
        extra = (backend.export(checkpoint, options, staging, data_dir=data_dir) if backend.calibrated
                 else backend.export(checkpoint, options, staging)) or {}
        manifest.update({
            "backend": backend_name, "options": options,
            "checkpoint_name": checkpoint.name, "checkpoint_path": str(checkpoint.path.resolve()),
            "checkpoint_fingerprint": checkpoint.fingerprint(),
            "layers_executed": layers_executed(checkpoint.config, checkpoint.head, options.get("layer")),
            "size_mb": _dir_size_mb(staging), "export_time_s": time.perf_counter() - t0,
            # a process high-water mark: only meaningful when the export had its process to itself
            "export_peak_memory_mb": peak_rss_mb() if backend.exports_files else None,
            "export_start_memory_mb": start_rss,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": _versions(backend_name),
            **extra,
        })
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))

    build_atomically(target, build)
    return manifest


def ensure_artifact(backend_name: str, checkpoint: Checkpoint, options: dict | None = None,
                    device: str = "cpu", isolate: bool = True, data_dir: Path | None = None) -> Artifact:
    """The cached artifact for this checkpoint/backend/options, exporting it first if needed. `data_dir`: where
    a calibrated backend reads its calibration text (passed on to the export's process as an argument)."""
    backend = get_backend(backend_name)
    resolved = resolve_options(backend, options, device)
    target = artifact_dir(backend_name, checkpoint, resolved, data_dir)
    if (target / MANIFEST).is_file():
        return Artifact.read(target)
    if isolate and backend.exports_files:
        run_isolated(_export, backend_name, checkpoint, resolved, target, data_dir)
    else:
        _export(backend_name, checkpoint, resolved, target, data_dir)
    return Artifact.read(target)
