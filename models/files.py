"""Where stilts-bench keeps what it builds (converted models, exported artifacts, references), and how it
writes files: whole or not at all. The lowest floor, so that every other package can use it."""

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def cache_root() -> Path:
    """`$STILTS_BENCH_CACHE`, else `~/.cache/stilts-bench`. Outside the repo: artifacts are large."""
    root = os.environ.get("STILTS_BENCH_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "stilts-bench"


def build_atomically(target: Path, build, complete: Callable[[Path], bool] | None = None) -> Path:
    """Run build(staging_dir) beside `target`, then move the finished directory into place: a crash or a
    kill never leaves half a model or half an artifact where a complete one is expected.
    `complete(target)`: for a cache entry keyed by what it holds. When another process finished the same
    entry first, its copy is kept and ours discarded: removing it could pull files from under a reader (two test
    processes, or two sweeps, sharing one cache). Without it, an existing target is replaced."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        if complete is not None and complete(target):
            return target
        if target.exists():
            shutil.rmtree(target)
        try:
            os.replace(staging, target)
        except OSError:  # a non-empty target appeared since: another process's build finished in between
            if complete is None or not complete(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over the target: a reader
    sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, default=str))
