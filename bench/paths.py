"""Where stilts-bench keeps what it builds: converted models, exported artifacts, references."""

import os
import shutil
import tempfile
from pathlib import Path


def cache_root() -> Path:
    """`$STILTS_BENCH_CACHE`, else `~/.cache/stilts-bench`. Outside the repo: artifacts are large."""
    root = os.environ.get("STILTS_BENCH_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "stilts-bench"


def build_atomically(target: Path, build) -> Path:
    """Run build(staging_dir) beside `target`, then move the finished directory into place: a crash or a
    kill never leaves half a model or half an artifact where a complete one is expected."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
