"""Where stilts-bench keeps what it builds: converted models, exported artifacts, references."""

import os
from pathlib import Path


def cache_root() -> Path:
    """`$STILTS_BENCH_CACHE`, else `~/.cache/stilts-bench`. Outside the repo: artifacts are large."""
    root = os.environ.get("STILTS_BENCH_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "stilts-bench"
