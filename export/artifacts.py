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

from models.errors import UserError
from export.isolate import peak_rss_mb, run_isolated
from models.files import build_atomically, cache_root
from export.base import MANIFEST, Artifact
from export.registry import get_backend
from export.versions import package_versions
from models.checkpoint import Checkpoint
from models.heads import layers_executed

ARTIFACT_FORMAT = 2  # 2: encoders cut at their output layer for every backend
COMMON_OPTIONS = {"layer": None}  # every backend: which encoder layer the artifact outputs


def _versions() -> dict:
    """The libraries an artifact's bytes depend on: a new version means a new export."""
    return package_versions(("torch", "transformers", "onnx", "onnxruntime", "onnxruntime-gpu", "bitsandbytes",
                             "openvino", "nncf"))


def _check_option(backend, key: str, value, default) -> None:
    """One line naming the option, what it takes and what it got: before any export, never a traceback."""
    allowed = backend.option_values.get(key)
    where = f"backend {backend.name} option {key}"
    if key == "layer":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise UserError(f"{where} takes a layer number >= 0, not {value!r}")
        return
    kind = type(default)
    if default is not None and not (isinstance(value, kind) and (kind is bool or not isinstance(value, bool))):
        name = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(kind, kind.__name__)
        raise UserError(f"{where} takes {name}, not {value!r}")
    if isinstance(allowed, tuple) and len(allowed) == 2 and all(isinstance(a, (int, float)) for a in allowed):
        if not allowed[0] <= value <= allowed[1]:
            raise UserError(f"{where} must be between {allowed[0]} and {allowed[1]}, not {value!r}")
    elif allowed and value not in allowed:
        raise UserError(f"{where} must be one of {', '.join(map(str, allowed))}, not {value!r}")


def resolve_options(backend, options: dict | None, device: str) -> dict:
    defaults = {**COMMON_OPTIONS, **backend.default_options}
    options = dict(options or {})
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise UserError(f"backend {backend.name} has no option {', '.join(unknown)} (its options: {known})")
    for key, value in options.items():
        _check_option(backend, key, value, defaults[key])
    merged = {**defaults, **options}
    backend.check_options(merged)
    if getattr(backend, "device_specific_artifact", False):
        merged["device"] = device
    return merged


def artifact_dir(backend_name: str, checkpoint: Checkpoint, options: dict) -> Path:
    identity = {"format": ARTIFACT_FORMAT, "backend": backend_name, "checkpoint": checkpoint.fingerprint(),
                "options": options, "versions": _versions()}
    if get_backend(backend_name).calibrated:
        from export.calibration import calibration_texts

        # the text drawn, not only its spec: the same spec over another data directory is another artifact
        identity["calibration_texts"] = calibration_texts(options["calibration"])[1]["texts_sha256"]
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", checkpoint.name).strip("_")[-40:]
    return cache_root() / "artifacts" / backend_name / f"{slug}-{key}"


def _dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _export(backend_name: str, checkpoint: Checkpoint, options: dict, target: Path) -> dict:
    backend = get_backend(backend_name)
    start_rss = peak_rss_mb()
    manifest: dict = {}

    def build(staging: Path) -> None:
        t0 = time.perf_counter()
        extra = backend.export(checkpoint, options, staging) or {}
        manifest.update({
            "backend": backend_name, "options": options,
            "checkpoint_name": checkpoint.name, "checkpoint_path": str(checkpoint.path.resolve()),
            "checkpoint_fingerprint": checkpoint.fingerprint(),
            "layers_executed": layers_executed(checkpoint.config, checkpoint.head, options.get("layer")),
            "size_mb": _dir_size_mb(staging), "export_time_s": time.perf_counter() - t0,
            # a process high-water mark: only meaningful when the export had its process to itself
            "export_peak_memory_mb": peak_rss_mb() if backend.exports_files else None,
            "export_start_memory_mb": start_rss,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": _versions(),
            **extra,
        })
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))

    build_atomically(target, build)
    return manifest


def ensure_artifact(backend_name: str, checkpoint: Checkpoint, options: dict | None = None,
                    device: str = "cpu", isolate: bool = True) -> Artifact:
    """The cached artifact for this checkpoint/backend/options, exporting it first if needed."""
    backend = get_backend(backend_name)
    resolved = resolve_options(backend, options, device)
    target = artifact_dir(backend_name, checkpoint, resolved)
    if (target / MANIFEST).is_file():
        return Artifact.read(target)
    if isolate and backend.exports_files:
        run_isolated(_export, backend_name, checkpoint, resolved, target)
    else:
        _export(backend_name, checkpoint, resolved, target)
    return Artifact.read(target)
