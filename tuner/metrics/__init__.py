"""Local `evaluate` metric modules, so evaluation needs no network. `load(name)` is the only entry point."""

from __future__ import annotations

import functools
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=None)
def load(name: str):
    """Load the shipped module `tuner/metrics/<name>/<name>.py` through `evaluate.load` (never the hub)."""
    folder = HERE / name
    if not (folder / f"{name}.py").is_file():
        raise KeyError(f"No local metric module named {name!r}")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    return evaluate.load(str(folder))
