"""What a sweep cell's numbers depend on, recorded with the cell (`dependencies`) and checked when a sweep resumes:
a finished cell is reused only while everything it was measured with is unchanged.

- settings: the cell's measurement settings as the plan gives them (backend variant, languages, split, cap,
  batching, threads, timing, min_agreement, data directory, ...);
- checkpoint: the weights and metadata by content (sha256 of every file of the checkpoint directory);
- data_files: every file the task read, by content (a LASER/BUCC file and its siblings of the same stem);
- calibration: the drawn calibration text's hash (static int8 variants);
- environment: package versions, the project's source revision, the CPU model and flags, the host.

Hashes of big files are computed once per process and file state (path, size, mtime)."""

from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path
from typing import Any, cast

# The cell spec's keys that change a cell's numbers (bench.executors.plan.sweep_cell_plan); model paths and output
# places do not.
SETTINGS = ("backend", "device", "langs", "split", "max_examples", "batch_sizes", "seq_lens", "data_dir",
            "random_init", "threads", "timing", "eval_batch_size", "batching", "max_tokens", "min_agreement")
# What another node of a Ray cluster may legitimately differ in (host, CPU); packages and source may not.
NODE_SPECIFIC = ("host", "cpu")


def settings_of(spec: dict[str, Any]) -> dict[str, Any]:
    import json

    return cast(dict[str, Any], json.loads(json.dumps({k: spec.get(k) for k in SETTINGS})))  # as a record stores it


@functools.lru_cache(maxsize=4096)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str | None:
    """sha256 of a file's content; None when it does not exist."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return _file_sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def checkpoint_sha256(path: Path) -> str | None:
    """Content hash of a checkpoint directory: every file's relative name and sha256 (weights, config,
    stilts.json, tokenizer). None when the directory is gone."""
    root = Path(path)
    if not root.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(root)}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


def data_files(sources: dict[str, Any]) -> dict[str, str | None]:
    """{path: sha256} of the files behind an accuracy record's data_sources (language -> file), with the files of
    the same stem beside each (tatoeba.deu-eng.deu brings tatoeba.deu-eng.eng; zh-en.dev.zh the .en and .gold)."""
    files: dict[str, str | None] = {}
    for where in (sources or {}).values():
        path = Path(str(where))
        if not path.is_file():
            continue  # a hub configuration: its revision is in the datasets cache, not a file here
        stem = path.name.rsplit(".", 1)[0] + "."
        for f in sorted([path, *(p for p in path.parent.glob(f"{stem}*") if p.is_file() and p != path)]):
            files[str(f.resolve())] = file_sha256(f)
    return files


def project_revision() -> str | None:
    """The project's commit, plus a hash of uncommitted changes to its code: its Python files and pyproject.toml.
    Untracked files and run outputs do not count: a sweep writing its results into the checkout (a committed
    showcase under reports/showcase/, whose results.jsonl is tracked) must not change its own dependencies, or
    every cell records another source and a resume re-measures them all."""
    from bench.records.env import git

    head = git("rev-parse", "HEAD")
    # git pathspecs: `*` matches across `/`, so `bench/*.py` is every Python file under bench/
    code = [f"{package}/*.py" for package in ("bench", "export", "models", "reports")]
    diff = git("diff", "HEAD", "--", *code, "pyproject.toml", timeout=30)
    if head is None or diff is None:
        from export.versions import package_versions

        return f"stilts-bench {package_versions(('stilts-bench',)).get('stilts-bench')}"
    return head.stdout.decode().strip() + (f"+{hashlib.sha256(diff.stdout).hexdigest()[:12]}" if diff.stdout else "")


@functools.cache
def environment() -> dict[str, Any]:
    from bench.records.env import collect_env

    env = collect_env()
    return {"packages": env["packages"], "revision": project_revision(), "host": platform.node(),
            "cpu": {"model": env["cpu"]["model"], "flags": env["cpu"]["flags"]}}


def cell_dependencies(spec: dict[str, Any], checkpoint_path: Path, accuracy: dict[str, Any] | None,
                      calibration: dict[str, Any] | None) -> dict[str, Any]:
    """What the cell measured with, for its record (computed in the cell's process, on the node that ran it)."""
    return {"settings": settings_of(spec), "checkpoint": {"path": str(Path(checkpoint_path).resolve()),
                                                          "sha256": checkpoint_sha256(checkpoint_path)},
            "data_files": data_files((accuracy or {}).get("data_sources", {})),
            "calibration": ({k: calibration.get(k) for k in ("spec", "data_dir", "texts_sha256")}
                            if calibration else None),
            "environment": environment()}


def changes(recorded: dict[str, Any], spec: dict[str, Any], node_specific_ok: bool = False) -> list[str]:
    """What differs now from what a finished cell recorded, one phrase each ([] when nothing does). Re-reads the
    checkpoint and data files the record names. `node_specific_ok`: cells may run on other hosts (Ray)."""
    found = []
    now_settings = settings_of(spec)
    for key, was in recorded.get("settings", {}).items():
        if now_settings.get(key) != was:
            found.append(f"setting {key} ({was!r} -> {now_settings.get(key)!r})")
    checkpoint = recorded.get("checkpoint") or {}
    if checkpoint.get("path"):
        now = checkpoint_sha256(Path(checkpoint["path"]))
        if now != checkpoint.get("sha256"):
            found.append(f"checkpoint {checkpoint['path']} ({'removed' if now is None else 'weights or metadata changed'})")
    for path, was in (recorded.get("data_files") or {}).items():
        now = file_sha256(Path(path))
        if now != was:
            found.append(f"data file {path} ({'removed' if now is None else 'content changed'})")
    calibration = recorded.get("calibration")
    if calibration and calibration.get("spec") and calibration.get("data_dir"):
        from export.calibration import calibration_texts
        from models.errors import UserError

        try:
            now = calibration_texts(calibration["spec"], Path(calibration["data_dir"]))[1]["texts_sha256"]
        except UserError:
            now = None
        if now != calibration.get("texts_sha256"):
            found.append(f"calibration text {calibration['spec']} under {calibration['data_dir']} "
                         f"({'unreadable' if now is None else 'changed'})")
    env_now, env_was = environment(), recorded.get("environment") or {}
    for key, was in env_was.items():
        if node_specific_ok and key in NODE_SPECIFIC:
            continue
        if key == "packages":
            moved = sorted(p for p in set(was) | set(env_now["packages"]) if was.get(p) != env_now["packages"].get(p))
            found += [f"package {p} ({was.get(p)} -> {env_now['packages'].get(p)})" for p in moved]
        elif env_now.get(key) != was:
            found.append(f"{'project source' if key == 'revision' else key} ({was!r} -> {env_now.get(key)!r})")
    return found
